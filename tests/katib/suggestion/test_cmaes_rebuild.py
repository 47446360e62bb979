"""A rebuilt CMA-ES study answers from the history it was rebuilt from.

The service rebuilds an experiment's study whenever its cache cannot continue: a restarted pod,
an evicted entry (two studies are cached), a history that does not extend the cached one. The
reported bug: the first suggestions of a rebuilt CMA-ES study ignored the completed trials (the
rebuilt study was empty, so optuna's CmaEsSampler was still in its startup phase and the
independent random sampler answered, identically for any history); with ``sigma`` set the
history was dropped for good, and a history of fewer than 10 trials later failed as INTERNAL
(WS-CMA-ES's top 10% was empty).

Katib itself has no rebuild to copy: kubeflow/katib@v0.19.0 (pins.KATIB)
pkg/suggestion/v1beta1/optuna/base_service.py BaseOptunaService._tell raises ``ValueError("An
unknown trial has been passed in the GetSuggestion request.")`` for any trial its own process
did not ask, so a restarted optuna suggestion pod fails every later GetSuggestions. Ours
warm-starts instead (katib/suggestion/algorithms/cma_restarts.py, WarmCmaEsSampler).
"""

from __future__ import annotations

import math

import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms.optuna_hpo import OptunaAlgorithm
from tests.conformance.pins import KATIB
from tests.katib.suggestion.test_hpo_algorithm import suggest

OPTUNA_BASE = "pkg/suggestion/v1beta1/optuna/base_service.py"
PARAMS = [T.parameter("x", api_pb2.DOUBLE, low="0", high="1"),
          T.parameter("y", api_pb2.DOUBLE, low="0", high="1"),
          T.parameter("opt", T.CATEGORICAL, values=["sgd", "adam"])]
LOW, HIGH = (0.2, 0.2), (0.8, 0.8)


def _history(best: tuple[float, float], n: int) -> list[api_pb2.Trial]:
    """`n` finished trials on a fixed grid (the same points for every `best`), the loss their
    distance to `best`: only the values tell where the optimum is."""
    side = math.ceil(math.sqrt(n))
    points = [((i % side + 0.5) / side, (i // side + 0.5) / side) for i in range(n)]
    return [T.trial(f"h{i}", {"x": f"{x:.4f}", "y": f"{y:.4f}", "opt": "sgd"},
                    metrics={"accuracy": f"{math.dist((x, y), best):.6f}"},
                    completion_time=T.rfc3339(i)) for i, (x, y) in enumerate(points)]


def _exp(**settings: str) -> api_pb2.Experiment:
    return T.hpo_experiment(name="cma-rebuild", algorithm="cmaes", parameters=PARAMS,
                            settings={"seed": "3", **settings}, maximize=False)


def _centre(points: list[dict[str, str]]) -> tuple[float, float]:
    return (sum(float(p["x"]) for p in points) / len(points),
            sum(float(p["y"]) for p in points) / len(points))


@pytest.mark.parametrize("settings", [{}, {"sigma": "0.1"}, {"restart_strategy": "ipop"}],
                         ids=["default", "sigma", "ipop"])
@pytest.mark.parametrize("n", [25, 4])
def test_a_rebuilt_study_suggests_near_the_historys_best(settings: dict[str, str],
                                                         n: int) -> None:
    """Same grid, same suggestion index, optimum in opposite corners: a fresh instance (what a
    restarted pod is) must suggest around each history's best, not the same random points.
    The next request, once one of its own trials finished, must not fail (a history under 10
    trials was INTERNAL there: `One or more solutions must be selected`)."""
    assert KATIB.cite(OPTUNA_BASE, "BaseOptunaService._tell").startswith("kubeflow/katib@v0.19")
    exp, alg = _exp(**settings), OptunaAlgorithm()
    history = _history(LOW, n)
    low = suggest(alg, exp, history, count=4, total=n + 4)
    high = suggest(OptunaAlgorithm(), exp, _history(HIGH, n), count=4, total=n + 4)
    assert low != high
    assert math.dist(_centre(low), LOW) < math.dist(_centre(low), HIGH)
    assert math.dist(_centre(high), HIGH) < math.dist(_centre(high), LOW)
    own = T.trial("own", low[0], metrics={"accuracy": "0.5"}, completion_time=T.rfc3339(n))
    (after,) = suggest(alg, exp, [*history, own], total=n + 5)
    assert math.dist((float(after["x"]), float(after["y"])), LOW) < 0.5


def test_an_evicted_study_is_rebuilt_from_the_history_and_continues() -> None:
    """The cache holds two studies: a third experiment evicts the first, whose next request
    is then answered exactly as a fresh instance answers it, from its history; the rebuilt
    study keeps going (CMA tells its own generations) on the following requests, and a
    repeated request gets its first answer again."""
    exp, trials = _exp(), _history(LOW, 25)
    alg = OptunaAlgorithm()
    suggest(alg, exp, trials[:20])
    for other in ("cma-b", "cma-c"):
        suggest(alg, T.hpo_experiment(name=other, algorithm="cmaes", parameters=PARAMS), [])
    assert "cma-rebuild" not in alg._studies._studies
    first = suggest(alg, exp, trials, count=2, total=27)
    assert first == suggest(OptunaAlgorithm(), exp, trials, count=2, total=27)
    assert math.dist(_centre(first), LOW) < 0.25
    for i in range(12):  # two generations of the default population (6 for d=2)
        a = suggest(alg, exp, trials)[0]
        loss = math.dist((float(a["x"]), float(a["y"])), LOW)
        trials.append(T.trial(f"own{i}", a, metrics={"accuracy": f"{loss:.6f}"},
                              completion_time=T.rfc3339(100 + i)))
    again = suggest(alg, exp, trials)
    assert suggest(alg, exp, trials) == again  # a retried request: the same point, not a new
    study = alg._studies[exp.name].study
    assert sum(1 for t in study.trials if t.state.name == "COMPLETE") == 37
    assert any(k.startswith("cma:optimizer") for t in study.trials for k in t.system_attrs)
