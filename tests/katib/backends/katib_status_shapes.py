"""Recorded shapes of Katib v1beta1 Experiment and Trial objects (as the API server returns them).

Field names and condition reasons/messages follow Katib's controller
(pkg/controller.v1beta1/experiment/util/status_util.go, trial/trial_controller_status_util.go).
"""

from __future__ import annotations

import copy
from typing import Any

_T = "2026-11-24T09:00:00Z"


def _cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": _T, "lastUpdateTime": _T}


def experiment(name: str, body: dict[str, Any], state: str) -> dict[str, Any]:
    """`body` as stored by the API server, with a status for `state`."""
    obj = copy.deepcopy(body)
    obj["metadata"].update({"uid": "0b1c", "resourceVersion": "1234", "generation": 1,
                            "creationTimestamp": _T})
    conditions = [_cond("Created", "True", "ExperimentCreated", "Experiment is created")]
    if state in ("Running", "Succeeded", "Failed"):
        conditions.append(_cond("Running", "True" if state == "Running" else "False",
                                "ExperimentRunning", "Experiment is running"))
    if state == "Succeeded":
        conditions.append(_cond("Succeeded", "True", "ExperimentMaxTrialsReached",
                                "Experiment has succeeded because max trial count has reached"))
    if state == "Failed":
        conditions.append(_cond("Failed", "True", "ExperimentMaxFailedTrialsReached",
                                "Experiment has failed because max failed count has reached"))
    obj["status"] = {"startTime": _T, "conditions": conditions, "trials": 2,
                     "trialsSucceeded": 1 if state != "Failed" else 0,
                     "trialsFailed": 1 if state == "Failed" else 0,
                     "currentOptimalTrial": {"bestTrialName": "", "parameterAssignments": None,
                                             "observation": {"metrics": None}}}
    if state in ("Succeeded", "Failed"):
        obj["status"]["completionTime"] = _T
    return obj


def trial(experiment_name: str, name: str, assignments: dict[str, str],
          metrics: dict[str, str], state: str = "Succeeded") -> dict[str, Any]:
    conditions = [_cond("Created", "True", "TrialCreated", "Trial is created"),
                  _cond("Running", "False", "TrialRunning", "Trial is running")]
    reasons = {"Succeeded": ("TrialSucceeded", "Trial has succeeded"),
               "Failed": ("TrialFailed", "Trial has failed. Job reason: BackoffLimitExceeded"),
               "MetricsUnavailable": ("MetricsUnavailable", "Metrics are not available")}
    if state in reasons:
        conditions.append(_cond(state, "True", *reasons[state]))
    observation = {"metrics": [{"name": k, "latest": v, "max": v, "min": v}
                               for k, v in metrics.items()]}
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Trial",
        "metadata": {"name": name, "namespace": "kubeflow",
                     "labels": {"katib.kubeflow.org/experiment": experiment_name},
                     "ownerReferences": [{"kind": "Experiment", "name": experiment_name}]},
        "spec": {"parameterAssignments": [{"name": k, "value": v}
                                          for k, v in assignments.items()],
                 "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
                 "primaryContainerName": "training-container"},
        "status": {"startTime": _T, "completionTime": _T, "conditions": conditions,
                   "observation": observation},
    }
