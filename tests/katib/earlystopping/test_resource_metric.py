"""ASHA's `resource_metric`: rungs in the trial's own unit (e.g. epochs), converted to Katib's
start_step (reports of the objective), over real gRPC and in katib.local."""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest

from katib.api import api_pb2 as pb
from katib.earlystopping import asha
from katib.local import ExperimentError, TrialStatus, run_experiment
from katib.suggestion.errors import SuggestionInputError
from tests.conformance.pins import KATIB
from tests.katib.backends.local.test_local_asha import CURVE, XS, _doc
from tests.katib.earlystopping.test_service_grpc import _spec, stack  # noqa: F401 - fixture

MEDIANSTOP = "pkg/earlystopping/v1beta1/medianstop/service.py"
SIDECAR = "cmd/metricscollector/v1beta1/file-metricscollector/main.go"
SETTINGS = {"reduction_factor": "2", "min_resource": "1", "max_resource": "3",
            "min_trials_required": "2", "resource_metric": "epoch"}


def test_rungs_in_epochs_become_report_counts() -> None:
    """Katib compares a rule at the start_step-th report of its metric (kubeflow/katib@v0.19.0
    cmd/metricscollector/v1beta1/file-metricscollector/main.go updateStopRules: the
    per-metric countdown), so a rung of r epochs is report ceil(r * reports-per-epoch)."""
    cfg = asha.parse(SETTINGS.items())
    assert cfg.rungs == (1, 2) and cfg.resource_metric == "epoch"
    rate = asha.reporting_rate({"a": (6, 3.0), "b": (4, 2.0), "c": (0, None)}, cfg)
    assert rate == 2.0, KATIB.cite(SIDECAR, "updateStopRules")
    assert asha.steps_for_rungs(cfg, rate).rungs == (2, 4)
    # every 2 epochs one report: rungs 1 and 2 epochs both land on report 1 and merge
    merged = asha.steps_for_rungs(asha.parse({**SETTINGS, "brackets": "2"}.items()), 0.5)
    assert merged.rungs == (1,) and merged.brackets == 1


def test_unreported_or_undeclared_resource_metric_names_the_setting_and_the_fix() -> None:
    cfg = asha.parse(SETTINGS.items())
    with pytest.raises(SuggestionInputError) as e:
        asha.reporting_rate({"t1": (4, None)}, cfg)
    assert "trial 't1' finished with 4 reports of the objective but no value of 'epoch'" \
        in str(e.value)
    with pytest.raises(SuggestionInputError) as e:
        asha.check_resource_metric(cfg, "accuracy", ["loss"])
    assert "resource_metric='epoch' is not in objective.additionalMetricNames (loss)" \
        in str(e.value)
    with pytest.raises(SuggestionInputError, match="is not a metric name"):
        asha.parse({"resource_metric": "epoch count"}.items())


def _experiment(settings: dict[str, str], additional: tuple[str, ...] = ("epoch",)
                ) -> pb.Experiment:
    exp = pb.Experiment(name="es")
    exp.spec.objective.type = pb.MAXIMIZE
    exp.spec.objective.objective_metric_name = "accuracy"
    exp.spec.objective.additional_metric_names.extend(additional)
    exp.spec.early_stopping.CopyFrom(_spec(**settings))
    return exp


def _finished(name: str, epoch: str | None) -> pb.Trial:
    t = pb.Trial(name=name)
    t.status.condition = pb.TrialStatus.SUCCEEDED
    if epoch is not None:
        t.status.observation.metrics.add(name="epoch", value=epoch)
    return t


def test_service_places_the_rung_from_the_observation_and_the_db_log(stack) -> None:  # noqa: F811
    """GetEarlyStoppingRules: like Katib's medianstop (kubeflow/katib@v0.19.0
    pkg/earlystopping/v1beta1/medianstop/service.py MedianStopService.get_median_value), the
    objective's reports come from the DB manager's GetObservationLog; the resource metric's
    final value from each Trial's observation, which Katib's controller sends in every request
    (pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go ConvertTrials)."""
    stub, store, address, _, _ = stack
    curves = {"t1": [0.1, 0.5, 0.6, 0.7], "t2": [0.3, 0.4, 0.9, 0.9], "t3": [0.2, 0.2, 0.3, 0.3]}
    for name, values in curves.items():
        store.record(name, values)
    exp = _experiment(SETTINGS)
    request = pb.GetEarlyStoppingRulesRequest(experiment=exp, db_manager_address=address)
    running = pb.Trial(name="t1")
    running.status.condition = pb.TrialStatus.RUNNING
    request.trials.append(running)  # no finished trial yet: no rung can be placed
    assert list(stub.GetEarlyStoppingRules(request, timeout=10).early_stopping_rules) == []
    del request.trials[:]
    request.trials.extend([_finished(n, "2") for n in curves])  # 4 reports over 2 epochs
    (rule,) = stub.GetEarlyStoppingRules(request, timeout=10).early_stopping_rules
    assert rule.start_step == 2, KATIB.cite(MEDIANSTOP, "MedianStopService.get_median_value")
    best_at_2 = sorted((max(v[:2]) for v in curves.values()), reverse=True)
    assert float(rule.value) == best_at_2[math.ceil(3 / 2) - 1]
    assert rule.name == "accuracy" and rule.comparison == pb.LESS


@pytest.mark.parametrize(("exp", "trials", "fragment"), [
    (_experiment(SETTINGS, additional=()), [_finished("t1", "2")],
     "resource_metric='epoch' is not in objective.additionalMetricNames (none)"),
    (_experiment(SETTINGS), [_finished("t1", None)],
     "trial 't1' finished with 2 reports of the objective but no value of 'epoch'"),
])
def test_service_refuses_a_resource_metric_it_cannot_use(stack, exp, trials,  # noqa: F811
                                                         fragment: str) -> None:
    stub, store, address, _, _ = stack
    store.record("t1", [0.1, 0.2])
    with pytest.raises(grpc.RpcError) as e:
        stub.GetEarlyStoppingRules(pb.GetEarlyStoppingRulesRequest(
            experiment=exp, trials=trials, db_manager_address=address), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in e.value.details()


def _epoch_doc(**objective) -> dict:
    doc = _doc(settings=SETTINGS)
    doc["spec"]["objective"].update({"additionalMetricNames": ["epoch"], **objective})
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    container["args"] += ["--reports-per-epoch", "2", "--epochs", "3", "--sleep", "0.01"]
    assert container["command"][-1] == CURVE
    return doc


def test_katib_local_judges_at_the_report_where_epoch_1_was_reached(tmp_path: Path) -> None:
    """Two reports per epoch: the first rung (1 epoch) is report 2, the first cut waits for
    two finished trials, and a stopped trial's last epoch is below the full 3."""
    result = run_experiment(_epoch_doc(), results=tmp_path / "r.json",
                            workdir=tmp_path / "t", progress=False)
    assert result.reason == "ExperimentMaxTrialsReached" and len(result.trials) == len(XS)
    stopped = [t for t in result.trials if t.status is TrialStatus.EARLY_STOPPED]
    assert stopped and all(t.status is TrialStatus.SUCCEEDED for t in result.trials[:2])
    for t in stopped:
        assert "asha: best accuracy at report 2 is below the rung's cut" in t.message
        assert float(t.metrics["epoch"]) < 3
    assert result.best.assignments["x"] == "0.8"


@pytest.mark.parametrize(("objective", "fragment"), [
    ({"additionalMetricNames": ["loss"]},
     "resource_metric='epoch' is not in objective.additionalMetricNames (loss)"),
    ({"metricStrategies": [{"name": "epoch", "value": "min"}]},
     "sets epoch to min; set it to latest"),
])
def test_katib_local_refuses_before_any_trial_runs(tmp_path: Path, objective: dict,
                                                    fragment: str) -> None:
    with pytest.raises(ExperimentError) as e:
        run_experiment(_epoch_doc(**objective), results=tmp_path / "r.json",
                       workdir=tmp_path / "t", progress=False)
    assert "spec.earlyStopping.algorithmSettings" in str(e.value)
    assert fragment in str(e.value)
    assert not (tmp_path / "t").exists()
