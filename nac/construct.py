"""The NAC construction driver: iterate (truncated training -> statistics -> restructure).

    result = construct(train_ds, val_ds, NACSettings.small_images(), progress=print)
    result.spec        # the constructed architecture (train it from scratch for the final net)
    result.trace       # per iteration: spec, branch counts, parameters, stats, val accuracy, time

Schedule (reference/nac.md §1.8): iteration 0 trains the base EnvelopeNet; iterations
1..T-1 restructure from the previous run's statistics and train the result, each from scratch;
the T-th restructuring is not trained and is the output. So T truncated runs and T
restructurings. Accuracy is recorded for monitoring only; it never steers the search.

Two options beyond the reference (both off by default, so the default run is AMLA's):

- `inherit_weights`: iteration t+1 starts from iteration t's trained weights (nac.inherit:
  surviving branches keep theirs, new cells start near identity) and trains `inherit_epochs`
  epochs instead of the full truncated run. Measured in benchmarks/nac_cifar10.py.
- `max_parameters` / `max_macs`: a budget the search never exceeds. A restructuring whose
  result is over budget is re-planned without the appended cell in the latest expanding stage,
  then the one before, ...; if even the prune-only network is over budget the search stops and
  returns the last network within budget. An initial EnvelopeNet over budget is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nac.cost import spec_cost, spec_parameters
from nac.inherit import inherit_weights
from nac.restructure import RestructurePlan, RestructureSettings, plan_restructure
from nac.search_settings import SearchSettings
from nac.spec import ArchitectureSpec
from nac.training import TrainConfig, train

__all__ = ["ConstructionResult", "IterationRecord", "NACSettings", "construct"]


def _reference_truncated_training() -> TrainConfig:
    """AMLA construction child training: batch 50, lr 0.04 (effectively constant), clip 5."""
    return TrainConfig(epochs=10, batch_size=50, lr=0.04, momentum=0.9, nesterov=True,
                       weight_decay=3e-4, schedule="constant", grad_clip=5.0, stats=True,
                       val_every=1000)


@dataclass(frozen=True)
class NACSettings(SearchSettings):
    """Construction settings: the network and search fields of `SearchSettings` (shared with the
    Katib `nac` suggestion; defaults are the AMLA construction defaults, CIFAR-10 scale) plus
    `training`, the truncated run (statistics are switched on regardless); iteration t uses
    seed `training.seed + t`. `inherit_weights`, `inherit_epochs` (default: a quarter of
    `training.epochs`, at least 1), `max_parameters`, `max_macs`: see the module docstring.
    """

    training: TrainConfig = field(default_factory=_reference_truncated_training)
    inherit_weights: bool = False
    inherit_epochs: int | None = None
    max_parameters: int | None = None
    max_macs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("inherit_epochs", "max_parameters", "max_macs"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}: must be an integer >= 1 or None, got {v!r}")

    def epochs_at(self, iteration: int) -> int:
        """Truncated-run epochs of `iteration` (shorter after the first when inheriting)."""
        if iteration == 0 or not self.inherit_weights:
            return self.training.epochs
        return self.inherit_epochs or max(1, self.training.epochs // 4)

    def over_budget(self, spec: ArchitectureSpec) -> str | None:
        """Why `spec` exceeds the budget (None when it fits or there is none)."""
        if self.max_parameters is None and self.max_macs is None:
            return None
        params = spec_parameters(spec)
        if self.max_parameters is not None and params > self.max_parameters:
            return f"{params:,} parameters > max_parameters {self.max_parameters:,}"
        macs = spec_cost(spec)[1] if self.max_macs is not None else 0
        if self.max_macs is not None and macs > self.max_macs:
            return f"{macs:,} MACs > max_macs {self.max_macs:,}"
        return None

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
    epochs: int = 0  # epochs of this truncated run
    inherited_fraction: float | None = None  # share of parameters inherited (None: scratch)
    budget_note: str | None = None  # what the budget changed in the following restructure

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "spec": self.spec.to_json(),
            "branch_counts": self.branch_counts, "branches_per_cell": self.branches_per_cell,
            "parameters": self.parameters, "val_accuracy": self.val_accuracy,
            "seconds": self.seconds, "branch_stats": self.branch_stats,
            "gate_stats": self.gate_stats,
            "pruned": {str(k): v for k, v in self.pruned.items()},
            "added": {str(k): v for k, v in self.added.items()},
            "epochs": self.epochs, "inherited_fraction": self.inherited_fraction,
            "budget_note": self.budget_note,
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
    parent: Any = None,
) -> ConstructionResult:
    """Run NAC on `train_ds` and return the constructed spec with a per-iteration trace.

    `initial` overrides the base network (default: `settings.initial_spec` for the data's
    shape and class count). `progress` is called after every iteration.
    `parent` (a `nac.finetune.Parent`: an earlier Model) starts the search from that Model:
    its architecture (head sized for the data's classes) is the base network, iteration 0
    starts from its weights (head re-initialised when the classes differ) on data scaled
    with its normalisation, and every later iteration inherits along the restructuring
    (nac.inherit, as `inherit_weights`), so the parent's features are not thrown away.
    """
    settings = settings or NACSettings()
    started = time.perf_counter()
    shape = tuple(int(v) for v in train_ds.x.shape[1:])
    parent_init = None
    if parent is not None:
        from nac.finetune import ParentInit, child_spec, with_parent_normalization

        if initial is not None:
            raise ValueError("construct: give `initial` or `parent`, not both (the parent's "
                             "architecture is the base network)")
        initial = child_spec(parent, len(train_ds.classes), shape)
        train_ds, val_ds = (with_parent_normalization(parent, d) for d in (train_ds, val_ds))
        parent_init = ParentInit(parent.state, scope="all", tag=parent.sha256,
                                 keep_head=list(train_ds.classes) == list(parent.meta.classes))
    spec = initial or settings.initial_spec(shape, len(train_ds.classes))
    first = spec
    over = settings.over_budget(spec)
    if over is not None:
        raise ValueError(f"budget: the initial EnvelopeNet already has {over}; raise the budget "
                         "or start smaller (stem_channels, layers_per_stage)")
    rs = settings.restructure_settings()
    trace: list[IterationRecord] = []
    previous = None  # the last trained model, when inheriting
    for t in range(settings.iterations):
        t0 = time.perf_counter()
        config = replace(settings.training, stats=True, seed=settings.training.seed + t,
                         checkpoint_dir=None, epochs=settings.epochs_at(t))
        fraction: list[float] = []
        init = parent_init if t == 0 else None
        if previous is not None:
            def init(model, parent=previous, fraction=fraction):
                fraction.append(inherit_weights(parent, model).fraction)
                return model
        result = train(spec, train_ds, val_ds, config, init=init)
        if init is not None and init is parent_init:
            fraction.append(parent_init.loaded_fraction)
        if settings.inherit_weights or parent_init is not None:
            previous = result.model
        plan, note = _plan_within_budget(spec, result.branch_stats, result.gate_stats, rs,
                                         settings)
        record = IterationRecord(
            iteration=t, spec=spec, branch_counts=spec.branch_counts(),
            branches_per_cell=spec.branches_per_cell(), parameters=result.parameters,
            val_accuracy=result.val_accuracy, seconds=time.perf_counter() - t0,
            branch_stats=result.branch_stats, gate_stats=result.gate_stats,
            pruned=plan.pruned if plan else {}, added=plan.added if plan else {},
            epochs=config.epochs, inherited_fraction=fraction[0] if fraction else None,
            budget_note=note)
        trace.append(record)
        if progress is not None:
            progress(record)
        if plan is None:  # every restructuring is over budget: keep the last network
            break
        spec = plan.spec
    return ConstructionResult(spec=spec, trace=trace, seconds=time.perf_counter() - started,
                              initial_spec=first)


def _plan_within_budget(spec: ArchitectureSpec, branch_stats: dict[str, float],
                        gate_stats: dict[str, float], rs: RestructureSettings,
                        settings: NACSettings) -> tuple[RestructurePlan | None, str | None]:
    """The restructuring, re-planned without appends (latest stage first) to fit the budget."""
    plan = plan_restructure(spec, branch_stats, gate_stats, rs)
    over = settings.over_budget(plan.spec)
    if over is None:
        return plan, None
    expand = [True] * len(spec.stages)
    for s in sorted(plan.added, reverse=True):
        expand[s] = False
        plan = plan_restructure(spec, branch_stats, gate_stats, replace(rs, expand=tuple(expand)))
        if settings.over_budget(plan.spec) is None:
            dropped = [i for i, e in enumerate(expand) if not e]
            return plan, f"{over}: no cell appended in stage(s) {dropped}"
    return None, f"{over} even without appending cells: search stopped"
