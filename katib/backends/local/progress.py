"""Live progress for a person watching the run, on stderr.

On a terminal: finished trials scroll as lines above a status block (a bar with trials
done/running/failed, the best so far, and one row per running trial with its latest
objective value), redrawn in place. Elsewhere (CI logs, pipes): one plain line per event.
"""

from __future__ import annotations

import calendar
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from katib.backends.local.results import TrialRecord
from katib.types import TrialStatus

_BAR_WIDTH = 24


@dataclass
class Snapshot:
    """The numbers the progress display shows."""

    completed: int = 0
    failed: int = 0
    early_stopped: int = 0
    max_trials: int | None = None
    best_name: str = ""
    best_value: float | None = None
    running: list[tuple[TrialRecord, str]] = field(default_factory=list)  # (trial, latest obj)


class Progress:
    """Shows trial events; silent when disabled."""

    def __init__(self, experiment_name: str, metric: str, *, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.name = experiment_name
        self.metric = metric
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0
        self._snapshot = Snapshot()
        self._t0 = time.monotonic()

    def message(self, text: str) -> None:
        """A line that stays (run start, resume notice, final result)."""
        if not self.enabled:
            return
        self._clear()
        print(f"[katib.local] {text}", file=self.stream, flush=True)
        self._draw()

    def started(self, trial: TrialRecord, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        if not self.tty:
            self.message(f"{trial.name} started ({_assignments(trial)})")
        else:
            self._redraw()

    def finished(self, trial: TrialRecord, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        value = trial.metrics.get(self.metric, "-")
        text = (f"{trial.name} {trial.status.value} {self.metric}={_short(value)} "
                f"({_assignments(trial)}) {trial.seconds:.1f}s")
        if trial.message and trial.status is not TrialStatus.SUCCEEDED:
            text += f": {trial.message.splitlines()[0]}"
        self.message(f"{text} | {self._summary()}")

    def tick(self, snapshot: Snapshot) -> None:
        """Periodic refresh (running trials' latest values, elapsed time); TTY only."""
        self._snapshot = snapshot
        if self.tty:
            self._redraw()

    def close(self) -> None:
        self._clear()

    def _summary(self) -> str:
        s = self._snapshot
        total = f"/{s.max_trials}" if s.max_trials else ""
        best = (f"best {self.metric}={s.best_value:.6g} ({s.best_name})"
                if s.best_value is not None else "no best yet")
        return (f"{s.completed}{total} done, {len(s.running)} running, {s.failed} failed, "
                f"{s.early_stopped} early-stopped, {best}")

    def _redraw(self) -> None:
        self._clear()
        self._draw()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self.stream.flush()
            self._drawn = 0

    def _draw(self) -> None:
        if not self.tty:
            return
        s = self._snapshot
        if s.max_trials:
            done = int(_BAR_WIDTH * min(1.0, s.completed / s.max_trials))
            bar = "[" + "#" * done + "." * (_BAR_WIDTH - done) + "] "
        else:
            bar = ""
        elapsed = time.monotonic() - self._t0
        lines = [f"{self.name} {bar}{self._summary()}  {elapsed:.0f}s"]
        now = time.time()
        for trial, latest in s.running:
            started = _parse_time(trial.start_time)
            age = f"{now - started:.0f}s" if started else ""
            lines.append(f"  running {trial.name} {self.metric}={_short(latest or '-')} "
                         f"{age} ({_assignments(trial)})")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)


def _assignments(trial: TrialRecord) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in trial.assignments.items())


def _short(value: str, width: int = 24) -> str:
    value = str(value)
    return value if len(value) <= width else value[: width - 3] + "..."


def _parse_time(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None
