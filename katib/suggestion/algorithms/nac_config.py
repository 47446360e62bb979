"""The `nac` algorithm's settings: parsed from the Experiment into one frozen config.

The network and search fields are a `nac.search_settings.SearchSettings`, the type the
in-process construction driver uses too (same names, same defaults), so a setting means the
same thing in both places; `nasConfig` gives `stages` (numLayers) and `envelope` (operations).
Validation also checks that maxTrialCount reaches the constructed network under Katib's
slot refilling (katib/nac_schedule.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from katib import nac_schedule, nac_stats
from katib.nac_operations import FILTER_SIZE, FILTER_SIZES, ops_from_operations
from katib.types import validate_experiment_name
from nac.search_settings import SearchSettings

from ..errors import SuggestionInputError
from ..search_space import ExperimentView, NasConfig, Parameter, ParamKind
from ..settings import Setting, SettingsTable

_D = SearchSettings()  # the defaults the in-process driver uses too


def _settings_table() -> SettingsTable:
    return SettingsTable(
        "nac",
        (
            Setting("iterations", "int", _D.iterations,
                    "restructuring steps; iteration N trains the result", minimum=1,
                    maximum=100),
            Setting("layers_per_stage", "int_list", _D.layers_per_stage,
                    "initial cells per stage", minimum=1, maximum=64),
            Setting("max_layers_per_stage", "int_list", _D.max_layers_per_stage,
                    "growth cap per stage (tested before adding a cell)", minimum=1, maximum=64),
            Setting("construction", "bool_list", _D.construction,
                    "whether each stage is pruned and expanded"),
            Setting("max_filter_prune", "int", _D.max_filter_prune,
                    "most branches pruned per stage and iteration", minimum=0, maximum=1000),
            Setting("skip", "bool", _D.skip,
                    "gated skip connections (pruned to the strongest half)"),
            Setting("stem_channels", "int", _D.stem_channels,
                    "stem width; stage s cells are 2^s times it", minimum=1, maximum=4096),
            Setting("stem_kernel", "int", _D.stem_kernel,
                    "stem convolution kernel (1, 3, 5 or 7)", minimum=1, maximum=7),
            Setting("lrn", "bool", _D.lrn, "local response normalisation after the stem"),
            Setting("parameter_limits", "bool_list", None,
                    "per stage: shrink inner cells to keep parameters flat (default all false)"),
            Setting("branch_dropout", "float", _D.branch_dropout,
                    "dropout after every branch", minimum=0, maximum=0.95),
            Setting("head_dropout", "float", _D.head_dropout, "dropout before the classifier",
                    minimum=0, maximum=0.95),
            Setting("worst_case", "bool", _D.worst_case,
                    "prune the strongest branches (ablation)"),
            Setting("seed", "int", 0, "base seed; replica r of iteration i trains with "
                    "seed + i + 1000*r", minimum=0, maximum=2**31 - 1 - 200_000),
            Setting("trials_per_iteration", "int", None,
                    "succeeded replicas averaged per iteration (default parallelTrialCount)",
                    minimum=1, maximum=100),
            Setting("stat", "choice", "meansss", "branch statistic ranked for pruning; trials "
                    "must print it (katib.trial --stat-mode)", choices=nac_stats.STATS),
        ),
    )


TABLE = _settings_table()
#: Settings that are SearchSettings fields of the same name (the rest are Katib-only).
SEARCH_SETTINGS = tuple(name for name in TABLE.names if hasattr(_D, name))


@dataclass(frozen=True)
class NACConfig:
    """Everything derived from the Experiment that fixes the construction."""

    search: SearchSettings
    input_shape: tuple[int, int, int]
    num_classes: int
    seed: int
    trials_per_iteration: int  # succeeded replicas per iteration
    stat: str
    parallel: int
    max_trials: int

    @property
    def replicas(self) -> int:
        return self.trials_per_iteration

    @property
    def iterations(self) -> int:
        return self.search.iterations

    def restructure_settings(self) -> Any:
        return self.search.restructure_settings()

    def initial_spec(self) -> Any:
        return self.search.initial_spec(self.input_shape, self.num_classes)

    def trial_seed(self, iteration: int, replica: int) -> int:
        return (self.seed + iteration + 1000 * replica) % 2**31


def _envelope(nas: NasConfig) -> tuple[str, ...]:
    """The branch ops of nasConfig.operations (katib/nac_operations.py maps them)."""
    try:
        return ops_from_operations(_operations(nas))
    except ValueError as e:
        raise SuggestionInputError(str(e)) from None


def _operations(nas: NasConfig) -> Iterator[tuple[str, list[int]]]:
    for op in nas.operations:
        if op.operation_type not in FILTER_SIZES:
            yield op.operation_type, []  # refused by ops_from_operations, naming the types
            continue
        names = [p.name for p in op.parameters]
        if names != [FILTER_SIZE]:
            extra = sorted(set(names) - {FILTER_SIZE})
            raise SuggestionInputError(
                f"nasConfig.operations[{op.operation_type}]: nac reads only parameter "
                f"'{FILTER_SIZE}' (widths come from stem_channels, strides from the wideners); "
                + (f"remove {extra}" if extra else f"add {FILTER_SIZE}")
            )
        yield op.operation_type, _filter_sizes(op.parameters[0], op.operation_type)


def _filter_sizes(p: Parameter, op_type: str) -> list[int]:
    if p.kind in (ParamKind.CATEGORICAL, ParamKind.DISCRETE):
        try:
            return [int(float(v)) for v in p.values]
        except ValueError:
            raise SuggestionInputError(
                f"nasConfig.operations[{op_type}]: filter_size values {list(p.values)} must be "
                "integers"
            ) from None
    assert p.low is not None and p.high is not None
    step = int(p.step or 2) if p.kind is ParamKind.INT else 2
    return list(range(int(p.low), int(p.high) + 1, step))


def config_from(experiment: ExperimentView) -> NACConfig:
    values = TABLE.parse(experiment.settings)
    nas = experiment.nas
    if nas is None:
        raise SuggestionInputError(
            "algorithm nac needs spec.nasConfig (graphConfig and operations); "
            "for hyperparameter experiments use warm-start"
        )
    # Trial names are derived from it: Katib's own Experiment-name rule.
    validate_experiment_name(experiment.name, where="experiment name", error=SuggestionInputError)
    g = nas
    stages = g.num_layers
    if stages < 1:
        raise SuggestionInputError(
            "nasConfig.graphConfig.numLayers (the number of stages) must be >= 1"
        )
    if len(g.input_sizes) != 3 or min(g.input_sizes) < 1:
        raise SuggestionInputError(
            f"nasConfig.graphConfig.inputSizes must be [height, width, channels], got "
            f"{list(g.input_sizes)}"
        )
    if len(g.output_sizes) != 1 or g.output_sizes[0] < 2:
        raise SuggestionInputError(
            f"nasConfig.graphConfig.outputSizes must be [number of classes >= 2], got "
            f"{list(g.output_sizes)}"
        )
    if values["parameter_limits"] is None:
        values["parameter_limits"] = (False,) * stages
    if values["stem_kernel"] % 2 == 0:
        raise SuggestionInputError(
            f"algorithm setting stem_kernel={values['stem_kernel']} must be odd (1, 3, 5 or 7)"
        )
    for name in ("layers_per_stage", "max_layers_per_stage", "construction", "parameter_limits"):
        if len(values[name]) != stages:
            raise SuggestionInputError(
                f"algorithm setting {name} has {len(values[name])} entries but "
                f"nasConfig.graphConfig.numLayers is {stages}; give one value per stage"
            )
    envelope = _envelope(nas) if nas.operations else ()
    h, w, c = g.input_sizes
    if min(h, w) < 2 ** (stages - 1):
        raise SuggestionInputError(
            f"nasConfig.graphConfig.inputSizes {h}x{w} is too small for {stages} stages "
            f"(each widener halves it); use fewer stages"
        )
    try:
        search = SearchSettings(stages=stages, envelope=envelope or _D.envelope,
                                **{k: values[k] for k in SEARCH_SETTINGS})
    except ValueError as e:
        raise SuggestionInputError(f"algorithm setting {e}") from None
    except Exception as e:  # RestructureError and friends: a setting out of range
        raise SuggestionInputError(f"algorithm settings: {e}") from None
    cfg = TABLE.fill(
        NACConfig, values,
        search=search,
        input_shape=(c, h, w),
        num_classes=g.output_sizes[0],
        trials_per_iteration=values["trials_per_iteration"] or experiment.parallel_trial_count,
        parallel=experiment.parallel_trial_count,
        max_trials=experiment.max_trial_count,
    )
    _check_budget(cfg)
    return cfg


def _check_budget(cfg: NACConfig) -> None:
    """maxTrialCount must reach the constructed network under Katib's slot refilling."""
    need = nac_schedule.min_max_trial_count(cfg.iterations, cfg.replicas, cfg.parallel)
    full = nac_schedule.min_max_trial_count(cfg.iterations, cfg.replicas, cfg.parallel,
                                            constructed=cfg.replicas)
    why = (f"with iterations={cfg.iterations}, trials_per_iteration={cfg.replicas} and "
           f"parallelTrialCount={cfg.parallel}, Katib's controller may create up to "
           f"{cfg.iterations}*({cfg.replicas}+{cfg.parallel}-1) = {need - 1} trials before the "
           "constructed network's first one (it refills every free slot while an iteration "
           "waits for its replicas)")
    if cfg.max_trials <= 0:
        raise SuggestionInputError(
            f"spec.maxTrialCount is required for nac (it would re-train the constructed "
            f"network forever): {why}; set maxTrialCount to {full} (at least {need}), plus "
            "maxFailedTrialCount for failures")
    if cfg.max_trials < need:
        raise SuggestionInputError(
            f"spec.maxTrialCount {cfg.max_trials} is too small for nac to train the "
            f"constructed network: {why}; set maxTrialCount >= {need} ({full} trains it "
            f"{cfg.replicas} times), plus maxFailedTrialCount for failures, or lower "
            "parallelTrialCount")
