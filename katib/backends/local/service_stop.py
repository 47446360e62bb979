"""Early stopping through our gRPC early-stopping service, with Katib's controller semantics.

What ``katib.local`` does for ``earlyStopping.algorithmName: asha`` (the cluster does the same,
``suggestionclient.go:SyncAssignments`` and the metrics collector's ``watchMetricsFile``):
- ``ValidateEarlyStoppingSettings`` once before the first trial (INVALID_ARGUMENT fails the run
  with the service's message);
- after every ``GetSuggestions``, ``GetEarlyStoppingRules`` with the same experiment and trial
  history; the rules returned are attached to the trials of that batch and never change;
- each trial's reports go through :class:`~katib.earlystopping.rules.RuleWatcher` (the
  sidecar's logic); when its rules hold the trial is stopped and ``SetTrialStatus`` is called.
The service reads reported values from a DB manager, as on a cluster; here that is a real
``api.v1.beta1.DBManager`` server on 127.0.0.1 answering ``GetObservationLog`` from what the
runner collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from katib.api import api_pb2 as pb
from katib.api import api_pb2_grpc
from katib.earlystopping import dbmanager
from katib.earlystopping.rules import GREATER, LESS, RuleWatcher, StopRule
from katib.validation import Experiment, ExperimentError

_COMPARISON = {pb.LESS: LESS, pb.GREATER: GREATER, pb.EQUAL: "equal"}
_RPC_TIMEOUT = 60.0


class ServiceEarlyStop:
    """The runner's early stopper when the algorithm is served by katib.earlystopping."""

    def __init__(self, experiment: Experiment) -> None:
        self.exp = experiment
        self.algorithm = experiment.early_stopping_algorithm
        self._db = dbmanager.ObservationStore()
        self._rules: list[StopRule] = []
        self._watchers: dict[str, RuleWatcher] = {}

    def __enter__(self) -> ServiceEarlyStop:
        from katib.earlystopping import serve

        self._db_server, self.db_address = dbmanager.start(self._db)
        self._server, port, self.servicer = serve(0, "127.0.0.1", status=lambda _t: None)
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = api_pb2_grpc.EarlyStoppingStub(self._channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()
        self._server.stop(1.0).wait(2.0)
        self._db_server.stop(1.0).wait(2.0)

    def validate(self, experiment: Any) -> None:
        try:
            self._stub.ValidateEarlyStoppingSettings(
                pb.ValidateEarlyStoppingSettingsRequest(
                    early_stopping=experiment.spec.early_stopping),
                timeout=_RPC_TIMEOUT, wait_for_ready=True)
        except grpc.RpcError as e:
            raise ExperimentError(
                [f"spec.earlyStopping: the {self.algorithm!r} early-stopping service rejected "
                 f"the settings ({e.code().name}): {e.details()}"],
                source=f"Experiment {self.exp.name!r}") from None

    def refresh(self, experiment: Any, trials: Sequence[Any]) -> None:
        """Ask for the rules the next trials get (after each GetSuggestions, like Katib)."""
        reply = self._stub.GetEarlyStoppingRules(
            pb.GetEarlyStoppingRulesRequest(experiment=experiment, trials=list(trials),
                                            db_manager_address=self.db_address),
            timeout=_RPC_TIMEOUT)
        self._rules = [StopRule(r.name, float(r.value), _COMPARISON[r.comparison], r.start_step)
                       for r in reply.early_stopping_rules]

    def attach(self, trial: str) -> None:
        obj = self.exp.objective
        self._watchers[trial] = RuleWatcher(self._rules, obj.metric, obj.type == "maximize")

    def add_succeeded(self, trial: str, values: Sequence[float]) -> None:
        """A finished (or resumed) trial's objective values, for the DB manager."""
        self._db.record(trial, values)

    def should_stop(self, values: Sequence[float], trial: str = "") -> StopRule | None:
        """Feed the newest report of a running trial; the rule that stopped it, else None."""
        self._db.record(trial, values)
        watcher = self._watchers.get(trial)
        if watcher is None or not values or not watcher.feed(self.exp.objective.metric,
                                                             values[-1]):
            return None
        self._stub.SetTrialStatus(pb.SetTrialStatusRequest(trial_name=trial),
                                  timeout=_RPC_TIMEOUT)
        return watcher.fired[-1]

    def describe(self, rule: StopRule, reports: int) -> str:
        word = "below" if rule.comparison == LESS else "above"
        return (f"{self.algorithm}: best {rule.metric} at report {rule.start_step} is {word} "
                f"the rung's cut {rule.value:.6g} (top 1/reduction_factor of the trials that "
                f"reached it)")
