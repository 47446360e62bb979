"""Katib's StdOut metrics collector, line by line, for a trial's merged stdout/stderr.

Semantics copied from Katib's file metrics collector (`parseLogs`) and the trial controller's
`getMetrics`:
- only lines containing one of the metric names are parsed;
- every filter regex (the default `([\\w|-]+)\\s*=\\s*(...)` or the Experiment's
  `metricsFormat`) is applied with find-all; group 1 is the name, group 2 the value;
- a line whose text up to its first space parses as an RFC3339Nano time carries that time, any
  other line Go's zero time, 0001-01-01T00:00:00Z (`parseLogsInTextFormat`: Katib's StdOut
  collector is the File collector on the `1>metrics.log 2>&1` redirect of the trial's command,
  TEXT format);
- per metric the observation is picked by its strategy: `min` / `max` over the numeric values
  or `latest`, the value with the newest time, the later line on a tie (the DB manager returns
  the logs `ORDER BY time` and `getMetrics` keeps a value unless an earlier one is strictly
  newer). So a timestamped line beats every line printed without one, whatever the print
  order, and without any timestamps `latest` is the last line printed. min/max fall back to
  latest when no value is numeric;
- if the objective never appears it is recorded as `unavailable` (the trial is then
  MetricsUnavailable).

`MetricsCollector` is the StdOut collector; katib.backends.local.file_collector adds the File
(TEXT/JSON) and TensorFlowEvent collectors behind the same four calls the runner makes:
`localize` (where the trial writes), `feed` (each output line), `finish` (the trial ended) and
`explain` (why its objective is missing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from katib import constants as c
from katib.suggestion.metrics import parse_metric

#: Go's time.Time{} (0001-01-01T00:00:00Z), the time of a metric without a timestamp.
ZERO_TIME = (-62135596800, 0)
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?"
                      r"(Z|[+-]\d{2}:\d{2})$")


def rfc3339_key(text: str) -> tuple[int, int] | None:
    """(epoch seconds, nanoseconds) of an RFC3339Nano time, or None (Go's time.Parse fails)."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        moment = datetime.fromisoformat(m.group(1) + zone)
    except ValueError:
        return None
    return int(moment.timestamp()), int((m.group(2) or "0").ljust(9, "0"))


def text_line_stamp(line: str) -> tuple[int, int]:
    """The time Katib's parseLogsInTextFormat gives a TEXT line: `strings.SplitN(line, " ", 2)`
    and, when there are two parts, the first parsed as RFC3339Nano; otherwise ZERO_TIME."""
    head, sep, _ = line.partition(" ")
    return (rfc3339_key(head) if sep else None) or ZERO_TIME


@dataclass
class _Series:
    """All values reported for one metric, in order."""

    latest: str = ""
    latest_stamp: Any = None  # ordering key of `latest` (Katib's observation timestamp)
    min_text: str | None = None
    max_text: str | None = None
    min_value: float = math.inf
    max_value: float = -math.inf
    numeric: list[float] = field(default_factory=list)

    def add(self, text: str, stamp: Any = None) -> None:
        """Record one value; with `stamp` (an orderable timestamp), `latest` is the value with
        the newest stamp, the later one on a tie (trial_controller_util.go getMetrics)."""
        if stamp is None or self.latest_stamp is None or not self.latest_stamp > stamp:
            self.latest, self.latest_stamp = text, stamp
        value = parse_metric(text)
        if value is None:
            return
        self.numeric.append(value)
        if value < self.min_value:
            self.min_value, self.min_text = value, text
        if value > self.max_value:
            self.max_value, self.max_text = value, text


class MetricsCollector:
    """Feed it lines; read the observation (one string per metric) Katib would record."""

    def __init__(self, metric_names: Sequence[str], strategies: Mapping[str, str],
                 formats: Sequence[str] = (c.DEFAULT_METRICS_FORMAT,)) -> None:
        if not metric_names:
            raise ValueError("metric_names must start with the objective metric")
        self.metric_names = tuple(metric_names)
        self.strategies = dict(strategies)
        self._filters = [re.compile(f) for f in formats]
        self._series: dict[str, _Series] = {}

    @property
    def objective(self) -> str:
        return self.metric_names[0]

    # ---- the runner's hooks (the File / TensorFlowEvent collectors override them) ---------
    def localize(self, argv: list[str], env: dict[str, str]
                 ) -> tuple[list[str], dict[str, str]]:
        """The trial's command and env as it runs here (StdOut: unchanged)."""
        return argv, env

    def finish(self) -> None:
        """The trial ended: read what only exists at the end (StdOut: nothing)."""

    def explain(self, message: str) -> str:
        """The message of a trial whose objective is missing (StdOut: the runner's)."""
        return message

    def feed(self, line: str) -> list[tuple[str, str]]:
        """Parse one log line, stamped with its leading time (if any); return the (name, value)
        pairs it reported."""
        return self.parse_text(line, text_line_stamp(line))

    def parse_text(self, line: str, stamp: Any = None) -> list[tuple[str, str]]:
        """One TEXT line through the filters (parseLogsInTextFormat)."""
        if not any(m in line for m in self.metric_names):
            return []
        found = []
        for rx in self._filters:
            for match in rx.finditer(line):
                if (rx.groups or 0) < 2:
                    continue
                name = (match.group(1) or "").strip()
                value = (match.group(2) or "").strip()
                if name in self.metric_names:
                    self.record(name, value, stamp)
                    found.append((name, value))
        return found

    def record(self, name: str, value: str, stamp: Any = None) -> None:
        """One observation of a metric (a MetricLog in Katib's terms)."""
        self._series.setdefault(name, _Series()).add(value, stamp)

    def values(self, name: str) -> list[float]:
        """Numeric values reported so far for a metric, in order (for early stopping)."""
        series = self._series.get(name)
        return list(series.numeric) if series else []

    @property
    def objective_reported(self) -> bool:
        return self.objective in self._series

    def observation(self) -> dict[str, str]:
        """One value per reported metric by its strategy; objective `unavailable` if never seen."""
        out: dict[str, str] = {}
        if not self.objective_reported:
            return {self.objective: c.UNAVAILABLE_METRIC_VALUE}
        for name in self.metric_names:
            series = self._series.get(name)
            if series is None:
                continue
            strategy = self.strategies.get(name, "latest")
            if strategy == "min" and series.min_text is not None:
                out[name] = series.min_text
            elif strategy == "max" and series.max_text is not None:
                out[name] = series.max_text
            else:
                out[name] = series.latest
        return out
