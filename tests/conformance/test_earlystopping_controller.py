"""Our early-stopping service under Katib v0.19.0's controller, over real gRPC.

The same driver as the suggestion service (tests/conformance/katib_controller.py), with our
``asha`` early-stopping service plugged in where Katib calls it, plus the rule enforcement of
Katib's metrics collector. Upstream rules relied on, at the KATIB pin:

- ``pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go`` SyncAssignments:
  GetEarlyStoppingRules is called after every GetSuggestions with the same trials and
  ``db_manager_address``; its rules are copied onto every assignment of that reply;
- ``pkg/controller.v1beta1/experiment/experiment_controller_util.go`` createTrialInstance:
  ``trial.Spec.EarlyStoppingRules = trialAssignment.EarlyStoppingRules`` (fixed at creation);
- ``cmd/metricscollector/v1beta1/file-metricscollector/main.go`` watchMetricsFile /
  updateStopRules: compared once at start_step with the best objective so far, then
  SetTrialStatus;
- ``pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go``
  ValidateEarlyStoppingSettings: INVALID_ARGUMENT or UNKNOWN fail the Experiment.
"""

from __future__ import annotations

import random
import string

import grpc
import pytest

from katib.api import api_pb2, api_pb2_grpc
from katib.earlystopping import dbmanager
from katib.earlystopping.rules import GREATER, LESS, RuleWatcher, StopRule
from katib.earlystopping.server import serve
from tests.conformance.katib_controller import KatibController, Outcome
from tests.conformance.pins import KATIB

CITES = (
    KATIB.cite("pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go",
               "SyncAssignments"),
    KATIB.cite("pkg/controller.v1beta1/experiment/experiment_controller_util.go",
               "createTrialInstance"),
    KATIB.cite("cmd/metricscollector/v1beta1/file-metricscollector/main.go", "updateStopRules"),
)
EPOCHS = 9
_COMPARISON = {api_pb2.LESS: LESS, api_pb2.GREATER: GREATER}


def _doc(sampler: str, settings: list[dict[str, str]]) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": f"es-{sampler}"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": sampler,
                          "algorithmSettings": [{"name": "random_state", "value": "3"}]},
            "earlyStopping": {"algorithmName": "asha", "algorithmSettings": settings},
            "parallelTrialCount": 3, "maxTrialCount": 24,
            "parameters": [{"name": "x", "parameterType": "double",
                            "feasibleSpace": {"min": "0.05", "max": "1"}}],
        },
    }


def _curve(x: float) -> list[float]:
    return [round(x * (1 - 0.6 ** e), 6) for e in range(1, EPOCHS + 1)]


class _Harness:
    """The ES service + DB manager; the trials' reports as far as the driver's clock got."""

    def __init__(self) -> None:
        self.store = dbmanager.ObservationStore()
        self.db_server, self.db_address = dbmanager.start(self.store)
        self.stopped: list[str] = []
        self.server, port, _ = serve(0, "127.0.0.1", status=self.stopped.append)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = api_pb2_grpc.EarlyStoppingStub(self.channel)
        self.controller: KatibController | None = None
        self.stops_at: dict[str, int | None] = {}

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0).wait()
        self.db_server.stop(0).wait()

    def rules(self, request: api_pb2.GetEarlyStoppingRulesRequest) -> list:
        assert self.controller is not None
        clock = self.controller.clock
        for t in self.controller.run_.trials:  # what the DB holds at this moment
            reported = min(int(round(clock - t.created)), len(self._reports(t)))
            self.store.record(t.name, self._reports(t)[:reported])
        request.db_manager_address = self.db_address
        return list(self.stub.GetEarlyStoppingRules(request, timeout=60).early_stopping_rules)

    def _reports(self, t) -> list[float]:
        full = _curve(float(t.assignments["x"]))
        stop = self.stops_at.get(t.name)
        return full[:stop] if stop else full

    def results(self, t) -> Outcome:
        """The metrics collector: the trial's rules (fixed at creation) on its curve."""
        rules = [StopRule(r.name, float(r.value), _COMPARISON[r.comparison], r.start_step)
                 for r in t.early_stopping_rules]
        watcher = RuleWatcher(rules, "accuracy", True)
        values = _curve(float(t.assignments["x"]))
        for i, v in enumerate(values, 1):
            if watcher.feed("accuracy", v):
                self.stub.SetTrialStatus(api_pb2.SetTrialStatusRequest(trial_name=t.name),
                                         timeout=60)
                self.stops_at[t.name] = i
                return Outcome("EarlyStopped", {"accuracy": str(max(values[:i]))}, float(i))
        self.stops_at[t.name] = None
        return Outcome("Succeeded", {"accuracy": str(max(values))}, float(len(values)))


@pytest.mark.parametrize("sampler", ["random", "tpe", "warm-start"])
def test_asha_under_the_controller_stops_trials_below_their_creation_time_cut(
        sampler: str) -> None:
    settings = [{"name": "reduction_factor", "value": "2"}, {"name": "rungs", "value": "2,4"},
                {"name": "brackets", "value": "2"}, {"name": "min_trials_required", "value": "3"}]
    h = _Harness()
    try:
        ctl = KatibController(_doc(sampler, settings), h.results, early_stopping=h.rules)
        h.controller = ctl
        run = ctl.run()
    finally:
        h.close()
    assert run.validation == "OK" and run.errors == [] and run.repeat_mismatches == 0
    assert run.end == "ExperimentMaxTrialsReached"
    by = run.by_condition()
    assert by["EarlyStopped"] >= 3 and by["Succeeded"] >= 3, by
    assert sorted(h.stopped) == sorted(t.name for t in run.trials
                                       if t.condition == "EarlyStopped")
    first_batch = run.trials[:3]  # created before any trial reported: no rule yet
    assert all(t.early_stopping_rules == [] for t in first_batch)
    steps = {r.start_step for t in run.trials for r in t.early_stopping_rules}
    assert steps <= {2, 4} and 2 in steps
    for t in run.trials:
        assert len(t.early_stopping_rules) <= 1  # Katib ANDs rules: one rule per trial
        if t.condition == "EarlyStopped":
            (rule,) = t.early_stopping_rules
            best = max(_curve(float(t.assignments["x"]))[: rule.start_step])
            assert best < float(rule.value) and h.stops_at[t.name] == rule.start_step
    saved = sum(EPOCHS - (h.stops_at[t.name] or EPOCHS) for t in run.trials)
    assert saved > 0


def test_validation_never_answers_unknown_for_any_setting() -> None:
    """ValidateEarlyStoppingSettings: INVALID_ARGUMENT for every bad value (a Katib controller
    would fail the Experiment on UNKNOWN too, but with no message for the user)."""
    h = _Harness()
    rng = random.Random(7)
    names = ["reduction_factor", "min_resource", "max_resource", "rungs", "brackets",
             "min_trials_required", "eta", "bogus", ""]
    codes = set()
    try:
        for _ in range(150):
            spec = api_pb2.EarlyStoppingSpec(algorithm_name=rng.choice(["asha", "asha", "x"]))
            for _ in range(rng.randint(1, 3)):
                value = rng.choice(["", "0", "-1", "2", "3.5", "1,2", "2,1", "1e9", "nan",
                                    "".join(rng.choices(string.printable, k=5))])
                spec.algorithm_settings.add(name=rng.choice(names), value=value)
            try:
                h.stub.ValidateEarlyStoppingSettings(
                    api_pb2.ValidateEarlyStoppingSettingsRequest(early_stopping=spec),
                    timeout=10)
                codes.add("OK")
            except grpc.RpcError as e:
                codes.add(e.code().name)
                assert e.details()
    finally:
        h.close()
    assert codes <= {"OK", "INVALID_ARGUMENT"} and "INVALID_ARGUMENT" in codes
