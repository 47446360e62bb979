"""``hyperband``: Katib's Hyperband, with its settings, validation and brackets, served here.

Settings and validation as Katib v0.19.0 pkg/suggestion/v1beta1/hyperband/service.py
(``HyperbandService.ValidateAlgorithmSettings``, ``HyperBandParam.convert``): ``r_l`` (the
largest resource) and ``resource_name`` (the parameter that carries the resource, e.g. epochs)
are required, ``eta`` defaults to 3 (a value <= 0 means 3), and ``parallelTrialCount`` must be
at least ``eta ** s_max``; the messages are Katib's, with the value and the fix added.

Brackets and rungs with Katib's arithmetic (``convert``, ``_new_hbParameters``,
``_make_master_bracket``, ``_make_child_bracket``): ``s_max = int(log(r_l) / log(eta))``;
bracket ``s`` (``s_max`` down to 0) starts ``n = ceil((s_max + 1) * eta**s / (s + 1))`` random
configurations at resource ``int(r_l * eta**-s)``; each next rung keeps the best
``ceil(ceil(n * eta**-i) / eta)`` of the rung before it (by the objective) at resource
``int(r * eta**i)``. The resource value replaces the ``resource_name`` assignment whatever its
feasibleSpace, as Katib does.

What differs, and why: Katib's service keeps its position in ``reply.algorithm`` settings,
replaces ``n`` by the request size (its "hack" comment), raises while a rung is still running
and answers fewer assignments than requested, which its own controller rejects
(suggestionclient.go SyncAssignments: "The response contains unexpected trials"), so it gets
past the first rung only when a request happens to ask for exactly the promoted count. Here
``n`` is the formula's, and the service is a pure function of the
history, like ``nac``: every trial's name carries its place (``-hb<round>-s<s>-r<i>-t<index>``),
a request of N gets exactly N assignments, and a slot that would wait for a running rung gets
the next rung that can start -- a later bracket, or the next Hyperband round (new
configurations) once all brackets are out, so ``maxTrialCount`` ends the Experiment as for every
algorithm. A rung is promoted once all its trials have finished; failed ones are not promoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from katib.nac_schedule import _name as short_name
from katib.types import ObjectiveType

from ..errors import SuggestionInputError
from ..search_space import ExperimentView, ParamKind
from ..settings import Setting, SettingsTable
from ..trials import TrialView
from .base import Algorithm, Assignment, SuggestionRequest, assignment_key
from .indexed_samplers import indexed_suggest
from .optuna_hpo import _default_seed

TABLE = SettingsTable("hyperband", (
    Setting("r_l", "str", None, "maximum resource of one trial (e.g. epochs); required"),
    Setting("resource_name", "str", None, "the parameter that receives each rung's resource; "
            "required"),
    Setting("eta", "str", "3", "reduction factor: each rung keeps 1/eta of the trials at eta "
            "times the resource (a value <= 0 means 3)"),
    Setting("random_state", "int", None, "seed of the random configurations; default derived "
            "from the experiment name", minimum=0, maximum=2**31 - 1, aliases=("seed",)),
))
#: Most trials the first rung may start (eta ** s_max); Katib's parallelTrialCount must hold it.
MAX_FIRST_RUNG = 100_000
_PLACE = re.compile(r"-hb(\d+)-s(\d+)-r(\d+)-t(\d+)$")


@dataclass(frozen=True)
class HyperbandConfig:
    eta: int
    r_l: float
    resource_name: str
    random_state: int

    @property
    def s_max(self) -> int:
        return int(math.log(self.r_l) / math.log(self.eta))

    def rungs(self, s: int) -> list[tuple[int, int]]:
        """(trials, resource) of each rung of bracket `s`, as Katib's service computes them."""
        eta = float(self.eta)
        n = int(math.ceil(float(self.s_max + 1) * (float(eta**s) / float(s + 1))))
        r = self.r_l * eta ** (-s)
        out = [(n, int(r))]
        for i in range(s):  # _make_child_bracket after rung i
            n_i = math.ceil(n * eta ** (-i))
            out.append((int(math.ceil(n_i / eta)), int(r * eta ** (i + 1))))
        return out


def config_from(exp: ExperimentView) -> HyperbandConfig:
    """Parse and check the settings with Katib's rules and messages."""
    values = TABLE.parse(exp.settings)
    if values["r_l"] is None or values["resource_name"] is None:
        raise SuggestionInputError(
            "r_l and resource_name must be set. (algorithmSettings r_l: the largest resource, "
            "e.g. \"9\"; resource_name: the parameter receiving it, e.g. \"epochs\")")
    try:
        r_l = float(values["r_l"])
    except ValueError:
        r_l = -1.0
    if not math.isfinite(r_l) or r_l < 1:  # Katib: < 0; 0 crashes it, below 1 trains 0 epochs
        raise SuggestionInputError(f"r_l must be a positive float number. (got "
                                   f"{values['r_l']!r}; at least 1: the largest resource)")
    try:
        eta = int(float(values["eta"]))
    except (ValueError, OverflowError):
        raise SuggestionInputError(f"eta must be an integer >= 2 (got {values['eta']!r})"
                                   ) from None
    eta = 3 if eta <= 0 else eta
    if eta == 1:  # Katib divides by log(1) = 0
        raise SuggestionInputError("eta must be an integer >= 2 (got 1: no rung would shrink)")
    first = eta ** int(math.log(r_l) / math.log(eta))
    if first > MAX_FIRST_RUNG:
        raise SuggestionInputError(
            f"r_l {values['r_l']} with eta {eta} gives a first rung of about 10^"
            f"{len(str(first)) - 1} trials (at most {MAX_FIRST_RUNG}); lower r_l or raise eta")
    seed = values["random_state"]
    return HyperbandConfig(eta, r_l, values["resource_name"],
                           _default_seed(exp.name) if seed is None else seed)


class HyperbandAlgorithm(Algorithm):
    """Stateless: the schedule is recomputed from ``request.trials`` on every call."""

    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return TABLE

    def validate(self, experiment: ExperimentView) -> None:
        cfg = config_from(experiment)
        max_parallel = int(math.ceil(cfg.eta**cfg.s_max))
        if experiment.parallel_trial_count < max_parallel:
            raise SuggestionInputError(
                f"parallelTrialCount must be not less than {max_parallel}. (got "
                f"{experiment.parallel_trial_count}: the first bracket starts eta**s_max = "
                f"{max_parallel} trials at once; raise it or lower r_l / eta)")
        resource = next((p for p in experiment.parameters if p.name == cfg.resource_name), None)
        if resource is None:
            raise SuggestionInputError(
                f"value of resource_name setting must be in parameters. ({cfg.resource_name!r} "
                f"is not one of {', '.join(p.name for p in experiment.parameters)})")
        if resource.kind not in (ParamKind.INT, ParamKind.DOUBLE):
            raise SuggestionInputError(
                f"resource_name {cfg.resource_name!r} must name an int or double parameter "
                f"(it receives the rung's resource as a number), not {resource.kind.value}")

    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        exp = request.experiment
        cfg = config_from(exp)
        taken = set()
        rungs: dict[tuple[int, int, int], list[TrialView]] = {}
        for t in request.trials:
            m = _PLACE.search(t.name)
            if m is None:
                continue  # not a hyperband trial (another algorithm's history): ignored
            h, s, i, index = (int(g) for g in m.groups())
            taken.add(index)
            rungs.setdefault((h, s, i), []).append(t)
        index = max(0, request.total_request_number - request.current_request_number)
        out: list[Assignment] = []
        for place, values in self._work(exp, cfg, rungs):
            while index in taken:
                index += 1
            if values is None:  # a new configuration of rung 0
                values = indexed_suggest(exp.parameters, "random", cfg.random_state, index,
                                         1)[0]
            h, s, i = place
            values = {**values, cfg.resource_name: str(cfg.rungs(s)[i][1])}
            out.append(Assignment(values=values, trial_name=short_name(
                exp.name, f"-hb{h}-s{s}-r{i}-t{index}")))
            index += 1
            if len(out) == request.current_request_number:
                break
        return out

    def _work(self, exp: ExperimentView, cfg: HyperbandConfig,
              rungs: dict[tuple[int, int, int], list[TrialView]]
              ) -> Iterator[tuple[tuple[int, int, int], dict[str, str] | None]]:
        """Places to fill, in Hyperband's order: (round, bracket, rung) and the promoted
        configuration (None: a new one). Rounds are unbounded; the caller stops after N."""
        h = 0
        while True:
            for s in range(cfg.s_max, -1, -1):
                for i, (count, _) in enumerate(cfg.rungs(s)):
                    issued = rungs.get((h, s, i), [])
                    if i == 0:
                        pending = max(0, count - len(issued))
                        for _ in range(pending):
                            yield (h, s, 0), None
                    else:
                        promoted = self._promotions(exp, cfg, rungs.get((h, s, i - 1), []),
                                                    count, issued)
                        pending = len(promoted)
                        for values in promoted:
                            yield (h, s, i), values
                    if pending or not issued or not all(t.condition.completed for t in issued):
                        break  # the next rung waits for this one: go on to the next bracket
            h += 1

    def _promotions(self, exp: ExperimentView, cfg: HyperbandConfig, before: list[TrialView],
                    count: int, issued: list[TrialView]) -> list[dict[str, str]]:
        """The best `count` of a finished rung (Katib's _get_top_trial), minus those issued."""
        if not before or not all(t.condition.completed for t in before):
            return []
        metric = exp.objective.metric
        scored = [t for t in before if t.objective(metric) is not None]
        best_first = exp.objective.type is ObjectiveType.MAXIMIZE
        scored.sort(key=lambda t: (-(t.objective(metric) or 0.0) if best_first
                                   else (t.objective(metric) or 0.0), t.name))
        done = {_config_key(t.assignments, cfg) for t in issued}
        return [dict(t.assignments) for t in scored[:count]
                if _config_key(t.assignments, cfg) not in done]


def _config_key(values: dict[str, str], cfg: HyperbandConfig) -> tuple[tuple[str, str], ...]:
    return assignment_key({k: v for k, v in values.items() if k != cfg.resource_name})


