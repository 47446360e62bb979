"""The NAC construction driver: iterate (truncated training -> statistics -> restructure).

    result = construct(train_ds, val_ds, NACSettings.small_images(), progress=print)
    result.spec        # the constructed architecture (train it from scratch for the final net)
    result.trace       # per iteration: spec, branch counts, parameters, stats, val accuracy, time

Schedule (reference/nac.md §1.8): iteration 0 trains the base EnvelopeNet; iterations
1..T-1 restructure from the previous run's statistics and train the result, each from scratch;
the T-th restructuring is not trained and is the output. So T truncated runs and T
restructurings. Accuracy is recorded for monitoring only; it never steers the search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nac.restructure import RestructureSettings, plan_restructure
from nac.spec import ENVELOPE_OPS, ArchitectureSpec, initial_envelopenet
from nac.training import TrainConfig, train

__all__ = ["ConstructionResult", "IterationRecord", "NACSettings", "construct"]


def _reference_truncated_training() -> TrainConfig:
    """AMLA construction child training: batch 50, lr 0.04 (effectively constant), clip 5."""
    return TrainConfig(epochs=10, batch_size=50, lr=0.04, momentum=0.9, nesterov=True,
                       weight_decay=3e-4, schedule="constant", grad_clip=5.0, stats=True,
                       val_every=1000)


@dataclass(frozen=True)
class NACSettings:
    """Construction settings. Defaults are the AMLA construction defaults (CIFAR-10 scale).

    Network: `stages`, `layers_per_stage` (initial cells), stem (`stem_kernel`x`stem_kernel`
    conv with `stem_channels`, optional LRN), `envelope` ops, `skip` (gated skip inputs).
    Search: `iterations`, `max_layers_per_stage`, `construction`, `parameter_limits`,
    `max_filter_prune`, `worst_case`. `training`: the truncated run (statistics are switched
    on regardless); iteration t uses seed `training.seed + t`.
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
    training: TrainConfig = field(default_factory=_reference_truncated_training)

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
        self.restructure_settings()  # validates the shared fields

    @classmethod
    def small_images(cls, **overrides: Any) -> NACSettings:
        """Preset for small images (8x8 .. 32x32) on a CPU: minutes, not GPU-days.

        Tuned on `builtin:digits` (1x8x8, ~1.3k training rows) so a search takes well under
        180 s on 2 CPU cores: a 3x3 stem with 32 channels and no LRN (an 8x8 image needs
        spatial context in the stem; LRN only slows small nets), 2+2+1 initial cells, stages 0
        and 1 constructing with cap 4 (2 -> 3 -> 4 -> 5 cells, 12 -> 14 -> 16 -> 17 branches),
        3 iterations of 6 epochs at batch 32 with cosine decay from 0.05. Everything else
        (prune budget, statistic, skip gating) is the reference's.
        """
        base = cls(
            iterations=3,
            stages=3,
            layers_per_stage=(2, 2, 1),
            max_layers_per_stage=(4, 4, 1),
            construction=(True, True, False),
            parameter_limits=(False, False, False),
            stem_channels=32,
            stem_kernel=3,
            lrn=False,
            training=TrainConfig(epochs=6, batch_size=32, lr=0.05, schedule="cosine",
                                 weight_decay=3e-4, grad_clip=5.0, stats=True, val_every=1000),
        )
        return replace(base, **overrides) if overrides else base

    def restructure_settings(self) -> RestructureSettings:
        return RestructureSettings.of(self)

    def initial_spec(self, input_shape: tuple[int, int, int], num_classes: int
                     ) -> ArchitectureSpec:
        """The base EnvelopeNet of these settings for data of `input_shape`."""
        return initial_envelopenet(
            input_shape, num_classes, stages=self.stages, layers_per_stage=self.layers_per_stage,
            stem_channels=self.stem_channels, stem_kernel=self.stem_kernel, lrn=self.lrn,
            envelope=self.envelope, skip=self.skip, parameter_limits=self.parameter_limits,
            branch_dropout=self.branch_dropout, head_dropout=self.head_dropout)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["training"] = asdict(self.training)
        return doc


@dataclass
class IterationRecord:
    """One truncated run and the restructuring it drove."""

    iteration: int
    spec: ArchitectureSpec  # what was trained
    branch_counts: list[int]  # per stage
    branches_per_cell: list[list[int]]
    parameters: int
    val_accuracy: float | None
    seconds: float  # training + restructuring wall time
    branch_stats: dict[str, float]
    gate_stats: dict[str, float]
    pruned: dict[int, list[str]]  # stage -> branch keys removed by the following restructure
    added: dict[int, str]  # stage -> id of the cell appended

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "spec": self.spec.to_json(),
            "branch_counts": self.branch_counts, "branches_per_cell": self.branches_per_cell,
            "parameters": self.parameters, "val_accuracy": self.val_accuracy,
            "seconds": self.seconds, "branch_stats": self.branch_stats,
            "gate_stats": self.gate_stats,
            "pruned": {str(k): v for k, v in self.pruned.items()},
            "added": {str(k): v for k, v in self.added.items()},
        }


@dataclass
class ConstructionResult:
    spec: ArchitectureSpec  # the constructed network
    trace: list[IterationRecord]
    seconds: float
    initial_spec: ArchitectureSpec

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json(), "initial_spec": self.initial_spec.to_json(),
                "seconds": self.seconds, "trace": [r.to_json() for r in self.trace]}


def construct(
    train_ds: Any,
    val_ds: Any | None = None,
    settings: NACSettings | None = None,
    *,
    progress: Callable[[IterationRecord], None] | None = None,
    initial: ArchitectureSpec | None = None,
) -> ConstructionResult:
    """Run NAC on `train_ds` and return the constructed spec with a per-iteration trace.

    `initial` overrides the base network (default: `settings.initial_spec` for the data's
    shape and class count). `progress` is called after every iteration.
    """
    settings = settings or NACSettings()
    started = time.perf_counter()
    spec = initial or settings.initial_spec(tuple(int(v) for v in train_ds.x.shape[1:]),
                                            len(train_ds.classes))
    first = spec
    rs = settings.restructure_settings()
    trace: list[IterationRecord] = []
    for t in range(settings.iterations):
        t0 = time.perf_counter()
        config = replace(settings.training, stats=True, seed=settings.training.seed + t,
                         checkpoint_dir=None)
        result = train(spec, train_ds, val_ds, config)
        plan = plan_restructure(spec, result.branch_stats, result.gate_stats, rs)
        record = IterationRecord(
            iteration=t, spec=spec, branch_counts=spec.branch_counts(),
            branches_per_cell=spec.branches_per_cell(), parameters=result.parameters,
            val_accuracy=result.val_accuracy, seconds=time.perf_counter() - t0,
            branch_stats=result.branch_stats, gate_stats=result.gate_stats,
            pruned=plan.pruned, added=plan.added)
        trace.append(record)
        if progress is not None:
            progress(record)
        spec = plan.spec
    return ConstructionResult(spec=spec, trace=trace, seconds=time.perf_counter() - started,
                              initial_spec=first)
