"""Experiment documents for the runner tests: a batch Job running fake_trial.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

FAKE_TRIAL = str(Path(__file__).with_name("fake_trial.py"))


def hpo(name: str = "fake-hpo", *, args: list[str] | None = None, algorithm: str = "grid",
        parameters: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """A grid over x in {0.1..0.4} whose trial prints accuracy=x (extra args appended)."""
    doc: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy",
                          "additionalMetricNames": ["loss"]},
            "algorithm": {"algorithmName": algorithm},
            "parallelTrialCount": 1,
            "maxTrialCount": 4,
            "parameters": parameters or [
                {"name": "x", "parameterType": "discrete",
                 "feasibleSpace": {"list": ["0.1", "0.2", "0.3", "0.4"]}},
            ],
            "trialTemplate": {
                "primaryContainerName": "training",
                "trialParameters": [{"name": "x", "reference": "x"},
                                    {"name": "trialName", "reference": "${trialSpec.Name}"}],
                "trialSpec": {
                    "apiVersion": "batch/v1", "kind": "Job",
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training", "image": "unused-locally",
                        "command": ["python", "-u", FAKE_TRIAL],
                        "args": ["--x", "${trialParameters.x}",
                                 "--name", "${trialParameters.trialName}", *(args or [])],
                    }]}}},
                },
            },
        },
    }
    doc["spec"].update(copy.deepcopy(spec))
    return doc

