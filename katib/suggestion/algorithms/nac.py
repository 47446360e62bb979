"""``nac``: Neural Architecture Construction with EnvelopeNets as a Katib NAS algorithm.

Iterations (reference/nac.md §1.6-1.8): iteration 0 trains the initial EnvelopeNet built from
``nasConfig`` and the settings; iteration i+1 trains ``restructure(spec_i, stats_i)`` where
``stats_i`` is the per-key mean of the ``nac-stats`` metric over iteration i's succeeded
replicas. Iteration ``iterations`` is the constructed network; it is re-emitted (new replicas,
new seeds) for as long as Katib asks, because Katib has no "done" signal.

Parallelism: each iteration needs ``trials_per_iteration`` succeeded replicas (different seeds,
default ``parallelTrialCount``); every requested slot gets the next replica of the lowest
incomplete iteration, so slots never idle and a failed replica is replaced automatically. An
iteration is complete once it has that many succeeded replicas with statistics; replicas still
running then are ignored.

State lives only in ``request.trials``. Each trial carries ``iteration`` and ``architecture``
assignments, so spec_i is read back from any iteration-i trial (restart-safe, stable even when
late replicas finish after the next iteration started); only the frontier restructuring is
computed, and it is cached by (spec, statistics).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from katib import nac_stats

from ..constants import MAX_TRIAL_NAME, NAC_PARAMETERS, NAC_STATS_METRIC
from ..errors import SuggestionInputError
from ..search_space import ExperimentView, NasConfig, Parameter, ParamKind
from ..settings import Setting, SettingsTable
from ..trials import Condition, TrialView
from .base import Algorithm, Assignment, SuggestionRequest

# Katib ENAS-style operation types and the filter sizes each maps onto (nac.spec op names).
CONVOLUTION = "convolution"
SEPARABLE = "separable_convolution"
_OP_SIZES = {CONVOLUTION: (1, 3, 5, 7), SEPARABLE: (3, 5, 7)}
_CACHE_SIZE = 256
_RUNNING = (Condition.CREATED, Condition.RUNNING, Condition.UNKNOWN)


def _settings_table() -> SettingsTable:
    return SettingsTable(
        "nac",
        (
            Setting("iterations", "int", 5, "restructuring steps; iteration N trains the result",
                    minimum=0, maximum=100),
            Setting("layers_per_stage", "int_list", (2, 2, 2), "initial cells per stage",
                    minimum=1, maximum=64),
            Setting("max_layers_per_stage", "int_list", (7, 6, 2),
                    "growth cap per stage (tested before adding a cell)", minimum=1, maximum=64),
            Setting("construction", "bool_list", (True, True, False),
                    "whether each stage is pruned and expanded"),
            Setting("max_filter_prune", "int", 6, "most branches pruned per stage and iteration",
                    minimum=0, maximum=1000),
            Setting("skip", "bool", True, "gated skip connections (pruned to the strongest half)"),
            Setting("stem_channels", "int", 64, "stem width; stage s cells are 2^s times it",
                    minimum=1, maximum=4096),
            Setting("stem_kernel", "int", 1, "stem convolution kernel (1, 3, 5 or 7)",
                    minimum=1, maximum=7),
            Setting("lrn", "bool", True, "local response normalisation after the stem"),
            Setting("parameter_limits", "bool_list", None,
                    "per stage: shrink inner cells to keep parameters flat (default all false)"),
            Setting("worst_case", "bool", False, "prune the strongest branches (ablation)"),
            Setting("seed", "int", 0, "base seed; replica r of iteration i trains with "
                    "seed + i + 1000*r", minimum=0, maximum=2**31 - 1 - 200_000),
            Setting("trials_per_iteration", "int", None,
                    "succeeded replicas averaged per iteration (default parallelTrialCount)",
                    minimum=1, maximum=100),
            Setting("stat", "choice", "meansss", "branch statistic ranked for pruning; trials "
                    "must print it (katib.trial --stat-mode)", choices=nac_stats.STATS),
        ),
    )


_TABLE = _settings_table()


@dataclass(frozen=True)
class NacConfig:
    """Everything derived from the Experiment that fixes the construction."""

    input_shape: tuple[int, int, int]
    num_classes: int
    envelope: tuple[str, ...]
    iterations: int
    layers_per_stage: tuple[int, ...]
    max_layers_per_stage: tuple[int, ...]
    construction: tuple[bool, ...]
    max_filter_prune: int
    skip: bool
    stem_channels: int
    stem_kernel: int
    lrn: bool
    parameter_limits: tuple[bool, ...]
    worst_case: bool
    seed: int
    replicas: int
    stat: str

    def restructure_settings(self) -> Any:
        from nac.restructure import RestructureSettings

        return RestructureSettings.of(self)

    def initial_spec(self) -> Any:
        from nac.spec import initial_envelopenet

        return initial_envelopenet(
            self.input_shape,
            self.num_classes,
            stages=len(self.layers_per_stage),
            layers_per_stage=self.layers_per_stage,
            stem_channels=self.stem_channels,
            stem_kernel=self.stem_kernel,
            lrn=self.lrn,
            envelope=self.envelope,
            skip=self.skip,
            parameter_limits=self.parameter_limits,
        )

    def trial_seed(self, iteration: int, replica: int) -> int:
        return (self.seed + iteration + 1000 * replica) % 2**31


def _envelope(nas: NasConfig) -> tuple[str, ...]:
    from nac.spec import OPS

    wanted: set[str] = set()
    for op in nas.operations:
        sizes = _OP_SIZES.get(op.operation_type)
        if sizes is None:
            raise SuggestionInputError(
                f"nasConfig.operations: operationType {op.operation_type!r} is not supported "
                f"by nac; use {CONVOLUTION} (filter_size 1,3,5,7) or {SEPARABLE} "
                "(filter_size 3,5,7)"
            )
        names = [p.name for p in op.parameters]
        if names != ["filter_size"]:
            extra = sorted(set(names) - {"filter_size"})
            raise SuggestionInputError(
                f"nasConfig.operations[{op.operation_type}]: nac reads only parameter "
                f"'filter_size' (widths come from stem_channels, strides from the wideners); "
                + (f"remove {extra}" if extra else "add filter_size")
            )
        for size in _filter_sizes(op.parameters[0], op.operation_type):
            if size not in sizes:
                raise SuggestionInputError(
                    f"nasConfig.operations[{op.operation_type}]: filter_size {size} is not "
                    f"supported; allowed: {', '.join(map(str, sizes))}"
                )
            wanted.add(f"{size}x{size}" + ("sep" if op.operation_type == SEPARABLE else ""))
    return tuple(name for name in OPS if name in wanted)


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


def _config(experiment: ExperimentView) -> NacConfig:
    values = _TABLE.parse(experiment.settings)
    nas = experiment.nas
    if nas is None:
        raise SuggestionInputError(
            "algorithm nac needs spec.nasConfig (graphConfig and operations); "
            "for hyperparameter experiments use warm-start"
        )
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", experiment.name):
        raise SuggestionInputError(
            f"experiment name {experiment.name!r} must be a DNS-1123 label: trial names are "
            "derived from it"
        )
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
    if not envelope:
        from nac.spec import ENVELOPE_OPS

        envelope = ENVELOPE_OPS
    h, w, c = g.input_sizes
    if min(h, w) < 2 ** (stages - 1):
        raise SuggestionInputError(
            f"nasConfig.graphConfig.inputSizes {h}x{w} is too small for {stages} stages "
            f"(each widener halves it); use fewer stages"
        )
    return NacConfig(
        input_shape=(c, h, w),
        num_classes=g.output_sizes[0],
        envelope=envelope,
        iterations=values["iterations"],
        layers_per_stage=values["layers_per_stage"],
        max_layers_per_stage=values["max_layers_per_stage"],
        construction=values["construction"],
        max_filter_prune=values["max_filter_prune"],
        skip=values["skip"],
        stem_channels=values["stem_channels"],
        stem_kernel=values["stem_kernel"],
        lrn=values["lrn"],
        parameter_limits=values["parameter_limits"],
        worst_case=values["worst_case"],
        seed=values["seed"],
        replicas=values["trials_per_iteration"] or experiment.parallel_trial_count,
        stat=values["stat"],
    )


def trial_name(experiment: str, iteration: int, replica: int) -> str:
    """``<experiment>-i<iteration>-r<replica>``, shortened with a hash to stay <= 63 chars."""
    suffix = f"-i{iteration}-r{replica}"
    if len(experiment) + len(suffix) <= MAX_TRIAL_NAME:
        return experiment + suffix
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:6]
    head = experiment[: MAX_TRIAL_NAME - len(suffix) - 7].rstrip("-")
    return f"{head}-{digest}{suffix}"


_NAME = re.compile(r"-i(\d+)-r(\d+)$")


@dataclass
class _IterationState:
    architecture: str = ""  # the b64 string emitted for this iteration (first replica's)
    max_replica: int = -1
    stats: list[nac_stats.NacStats] | None = None


class NacAlgorithm(Algorithm):
    """Stateless over calls except bounded caches of decoded specs, stats and restructurings."""

    def __init__(self) -> None:
        self._decoded: OrderedDict[str, Any] = OrderedDict()  # b64 -> ArchitectureSpec
        self._stats: OrderedDict[str, nac_stats.NacStats | None] = OrderedDict()
        self._next: OrderedDict[tuple[Any, ...], str] = OrderedDict()  # (b64, stats) -> b64
        self._initial: OrderedDict[NacConfig, str] = OrderedDict()

    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return _TABLE

    def validate(self, experiment: ExperimentView) -> None:
        cfg = _config(experiment)
        self._initial_b64(cfg)  # builds the EnvelopeNet: surfaces SpecError now

    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        exp = request.experiment
        cfg = _config(exp)
        iters = self._iterations(request.trials, cfg)
        out: list[Assignment] = []
        for _ in range(request.current_request_number):
            current = self._frontier(iters, cfg)
            state = iters.setdefault(current, _IterationState())
            if not state.architecture:
                state.architecture = self._architecture_for(current, iters, cfg)
            state.max_replica += 1
            replica = state.max_replica
            out.append(
                Assignment(
                    values=dict(
                        zip(
                            NAC_PARAMETERS,
                            (
                                state.architecture,
                                str(current),
                                str(cfg.trial_seed(current, replica)),
                            ),
                            strict=True,
                        )
                    ),
                    trial_name=trial_name(exp.name, current, replica),
                    labels={"nac.kubeflow.org/iteration": str(current)},
                )
            )
        return out

    # ------------------------------------------------------------------ history
    def _iterations(
        self, trials: tuple[TrialView, ...], cfg: NacConfig
    ) -> dict[int, _IterationState]:
        iters: dict[int, _IterationState] = {}
        for t in trials:
            try:
                iteration = int(t.assignments.get("iteration", ""))
            except ValueError:
                continue  # not a nac trial (or from another algorithm): ignore
            arch = t.assignments.get("architecture", "")
            if iteration < 0 or not arch:
                continue
            state = iters.setdefault(iteration, _IterationState())
            match = _NAME.search(t.name)
            replica = int(match.group(2)) if match else state.max_replica + 1
            if replica > state.max_replica:
                state.max_replica = replica
            if not state.architecture or (match and replica == 0):
                state.architecture = arch
            if t.condition is Condition.SUCCEEDED:
                stats = self._decode_stats(t.metric_text(NAC_STATS_METRIC))
                if stats is not None and stats.stat == cfg.stat:
                    state.stats = (state.stats or []) + [stats]
        return iters

    def _frontier(self, iters: dict[int, _IterationState], cfg: NacConfig) -> int:
        """Lowest iteration still short of succeeded replicas (or the final iteration)."""
        for i in range(cfg.iterations):
            state = iters.get(i)
            if state is None or len(state.stats or []) < cfg.replicas:
                return i
        return cfg.iterations

    def _architecture_for(self, i: int, iters: dict[int, _IterationState], cfg: NacConfig) -> str:
        if i == 0:
            return self._initial_b64(cfg)
        prev = iters[i - 1]
        branches, gates = nac_stats.average(prev.stats or [])
        key = (prev.architecture, tuple(sorted(branches.items())), tuple(sorted(gates.items())),
               cfg.restructure_settings())
        cached = self._next.get(key)
        if cached is None:
            from nac.restructure import RestructureError, restructure

            spec = self._decode_spec(prev.architecture)
            try:
                cached = restructure(spec, branches, gates, cfg.restructure_settings()).to_b64()
            except RestructureError as e:
                raise SuggestionInputError(
                    f"iteration {i - 1} statistics cannot drive restructuring: {e}"
                ) from None
            _put(self._next, key, cached)
        return cached

    # ------------------------------------------------------------------ caches
    def _initial_b64(self, cfg: NacConfig) -> str:
        cached = self._initial.get(cfg)
        if cached is None:
            from nac.spec import SpecError

            try:
                cached = cfg.initial_spec().to_b64()
            except SpecError as e:
                raise SuggestionInputError(f"cannot build the initial EnvelopeNet: {e}") from None
            _put(self._initial, cfg, cached)
        return cached

    def _decode_spec(self, b64: str) -> Any:
        spec = self._decoded.get(b64)
        if spec is None:
            from nac.spec import SpecError, parse_architecture

            try:
                spec = parse_architecture(b64)
            except SpecError as e:
                raise SuggestionInputError(
                    f"a trial's architecture assignment is invalid: {e}"
                ) from None
            _put(self._decoded, b64, spec)
        return spec

    def _decode_stats(self, text: str | None) -> nac_stats.NacStats | None:
        if not text:
            return None
        if text in self._stats:
            return self._stats[text]
        try:
            stats: nac_stats.NacStats | None = nac_stats.decode(text)
        except nac_stats.NacStatsError:
            stats = None  # "unavailable" or a truncated line: the replica does not count
        _put(self._stats, text, stats)
        return stats


def _put(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
