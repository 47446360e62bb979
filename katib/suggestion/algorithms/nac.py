"""``nac``: Neural Architecture Construction with EnvelopeNets as a Katib NAS algorithm.

Iterations (reference/nac.md §1.6-1.8): iteration 0 trains the initial EnvelopeNet built from
``nasConfig`` and the settings; iteration i+1 trains ``restructure(spec_i, stats_i)`` where
``stats_i`` is the per-key mean of the ``nac-stats`` metric over iteration i's succeeded
replicas. Iteration ``iterations`` is the constructed network; it is re-emitted (new replicas,
new seeds) for as long as Katib asks, because Katib has no "done" signal.

Schedule under Katib's controller (katib/nac_schedule.py): each iteration needs
``trials_per_iteration`` succeeded replicas (different seeds, default ``parallelTrialCount``).
Katib refills every free slot at once, so every requested slot gets the next replica of the
lowest incomplete iteration (a spare that replaces a failed replica, or is wasted); an
iteration is complete once that many replicas have succeeded with statistics, and its
statistics are those of the first ``trials_per_iteration`` to finish (completion time, then
name), so replicas finishing late never change the next network. That costs at most
``trials_per_iteration + parallelTrialCount - 1`` trials per iteration, and validation rejects
a maxTrialCount too small to reach the constructed network. Its trials carry the label
``nac.kubeflow.org/constructed=true``.

Names: ``<experiment>-i<iteration>-t<index>`` where index counts every assignment Katib ever
received (total_request_number - current_request_number + k), so a name is unique even when
Katib leaves MetricsUnavailable or observation-less EarlyStopped trials out of request.trials.

State lives only in ``request.trials``. Each trial carries ``iteration`` and ``architecture``
assignments, so spec_i is read back from any iteration-i trial (restart-safe); only the
frontier restructuring is computed, and it is cached by (spec, statistics). A history the
algorithm cannot continue from (statistics that cannot drive restructuring, a corrupt
architecture) gets stop trials (katib/nac_schedule.py STOP_PREFIX), which fail at once with
the reason, so maxFailedTrialCount / maxTrialCount ends the Experiment instead of Katib
retrying an error forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from katib import nac_schedule, nac_stats
from katib.constants import NAC_PARAMETERS, NAC_STATS_METRIC
from katib.types import TrialStatus

from .._lru import LRU
from ..errors import SuggestionInputError
from ..search_space import ExperimentView
from ..settings import SettingsTable
from ..trials import TrialView
from .base import Algorithm, Assignment, SuggestionRequest
from .nac_config import TABLE, NACConfig, config_from

_CACHE_SIZE = 64  # per cache; one Experiment needs a handful of entries


@dataclass
class _IterationState:
    architecture: str = ""  # the b64 string emitted for this iteration (lowest index's)
    first_index: int | None = None
    seen: int = 0  # visible trials of this iteration (replica numbers already used)
    done: list[tuple[str, str, nac_stats.NACStats]] | None = None  # (time, name, stats)

    def stats(self, replicas: int) -> list[nac_stats.NACStats]:
        """The statistics of the first `replicas` replicas to finish (stable over time)."""
        return [s for _, _, s in sorted(self.done or [], key=lambda d: (d[0], d[1]))[:replicas]]


class _CannotContinue(Exception):
    """The history cannot drive the next iteration: emit stop trials with this reason."""


class NACAlgorithm(Algorithm):
    """Stateless over calls except bounded caches of decoded specs, stats and restructurings."""

    def __init__(self) -> None:
        self._decoded: LRU[str, Any] = LRU(_CACHE_SIZE)  # b64 -> ArchitectureSpec
        self._stats: LRU[str, nac_stats.NACStats | None] = LRU(_CACHE_SIZE)
        self._next: LRU[tuple[Any, ...], str] = LRU(_CACHE_SIZE)  # (b64, stats) -> b64
        self._initial: LRU[NACConfig, str] = LRU(_CACHE_SIZE)

    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return TABLE

    def validate(self, experiment: ExperimentView) -> None:
        cfg = config_from(experiment)
        self._initial_b64(cfg)  # builds the EnvelopeNet: surfaces SpecError now

    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        exp = request.experiment
        cfg = config_from(exp)
        # A visible trial already holding an index only happens after Katib deleted trials
        # (parallelTrialCount lowered) and re-counted: skip those indices.
        taken = {nac_schedule.trial_index(t.name) for t in request.trials}
        base = max(0, request.total_request_number - request.current_request_number)
        hidden = max(0, base - len(request.trials))  # trials Katib left out of request.trials
        indices: list[int] = []
        index = base
        while len(indices) < request.current_request_number:
            if index not in taken:
                indices.append(index)
            index += 1
        try:
            return self._next_trials(request.trials, cfg, exp.name, indices, hidden)
        except _CannotContinue as e:
            return [_stop_trial(exp.name, i, str(e)) for i in indices]

    def _next_trials(self, trials: tuple[TrialView, ...], cfg: NACConfig, experiment: str,
                     indices: list[int], hidden: int) -> list[Assignment]:
        iters = self._iterations(trials, cfg)
        out: list[Assignment] = []
        for index in indices:
            current = self._frontier(iters, cfg)
            state = iters.setdefault(current, _IterationState())
            if not state.architecture:
                state.architecture = self._architecture_for(current, iters, cfg)
            replica = state.seen + hidden
            state.seen += 1
            labels = {nac_schedule.ITERATION_LABEL: str(current)}
            if current == cfg.iterations:
                labels[nac_schedule.CONSTRUCTED_LABEL] = "true"
            out.append(Assignment(
                values=dict(zip(NAC_PARAMETERS, (state.architecture, str(current),
                                                 str(cfg.trial_seed(current, replica))),
                                strict=True)),
                trial_name=nac_schedule.trial_name(experiment, current, index),
                labels=labels))
        return out

    # ------------------------------------------------------------------ history
    def _iterations(
        self, trials: tuple[TrialView, ...], cfg: NACConfig
    ) -> dict[int, _IterationState]:
        iters: dict[int, _IterationState] = {}
        for t in trials:
            try:
                iteration = int(t.assignments.get("iteration", ""))
            except ValueError:
                continue  # not a nac trial (or from another algorithm): ignore
            arch = t.assignments.get("architecture", "")
            if iteration < 0 or not arch or nac_schedule.stop_reason(arch) is not None:
                continue
            state = iters.setdefault(iteration, _IterationState())
            state.seen += 1
            index = nac_schedule.trial_index(t.name)
            if not state.architecture or (
                    index is not None and (state.first_index is None
                                           or index < state.first_index)):
                state.architecture = arch
                state.first_index = index
            if t.condition is TrialStatus.SUCCEEDED:
                stats = self._decode_stats(t.metric_text(NAC_STATS_METRIC))
                if stats is not None and stats.stat == cfg.stat:
                    state.done = (state.done or []) + [(t.completion_time, t.name, stats)]
        return iters

    def _frontier(self, iters: dict[int, _IterationState], cfg: NACConfig) -> int:
        """Lowest iteration still short of succeeded replicas (or the final iteration)."""
        for i in range(cfg.iterations):
            state = iters.get(i)
            if state is None or len(state.done or []) < cfg.replicas:
                return i
        return cfg.iterations

    def _architecture_for(self, i: int, iters: dict[int, _IterationState], cfg: NACConfig) -> str:
        if i == 0:
            return self._initial_b64(cfg)
        prev = iters[i - 1]
        branches, gates = nac_stats.average(prev.stats(cfg.replicas))
        settings = cfg.restructure_settings()
        key = (prev.architecture, tuple(sorted(branches.items())), tuple(sorted(gates.items())),
               settings)

        def compute() -> str:
            from nac.restructure import RestructureError, restructure

            spec = self._decode_spec(prev.architecture)
            try:
                return restructure(spec, branches, gates, settings).to_b64()
            except RestructureError as e:
                raise _CannotContinue(
                    f"iteration {i - 1} statistics cannot drive restructuring: {e}"
                ) from None

        return self._next.get_or_compute(key, compute)

    # ------------------------------------------------------------------ caches
    def _initial_b64(self, cfg: NACConfig) -> str:
        return self._initial.get_or_compute(cfg, lambda: _initial_b64(cfg))

    def _decode_spec(self, b64: str) -> Any:
        return self._decoded.get_or_compute(b64, lambda: _decode_spec(b64))

    def _decode_stats(self, text: str | None) -> nac_stats.NACStats | None:
        if not text:
            return None
        return self._stats.get_or_compute(text, lambda: _decode_stats(text))


def _initial_b64(cfg: NACConfig) -> str:
    from nac.spec import SpecError

    try:
        return cfg.initial_spec().to_b64()
    except SpecError as e:
        raise SuggestionInputError(f"cannot build the initial EnvelopeNet: {e}") from None


def _decode_spec(b64: str) -> Any:
    from nac.spec import SpecError, parse_architecture

    try:
        return parse_architecture(b64)
    except SpecError as e:
        raise _CannotContinue(f"a trial's architecture assignment is invalid: {e}") from None


def _decode_stats(text: str) -> nac_stats.NACStats | None:
    try:
        return nac_stats.decode(text)
    except nac_stats.NACStatsError:
        return None  # "unavailable" or a truncated line: the replica does not count


def _stop_trial(experiment: str, index: int, reason: str) -> Assignment:
    """A trial that fails at once with `reason` (katib.trial reads the marker)."""
    return Assignment(
        values=dict(zip(NAC_PARAMETERS, (nac_schedule.stop_value(reason), "0", "0"),
                        strict=True)),
        trial_name=nac_schedule.stop_trial_name(experiment, index),
        labels={nac_schedule.STOPPED_LABEL: "true"})

