"""Progress output: plain lines off a terminal, a redrawn block on one."""

from __future__ import annotations

import io

from katib.backends.local.progress import Progress, Snapshot
from katib.local import TrialRecord, TrialStatus


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    p = Progress("exp", "accuracy", stream=out)
    t = TrialRecord("exp-001", {"lr": "0.1"}, start_time="2026-01-01T00:00:00Z")
    p.started(t, Snapshot(max_trials=4, running=[(t, "")]))
    t.status, t.metrics, t.seconds = TrialStatus.SUCCEEDED, {"accuracy": "0.9"}, 2.5
    p.finished(t, Snapshot(completed=1, max_trials=4, best_name="exp-001", best_value=0.9))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[katib.local] exp-001 started (lr=0.1)"
    assert lines[1] == ("[katib.local] exp-001 Succeeded accuracy=0.9 (lr=0.1) 2.5s | 1/4 done, "
                        "0 running, 0 failed, 0 early-stopped, best accuracy=0.9 (exp-001)")
    assert "\x1b[" not in out.getvalue()


def test_tty_block_is_redrawn_in_place() -> None:
    out = _Tty()
    p = Progress("exp", "accuracy", stream=out)
    t = TrialRecord("exp-001", {"lr": "0.1"}, start_time="2026-01-01T00:00:00Z")
    p.tick(Snapshot(completed=2, max_trials=4, running=[(t, "0.5")]))
    p.tick(Snapshot(completed=3, max_trials=4, running=[(t, "0.6")]))
    text = out.getvalue()
    assert "[############............] 2/4 done" in text
    assert "running exp-001 accuracy=0.6" in text
    assert "\x1b[2F\x1b[J" in text  # the 2-line block was erased before the redraw


def test_disabled_is_silent() -> None:
    out = io.StringIO()
    Progress("exp", "accuracy", stream=out, enabled=False).message("hello")
    assert out.getvalue() == ""
