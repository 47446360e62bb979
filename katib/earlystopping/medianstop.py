"""Katib's medianstop rule, served by our service too (katib.local parity, benchmarks).

Arithmetic as Katib's ``pkg/earlystopping/v1beta1/medianstop/service.py:get_median_value``:
average each Succeeded trial's first ``start_step`` values; once ``min_trials_required`` trials
are averaged, the rule is ``objective LESS mean(averages)`` (``GREATER`` when minimizing) at
``start_step`` (Katib's "median" is a mean; we keep its arithmetic so the same trials stop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from katib.suggestion.settings import Setting, SettingsTable

from .rules import GREATER, LESS, StopRule

ALGORITHM = "medianstop"
TABLE = SettingsTable(ALGORITHM, (
    Setting("min_trials_required", "int", 3, "succeeded trials before a rule exists",
            minimum=1, maximum=1_000_000),
    Setting("start_step", "int", 4, "reports averaged, and the report the rule is checked at",
            minimum=1, maximum=1_000_000),
))


@dataclass(frozen=True)
class MedianConfig:
    min_trials_required: int
    start_step: int


def parse(settings: Iterable[tuple[str, str]]) -> MedianConfig:
    values = TABLE.parse(list(settings))
    return MedianConfig(values["min_trials_required"], values["start_step"])


def rule_for_next(cfg: MedianConfig, metric: str, maximize: bool,
                  succeeded: Mapping[str, Sequence[float]]) -> StopRule | None:
    averages = [sum(h[: cfg.start_step]) / len(h[: cfg.start_step])
                for h in succeeded.values() if h]
    if len(averages) < cfg.min_trials_required:
        return None
    return StopRule(metric, sum(averages) / len(averages), LESS if maximize else GREATER,
                    cfg.start_step)
