"""`classify_trial`: the trial-condition decision as a pure function, a table of cases.

Katib's trial controller decides the same from the job's condition and the collected metrics
(katib v0.19.0 pkg/controller.v1beta1/trial/trial_controller_util.go
UpdateTrialStatusCondition); no process runs here.
"""

from __future__ import annotations

import pytest

from katib.backends.local.trial_outcome import TrialExit, classify_trial, recorded_metrics
from katib.types import TrialStatus

OK = {"accuracy": "0.9", "loss": "0.3"}

CASES = [
    # (id, exit, expected status, text the message must contain, metrics kept)
    ("clean exit with a number", TrialExit(0, "accuracy", OK, True),
     TrialStatus.SUCCEEDED, "", OK),
    ("non-zero exit", TrialExit(3, "accuracy", {}, False, tail=("boom",)),
     TrialStatus.FAILED, "exit code 3; last output:\nboom", {}),
    ("killed by a signal", TrialExit(-9, "accuracy", OK, True),
     TrialStatus.FAILED, "killed by SIGKILL", OK),
    ("objective never printed", TrialExit(0, "accuracy", {"accuracy": "unavailable"}, False,
                                          log_path="t/trial.log"),
     TrialStatus.METRICS_UNAVAILABLE, "'accuracy' was never printed", {"accuracy": "unavailable"}),
    ("objective not a number", TrialExit(0, "accuracy", {"accuracy": "nan"}, True),
     TrialStatus.METRICS_UNAVAILABLE, "is not a number: 'nan'", {"accuracy": "nan"}),
    ("early-stopped with metrics", TrialExit(-15, "accuracy", OK, True,
                                             stop=TrialStatus.EARLY_STOPPED,
                                             stop_message="rule accuracy<0.5"),
     TrialStatus.EARLY_STOPPED, "rule accuracy<0.5", OK),
    ("killed before reporting", TrialExit(-15, "accuracy", {"accuracy": "unavailable"}, False,
                                          stop=TrialStatus.KILLED, stop_message="killed: goal"),
     TrialStatus.KILLED, "killed: goal", {}),
    ("stop wins over a clean exit", TrialExit(0, "accuracy", OK, True, stop=TrialStatus.KILLED,
                                              stop_message="killed: interrupted"),
     TrialStatus.KILLED, "interrupted", OK),
]


@pytest.mark.parametrize("ended, status, text, metrics", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_classify_trial(ended: TrialExit, status: TrialStatus, text: str,
                        metrics: dict[str, str]) -> None:
    got, message = classify_trial(ended)
    assert got is status
    assert text in message
    assert (message == "") is (status is TrialStatus.SUCCEEDED)
    assert recorded_metrics(ended, got) == metrics
