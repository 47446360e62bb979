"""The optuna-based HPO algorithm (warm-start and Katib's built-in names)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms.base import SuggestionRequest
from katib.suggestion.algorithms.optuna_hpo import OptunaAlgorithm
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.trials import trials_from_proto
from tests.katib.suggestion.conformance import MIXED


def suggest(alg: OptunaAlgorithm, exp: api_pb2.Experiment, trials=(), count: int = 1,
            total: int | None = None) -> list[dict[str, str]]:
    req = T.request(exp, trials, count=count, total=total)
    out = alg.suggest(SuggestionRequest(experiment_from_proto(req.experiment),
                                        tuple(trials_from_proto(req.trials)),
                                        req.current_request_number, req.total_request_number))
    assert len(out) == count
    return [a.values for a in out]


def objective(a: dict[str, str]) -> float:
    """Synthetic accuracy, best at lr=0.01, layers=4, adam."""
    return (1.0 - abs(math.log10(float(a["lr"])) + 2) / 4 - abs(int(a["layers"]) - 4) / 16
            + (0.05 if a["optimizer"] == "adam" else 0.0))


def run(alg, exp, n, trials=None, start=0):
    trials = list(trials or [])
    for i in range(n):
        a = suggest(alg, exp, trials)[0]
        trials.append(T.trial(f"t{start + i}", a, metrics={"accuracy": f"{objective(a):.6f}"},
                              completion_time=T.rfc3339(start + i)))
    return trials


def test_tpe_learns_and_honours_direction() -> None:
    """After 40 trials TPE's later half is better than its random start, both directions."""
    for maximize in (True, False):
        alg = OptunaAlgorithm()
        exp = T.hpo_experiment(maximize=maximize, settings={"seed": "3"})
        trials = []
        for i in range(40):
            a = suggest(alg, exp, trials)[0]
            v = objective(a) if maximize else -objective(a)
            trials.append(T.trial(f"t{i}", a, metrics={"accuracy": str(v)},
                                  completion_time=T.rfc3339(i)))
        vals = [objective({m.name: m.value for m in t.spec.parameter_assignments.assignments})
                for t in trials]
        assert sum(vals[25:]) / 15 > sum(vals[:10]) / 10


def test_history_reordering_rebuilds_the_cache() -> None:
    exp = T.hpo_experiment(settings={"seed": "1", "n_startup_trials": "3"})
    alg = OptunaAlgorithm()
    trials = run(alg, exp, 12)
    suggest(alg, exp, trials)
    # a history that is not an extension of the cached one (trial 0 gone): must not raise and
    # must equal a fresh computation
    changed = trials[1:]
    assert suggest(alg, exp, changed, total=13) == suggest(OptunaAlgorithm(), exp, changed,
                                                           total=13)


def test_grid_emits_each_point_once_then_reemits() -> None:
    params = [T.parameter("a", T.INT, low="1", high="3"),
              T.parameter("b", T.CATEGORICAL, values=["x", "y"])]
    exp = T.hpo_experiment(algorithm="grid", parameters=params)
    alg = OptunaAlgorithm()
    trials = []
    seen = []
    for i in range(6):
        a = suggest(alg, exp, trials)[0]
        seen.append((a["a"], a["b"]))
        trials.append(T.trial(f"g{i}", a, condition=api_pb2.TrialStatus.RUNNING))
    assert sorted(seen) == sorted((str(a), b) for a in (1, 2, 3) for b in "xy")
    extra = suggest(alg, exp, trials, count=2)
    assert all((a["a"], a["b"]) in seen for a in extra)


def test_cmaes_is_told_its_own_trials() -> None:
    exp = T.hpo_experiment(algorithm="cmaes", parameters=MIXED[:3], settings={"seed": "2"})
    alg = OptunaAlgorithm()
    trials = run_generic(alg, exp, 30)
    suggest(alg, exp, trials)  # tells the 30th
    study = alg._studies[exp.name].study
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(completed) == 30
    assert any(k.startswith("cma:") for t in completed for k in t.system_attrs)


def run_generic(alg, exp, n):
    trials = []
    for i in range(n):
        a = suggest(alg, exp, trials)[0]
        trials.append(T.trial(f"t{i}", a, metrics={"accuracy": str(-abs(float(a["lr"]) - 0.01))},
                              completion_time=T.rfc3339(i)))
    return trials


def _results_file(path: Path, trials: list[dict]) -> str:
    path.write_text(json.dumps({
        "format": "katib-local-results", "version": 1, "experiment": "old",
        "objective": {"type": "maximize", "metric": "accuracy", "goal": None},
        "parameters": [], "trials": trials, "best": None}))
    return str(path)


def _prior(i: int, lr: str, layers: str, opt: str, acc: str, status: str = "Succeeded"):
    return {"name": f"old-{i}", "assignments": {"lr": lr, "layers": layers, "optimizer": opt},
            "metrics": {"accuracy": acc}, "status": status, "start_time": "", "completion_time":
            "", "seconds": 1.0}


def test_identical_warm_start_tells_prior_inside_the_space(tmp_path: Path) -> None:
    src = _results_file(tmp_path / "r.json", [
        _prior(0, "0.01", "4", "adam", "0.99"),
        _prior(1, "0.5", "4", "adam", "0.99"),  # lr outside the new space: ignored
        _prior(2, "0.001", "2", "sgd", "0.5", status="Failed"),  # not finished well: ignored
        *[_prior(3 + i, f"{0.0002 * (i + 1):.4f}", "1", "sgd", "0.1") for i in range(12)],
    ])
    exp = T.hpo_experiment(settings={"warm_start_source": src, "seed": "0",
                                     "n_startup_trials": "5"})
    alg = OptunaAlgorithm()
    suggest(alg, exp)
    study = alg._studies[exp.name].study
    assert len(study.trials) == 13 + 1  # 13 usable priors + the asked trial
    # with a warm prior TPE is past its startup phase: suggestions move toward the prior best
    first = suggest(alg, exp, count=8)
    assert sum(abs(math.log10(float(a["lr"])) + 2) < 1 for a in first) >= 5


def test_transfer_reevaluates_top_k_first_then_samples(tmp_path: Path) -> None:
    src = _results_file(tmp_path / "r.json", [
        _prior(0, "0.01", "4", "adam", "0.95"),
        _prior(1, "0.5", "20", "adam", "0.99"),  # projected: lr clipped to 0.1, layers to 8
        _prior(2, "0.001", "2", "lamb", "0.97"),  # category gone from the space: skipped
        _prior(3, "0.002", "3", "sgd", "0.90"),
        _prior(4, "0.003", "3", "sgd", "0.10"),
    ])
    exp = T.hpo_experiment(settings={"warm_start_source": src, "warm_start_type": "transfer",
                                     "warm_start_top_k": "3"})
    alg = OptunaAlgorithm()
    got = suggest(alg, exp, count=4)
    assert got[:3] == [
        {"lr": "0.1", "layers": "8", "optimizer": "adam"},
        {"lr": "0.01", "layers": "4", "optimizer": "adam"},
        {"lr": "0.002", "layers": "3", "optimizer": "sgd"},
    ]
    assert got[3] not in got[:3]


def test_bad_warm_start_sources_are_invalid_argument(tmp_path: Path) -> None:
    alg = OptunaAlgorithm()
    missing = T.hpo_experiment(settings={"warm_start_source": str(tmp_path / "nope.json")})
    with pytest.raises(SuggestionInputError, match="nope.json' cannot be read as a results file"):
        alg.validate(experiment_from_proto(missing))
    wrong = tmp_path / "w.json"
    wrong.write_text(json.dumps({"format": "something", "version": 1}))
    with pytest.raises(SuggestionInputError,
                       match="\"format\" is 'something', expected 'katib-local-results'"):
        alg.validate(experiment_from_proto(
            T.hpo_experiment(settings={"warm_start_source": str(wrong)})))


class FakeCustomObjects:
    """Returns recorded Trial CR shapes (kubeflow.org/v1beta1) and records the call."""

    def __init__(self, items: list[dict] | None = None, status: int | None = None) -> None:
        self.items = items or []
        self.status = status
        self.calls: list[dict] = []

    def list_namespaced_custom_object(self, **kwargs):
        self.calls.append(kwargs)
        if self.status:
            err = RuntimeError("Forbidden")
            err.status = self.status  # like kubernetes.client.ApiException
            raise err
        return {"apiVersion": "kubeflow.org/v1beta1", "kind": "TrialList", "items": self.items}


def _trial_cr(name: str, lr: str, layers: str, opt: str, acc: str, ok: bool = True) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Trial",
        "metadata": {"name": name, "namespace": "team",
                     "labels": {"katib.kubeflow.org/experiment": "old"}},
        "spec": {"parameterAssignments": [{"name": "lr", "value": lr},
                                          {"name": "layers", "value": layers},
                                          {"name": "optimizer", "value": opt}],
                 "objective": {"type": "maximize", "objectiveMetricName": "accuracy"}},
        "status": {
            "conditions": [
                {"type": "Created", "status": "True", "reason": "TrialCreated"},
                {"type": "Running", "status": "False", "reason": "TrialRunning"},
                {"type": "Succeeded" if ok else "Failed", "status": "True"},
            ],
            "observation": {"metrics": [{"name": "accuracy", "min": "0.1", "max": acc,
                                         "latest": acc}]},
        },
    }


def test_kubernetes_source_lists_trials_by_experiment_label() -> None:
    fake = FakeCustomObjects([
        _trial_cr("old-a", "0.01", "4", "adam", "0.97"),
        _trial_cr("old-b", "0.02", "5", "sgd", "0.90"),
        _trial_cr("old-c", "0.03", "6", "sgd", "0.99", ok=False),
    ])
    alg = OptunaAlgorithm(custom_objects=lambda: fake)
    exp = T.hpo_experiment(settings={"warm_start_source": "team/old",
                                     "warm_start_type": "transfer", "warm_start_top_k": "1"})
    got = suggest(alg, exp, count=1)
    assert got == [{"lr": "0.01", "layers": "4", "optimizer": "adam"}]
    assert fake.calls == [{"group": "kubeflow.org", "version": "v1beta1", "namespace": "team",
                           "plural": "trials",
                           "label_selector": "katib.kubeflow.org/experiment=old"}]


def test_kubernetes_forbidden_names_the_rbac_fix() -> None:
    alg = OptunaAlgorithm(custom_objects=lambda: FakeCustomObjects(status=403))
    exp = T.hpo_experiment(settings={"warm_start_source": "katib://team/old"})
    with pytest.raises(SuggestionInputError, match="needs get/list on trials.kubeflow.org"):
        alg.validate(experiment_from_proto(exp))


def test_step_with_log_distribution_is_rejected() -> None:
    exp = T.hpo_experiment(parameters=[T.parameter("lr", T.DOUBLE, low="0.001", high="0.1",
                                                   step="0.01",
                                                   distribution=api_pb2.LOG_UNIFORM)])
    with pytest.raises(SuggestionInputError, match="step cannot be combined with distribution"):
        OptunaAlgorithm().validate(experiment_from_proto(exp))


def test_cmaes_after_restart_warm_starts_from_the_history() -> None:
    exp = T.hpo_experiment(algorithm="cmaes", parameters=MIXED[:3], settings={"seed": "2"})
    trials = run_generic(OptunaAlgorithm(), exp, 12)
    restarted = OptunaAlgorithm()
    assert len(suggest(restarted, exp, trials, count=2)) == 2
    assert len(restarted._studies[exp.name].source_trials) == 12


def test_transfer_prior_is_told_only_until_own_results_suffice(tmp_path: Path) -> None:
    src = _results_file(tmp_path / "r.json", [
        _prior(i, f"{0.001 * (i + 1):.3f}", str(1 + i % 8), "sgd", f"{0.5 + i / 100:.2f}")
        for i in range(12)
    ])
    exp = T.hpo_experiment(settings={"warm_start_source": src, "warm_start_type": "transfer",
                                     "warm_start_top_k": "1", "n_startup_trials": "2"})
    alg = OptunaAlgorithm()
    trials = run(alg, exp, 2)  # first: the top-1 prior; second: TPE with the prior told

    def told_priors() -> int:
        study = alg._studies[exp.name].study
        return sum(1 for t in study.trials if t.state.name == "COMPLETE") - len(
            alg._studies[exp.name].told)

    assert told_priors() == 12
    trials = run(alg, exp, 2, trials=trials, start=2)
    suggest(alg, exp, trials)  # 4 own results >= top_k + n_startup_trials: prior dropped
    assert told_priors() == 0


@pytest.mark.parametrize("algorithm", ["cmaes", "tpe", "warm-start"])
def test_a_told_value_off_the_step_grid_is_skipped_not_internal(algorithm: str) -> None:
    """Found by the fuzz in the suggestion image's pinned optuna: a trial whose value is off a
    stepped range's grid (layers=6 on 1..7 step 2) made create_trial raise -> INTERNAL."""
    params = [T.parameter("layers", T.INT, low="1", high="7", step="2"),
              T.parameter("lr", T.DOUBLE, low="0.1", high="1")]
    exp = T.hpo_experiment(algorithm=algorithm, parameters=params)
    trials = [T.trial(f"t{i}", {"layers": str(v), "lr": "0.5"}, metrics={"accuracy": "0.5"},
                      completion_time=T.rfc3339(i)) for i, v in enumerate([1, 3, 6, 5])]
    for a in suggest(OptunaAlgorithm(), exp, trials, count=2):
        assert int(a["layers"]) in (1, 3, 5, 7)
