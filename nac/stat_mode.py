"""`StatMode`: the per-branch statistic NAC ranks branches by, under its one (wire) name.

The names are the `nac-stats` metric's (docs/contracts.md §4, katib/nac_stats.py): `meansss`
(the reference's MeanSSS: the running mean of y^2 over every element a branch outputs) and
`variance` (the mean over positions of the across-image variance). Torch-free, so the
suggestion image and the trial CLI share it with the builder (nac/ops.py). The spelling
`mean_sq` of earlier releases (TrainConfig.stat_mode, --stat-mode) is still accepted.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["STAT_MODE_ALIASES", "StatMode"]


class StatMode(StrEnum):
    """What a branch accumulates while statistics are on."""

    MEANSSS = "meansss"  # running mean of y^2: the reference's MeanSSS (up to a constant)
    VARIANCE = "variance"  # mean over positions of the across-image variance of y

    @classmethod
    def _missing_(cls, value: object) -> StatMode | None:
        return cls(STAT_MODE_ALIASES[value]) if value in STAT_MODE_ALIASES else None


#: Older spellings users may have written -> the one name.
STAT_MODE_ALIASES = {"mean_sq": "meansss"}
