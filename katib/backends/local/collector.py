"""Katib's StdOut metrics collector, line by line, for a trial's merged stdout/stderr.

Semantics copied from Katib's file metrics collector (`parseLogs`) and the trial controller's
`getMetrics`:
- only lines containing one of the metric names are parsed;
- every filter regex (the default `([\\w|-]+)\\s*=\\s*(...)` or the Experiment's
  `metricsFormat`) is applied with find-all; group 1 is the name, group 2 the value;
- per metric the observation is picked by its strategy: `min` / `max` over the numeric values
  or `latest`; min/max fall back to latest when no value is numeric;
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
from typing import Any

from katib import constants as c
from katib.suggestion.metrics import parse_metric


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
        """Parse one log line; return the (name, value) pairs it reported."""
        return self.parse_text(line)

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
