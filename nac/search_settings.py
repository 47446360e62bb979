"""What a NAC construction searches: the base EnvelopeNet and the restructuring schedule.

One settings type for both places a construction runs, so they cannot drift apart:

- the in-process driver, `nac.construct.NACSettings`, extends it with the truncated-run
  recipe (`training`);
- the Katib `nac` suggestion builds it from the Experiment's algorithm settings (same names)
  and `nasConfig` (`stages` = numLayers, `envelope` = operations), and the truncated-run recipe
  travels as trial CLI flags (katib/experiments.py).

Pure Python, no torch import: the suggestion image is lean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nac.restructure import RestructureSettings
from nac.spec import ENVELOPE_OPS, ArchitectureSpec, initial_envelopenet

__all__ = ["SearchSettings"]


@dataclass(frozen=True)
class SearchSettings:
    """Network and search settings; defaults are the AMLA construction defaults (CIFAR scale).

    Network: `stages`, `layers_per_stage` (initial cells), stem (`stem_kernel`x`stem_kernel`
    conv with `stem_channels`, optional LRN), `envelope` ops, `skip` (gated skip inputs),
    `branch_dropout` / `head_dropout`. Search: `iterations` (restructurings; the last one's
    result is the constructed network), `max_layers_per_stage`, `construction`,
    `parameter_limits`, `max_filter_prune`, `worst_case`.
    """

    iterations: int = 5
    stages: int = 3
    layers_per_stage: tuple[int, ...] = (2, 2, 2)
    max_layers_per_stage: tuple[int, ...] = (7, 6, 2)
    construction: tuple[bool, ...] = (True, True, False)
    parameter_limits: tuple[bool, ...] = (False, False, False)
    max_filter_prune: int = 6
    worst_case: bool = False
    skip: bool = True
    envelope: tuple[str, ...] = ENVELOPE_OPS
    stem_channels: int = 64
    stem_kernel: int = 1
    lrn: bool = True
    branch_dropout: float = 0.2
    head_dropout: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) \
                or self.iterations < 1:
            raise ValueError(f"iterations: must be an integer >= 1, got {self.iterations!r}")
        for name in ("layers_per_stage", "max_layers_per_stage", "construction",
                     "parameter_limits"):
            value = tuple(getattr(self, name))
            object.__setattr__(self, name, value)
            if len(value) != self.stages:
                raise ValueError(f"{name}: has {len(value)} entries but stages is {self.stages}; "
                                 "give one value per stage")
        object.__setattr__(self, "envelope", tuple(self.envelope))
        for name in ("branch_dropout", "head_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0 <= value < 1:
                raise ValueError(f"{name}: must be a number in [0, 1), got {value!r}")
        self.restructure_settings()  # validates the shared fields

    def restructure_settings(self) -> RestructureSettings:
        return RestructureSettings.of(self)

    def initial_spec(self, input_shape: tuple[int, int, int], num_classes: int
                     ) -> ArchitectureSpec:
        """The base EnvelopeNet of these settings for data of `input_shape` (C, H, W)."""
        return initial_envelopenet(
            input_shape, num_classes, stages=self.stages, layers_per_stage=self.layers_per_stage,
            stem_channels=self.stem_channels, stem_kernel=self.stem_kernel, lrn=self.lrn,
            envelope=self.envelope, skip=self.skip, parameter_limits=self.parameter_limits,
            branch_dropout=self.branch_dropout, head_dropout=self.head_dropout)

    def search_fields(self) -> dict[str, Any]:
        """The fields of this type only (a subclass's extra fields, e.g. `training`, left out)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(SearchSettings)}
