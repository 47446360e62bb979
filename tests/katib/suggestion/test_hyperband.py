"""`hyperband`: Katib's settings, messages and bracket arithmetic, served statelessly.

Upstream: kubeflow/katib@v0.19.0 (tests/conformance/pins.py KATIB)
pkg/suggestion/v1beta1/hyperband/service.py -- HyperbandService.ValidateAlgorithmSettings
(messages), HyperBandParam.convert and _new_hbParameters (s_max, n, r), _make_child_bracket
(rung sizes and resources) and _get_top_trial (promotion by the objective).
"""

from __future__ import annotations

import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms import AlgorithmRegistry
from katib.suggestion.algorithms.hyperband import HyperbandConfig, config_from
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from tests.conformance.pins import KATIB
from tests.katib.suggestion.fresh_reply import suggest

SERVICE = "pkg/suggestion/v1beta1/hyperband/service.py"
PARAMS = [T.parameter("lr", T.DOUBLE, low="0.01", high="0.05"),
          T.parameter("epochs", T.INT, low="1", high="81")]


def _exp(name: str = "hb", parallel: int = 81, maximize: bool = True,
         params: list[api_pb2.ParameterSpec] | None = None, **settings: str
         ) -> api_pb2.Experiment:
    base = {"r_l": "81", "eta": "3", "resource_name": "epochs", "random_state": "1"}
    return T.hpo_experiment(name=name, algorithm="hyperband", settings={**base, **settings},
                            parameters=params or PARAMS, parallel=parallel, maximize=maximize)


def _validate(exp: api_pb2.Experiment) -> None:
    AlgorithmRegistry().get("hyperband").validate(experiment_from_proto(exp))


@pytest.mark.parametrize(("exp", "message"), [
    (T.hpo_experiment(algorithm="hyperband", settings={"r_l": "9"}, parameters=PARAMS),
     "r_l and resource_name must be set."),
    (_exp(r_l="nine"), "r_l must be a positive float number. (got 'nine'"),
    (_exp(r_l="-1"), "r_l must be a positive float number."),
    (_exp(r_l="0"), "r_l must be a positive float number."),
    (_exp(parallel=26), "parallelTrialCount must be not less than 81."),
    (_exp(resource_name="steps"), "value of resource_name setting must be in parameters."),
    (_exp(eta="1"), "eta must be an integer >= 2"),
    (_exp(eta="x"), "eta must be an integer >= 2 (got 'x')"),
    (_exp(params=[*PARAMS, T.parameter("opt", T.CATEGORICAL, values=["a", "b"])],
          resource_name="opt"), "must name an int or double parameter"),
])
def test_katibs_validation_messages(exp: api_pb2.Experiment, message: str) -> None:
    """The messages of HyperbandService.ValidateAlgorithmSettings, with the value added."""
    with pytest.raises(SuggestionInputError) as info:
        _validate(exp)
    assert message in str(info.value), KATIB.cite(SERVICE, "ValidateAlgorithmSettings")


def test_eta_at_or_below_zero_means_three_as_in_katib() -> None:
    cfg = config_from(experiment_from_proto(_exp(eta="-2")))
    assert cfg.eta == 3 and cfg.s_max == 4
    _validate(_exp(eta="0"))  # parallel 81 = 3 ** 4


def test_brackets_and_rungs_are_katibs_arithmetic() -> None:
    """R = 81, eta = 3: n = ceil((s_max+1) * eta**s / (s+1)), each next rung
    ceil(ceil(n * eta**-i) / eta) (Katib rounds up where Li et al. round down)."""
    cfg = HyperbandConfig(eta=3, r_l=81.0, resource_name="epochs", random_state=0)
    assert cfg.s_max == 4
    assert cfg.rungs(4) == [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    assert cfg.rungs(3) == [(34, 3), (12, 9), (4, 27), (2, 81)]
    assert cfg.rungs(2) == [(15, 9), (5, 27), (2, 81)]
    assert cfg.rungs(1) == [(8, 27), (3, 81)]
    assert cfg.rungs(0) == [(5, 81)]
    # Katib's float log: int(log(1000) / log(10)) is 2, and so is ours.
    assert HyperbandConfig(10, 1000.0, "e", 0).s_max == 2


def _finish(trials: list[api_pb2.Trial], reply, score) -> None:
    for name, values, _ in reply:
        trials.append(T.trial(name, values, metrics={"accuracy": str(score(values))},
                              completion_time=T.rfc3339(len(trials))))


def test_a_rung_is_promoted_when_it_has_finished_and_slots_never_wait() -> None:
    """Exactly N per request: while bracket 2's first rung runs, free slots start bracket 1;
    once it has finished, its best third (by the objective) gets eta times the resource."""
    exp = _exp(r_l="9", parallel=9)
    registry, trials = AlgorithmRegistry(), []
    first = suggest(registry, T.request(exp, count=9))
    assert [n.split("-hb")[1].rsplit("-t", 1)[0] for n, _, _ in first] == ["0-s2-r0"] * 9
    assert {v["epochs"] for _, v, _ in first} == {"1"}
    score = lambda v: float(v["lr"])  # noqa: E731 - larger lr is better here
    _finish(trials, first[:8], score)
    running = [T.trial(n, v, condition=api_pb2.TrialStatus.RUNNING) for n, v, _ in first[8:]]
    busy = suggest(registry, T.request(exp, trials + running, count=2, total=11))
    assert [n.split("-hb")[1].rsplit("-t", 1)[0] for n, _, _ in busy] == ["0-s1-r0"] * 2
    assert {v["epochs"] for _, v, _ in busy} == {"3"}
    _finish(trials, first[8:], score)
    promoted = suggest(registry, T.request(exp, trials, count=3, total=12))
    best = sorted((v for _, v, _ in first), key=score, reverse=True)[:3]
    assert [v for _, v, _ in promoted] == [{**v, "epochs": "3"} for v in best]
    assert all("-hb0-s2-r1-" in n for n, _, _ in promoted)
    # Trial indices continue from total_request_number, so names never repeat.
    assert [n.rsplit("-t", 1)[1] for n, _, _ in promoted] == ["9", "10", "11"]


def test_failed_trials_are_not_promoted_and_minimize_promotes_the_lowest() -> None:
    exp = _exp(r_l="3", parallel=3, maximize=False)
    registry = AlgorithmRegistry()
    first = suggest(registry, T.request(exp, count=3))
    trials = [T.trial(n, v, metrics={"accuracy": str(float(v["lr"]))}) for n, v, _ in first]
    lowest = min(first, key=lambda r: float(r[1]["lr"]))
    trials[first.index(lowest)].status.condition = api_pb2.TrialStatus.FAILED
    ((name, values, _),) = suggest(registry, T.request(exp, trials))
    survivors = sorted((r for r in first if r is not lowest), key=lambda r: float(r[1]["lr"]))
    assert "-hb0-s1-r1-" in name and values == {**survivors[0][1], "epochs": "3"}


def test_foreign_trials_are_ignored_and_long_names_fit() -> None:
    exp = _exp(name="a" * 40, r_l="3", parallel=3)
    foreign = [T.trial("other-1", {"lr": "0.02", "epochs": "5"}, metrics={"accuracy": "1"})]
    a = suggest(AlgorithmRegistry(), T.request(exp, foreign, count=3, total=3))
    b = suggest(AlgorithmRegistry(), T.request(exp, count=3))
    assert a == b and all(len(n) <= 63 and "-hb0-s1-r0-t" in n for n, _, _ in a)
