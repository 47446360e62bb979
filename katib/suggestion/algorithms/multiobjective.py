"""``multi-objective``: several metrics optimised at once, within Katib's single-objective CRD.

Katib's Experiment has one ``objectiveMetricName`` plus ``additionalMetricNames`` that it only
records (kubeflow/katib#1549, #2286). This algorithm reads the objectives from a setting
instead, so the CRD is unchanged: ``objectives: accuracy:max,params:min`` names any of the
objective and additional metrics with a direction (default: the objective metric alone, with
the Experiment's type). ``constraints: latency_ms<=5,params<=1e6`` are feasibility limits on
reported metrics (optuna's constraint protocol: a value <= 0 is feasible). Samplers: optuna's
``motpe`` (multi-objective TPE, default), ``nsga2`` (NSGA-II) and ``random``. MOTPE is the
default because at Katib-sized budgets (100 trials) it reached hypervolume ratio 0.93 on
NAS-Bench-201 and NSGA-II did not, with any population (6-20) or mutation rate tried
(docs/early-stopping.md).

As in the single-objective algorithm, the sampler is rebuilt on every call with a seed derived
from ``random_state`` and the suggestion index, and the study is rebuilt from
``request.trials`` (Succeeded and EarlyStopped trials that report every objective), so a
repeated or restarted request gets the same answer.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import SuggestionInputError
from ..search_space import ExperimentView
from ..settings import Setting, SettingsTable
from ..trials import TrialView
from .base import Algorithm, Assignment, SuggestionRequest
from .study_cache import distributions

NAME = "multi-objective"
SAMPLERS = ("nsga2", "motpe", "random")
TABLE = SettingsTable(NAME, (
    Setting("objectives", "str", "", "comma list metric:max|min over the objective and "
            "additionalMetricNames (default: the objective metric)"),
    Setting("constraints", "str", "", "comma list metric<=value or metric>=value"),
    Setting("sampler", "choice", "motpe", "optuna multi-objective sampler (motpe: the best at "
            "100 evaluations on NAS-Bench-201; nsga2 needs more generations)", choices=SAMPLERS),
    Setting("random_state", "int", None, "random seed; default derived from the experiment "
            "name", minimum=0, maximum=2**31 - 1, aliases=("seed",)),
    Setting("population_size", "int", 20, "nsga2 population per generation", minimum=2,
            maximum=10_000),
    Setting("n_startup_trials", "int", 10, "random trials before motpe models the history",
            minimum=0, maximum=10_000),
))
#: asks per suggestion before a repeated assignment is returned anyway (small discrete spaces)
_RETRIES = 20
_CONSTRAINT = re.compile(r"^\s*([\w.|-]+)\s*(<=|>=)\s*([^\s]+)\s*$")


@dataclass(frozen=True)
class MultiObjectiveConfig:
    objectives: tuple[tuple[str, bool], ...]  # (metric, maximize)
    constraints: tuple[tuple[str, str, float], ...]  # (metric, "<=" | ">=", bound)
    sampler: str
    random_state: int  # the seed
    population_size: int
    n_startup_trials: int


def parse_config(experiment: ExperimentView) -> MultiObjectiveConfig:
    """Settings checked against the Experiment's metrics; errors name the setting and fix."""
    values = TABLE.parse(experiment.settings)
    obj = experiment.objective
    known = (obj.metric, *obj.additional_metrics)
    objectives = []
    for part in [p for p in values["objectives"].split(",") if p.strip()] or [
            f"{obj.metric}:{'max' if obj.maximize else 'min'}"]:
        metric, _, direction = part.strip().rpartition(":")
        if direction not in ("max", "min") or not metric:
            raise SuggestionInputError(
                f"algorithm setting objectives: {part.strip()!r} must be metric:max or "
                "metric:min, e.g. objectives=accuracy:max,params:min")
        if metric not in known:
            raise SuggestionInputError(
                f"algorithm setting objectives: metric {metric!r} is neither the objective nor "
                f"an additional metric (known: {', '.join(known)}); add it to "
                "spec.objective.additionalMetricNames")
        objectives.append((metric, direction == "max"))
    if len({m for m, _ in objectives}) != len(objectives):
        raise SuggestionInputError("algorithm setting objectives: a metric is listed twice")
    constraints = []
    for part in [p for p in values["constraints"].split(",") if p.strip()]:
        match = _CONSTRAINT.match(part)
        bound = _finite(match.group(3)) if match else None
        if match is None or bound is None:
            raise SuggestionInputError(
                f"algorithm setting constraints: {part.strip()!r} must be metric<=number or "
                "metric>=number, e.g. constraints=latency_ms<=5")
        if match.group(1) not in known:
            raise SuggestionInputError(
                f"algorithm setting constraints: metric {match.group(1)!r} is not reported "
                f"(known: {', '.join(known)}); add it to spec.objective.additionalMetricNames")
        constraints.append((match.group(1), match.group(2), bound))
    seed = values["random_state"]
    if seed is None:
        seed = int(hashlib.sha256(experiment.name.encode()).hexdigest()[:8], 16) % 2**31
    return TABLE.fill(MultiObjectiveConfig, values, objectives=tuple(objectives),
                      constraints=tuple(constraints), random_state=seed)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def observation(t: TrialView, cfg: MultiObjectiveConfig) -> tuple[list[float], list[float]] | None:
    """(objective values, constraint values <= 0 feasible) of a finished trial, else None."""
    values = [t.objective(m) for m, _ in cfg.objectives]
    if any(v is None for v in values):
        return None
    cons = []
    for metric, op, bound in cfg.constraints:
        v = t.objective(metric)
        if v is None:
            return None
        cons.append(v - bound if op == "<=" else bound - v)
    return [float(v) for v in values if v is not None], cons


def pareto_front(points: list[list[float]], maximize: list[bool]) -> list[int]:
    """Indices of the non-dominated points."""
    signed = [[v if mx else -v for v, mx in zip(p, maximize, strict=True)] for p in points]
    front = []
    for i, p in enumerate(signed):
        dominated = any(all(a >= b for a, b in zip(q, p, strict=True)) and q != p
                        for j, q in enumerate(signed) if j != i)
        if not dominated:
            front.append(i)
    return front


class MultiObjectiveAlgorithm(Algorithm):
    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return TABLE

    def validate(self, experiment: ExperimentView) -> None:
        parse_config(experiment)
        if not experiment.parameters:
            raise SuggestionInputError(f"algorithm {NAME!r} tunes hyperparameters: "
                                       "spec.parameters is empty")

    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        import optuna

        exp = request.experiment
        self.validate(exp)
        cfg = parse_config(exp)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = distributions(exp.parameters)
        index = max(request.total_request_number - request.current_request_number, 0)
        study = optuna.create_study(
            directions=["maximize" if mx else "minimize" for _, mx in cfg.objectives],
            sampler=_sampler(optuna, cfg, index), storage=optuna.storages.InMemoryStorage())
        frozen = []
        # NSGA-II keeps generations in trial attributes; rebuilt trials get them back in
        # completion order (population_size trials per generation), else it never leaves
        # generation 0 and samples at random.
        generation_key = optuna.samplers.NSGAIISampler._get_generation_key()
        for t in sorted(request.trials, key=lambda t: (t.completion_time, t.name)):
            obs = observation(t, cfg)
            if obs is None:
                continue
            try:
                params = {p.name: p.parse(t.assignments[p.name]) for p in exp.parameters}
            except (KeyError, ValueError):
                continue
            attrs: dict[str, Any] = {
                f"constraints:{m}{op}{bound:g}": v
                for (m, op, bound), v in zip(cfg.constraints, obs[1], strict=True)}
            if cfg.sampler == "nsga2":
                attrs[generation_key] = len(frozen) // cfg.population_size
            frozen.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                    values=obs[0], system_attrs=attrs))
        study.add_trials(frozen)
        # An assignment Katib already has (any trial, running or finished) costs a trial and
        # adds no point to the front: ask again, a few times (the sampler's RNG moves on).
        seen = {tuple(sorted(t.assignments.items())) for t in request.trials}
        out = []
        for _ in range(request.current_request_number):
            for _attempt in range(_RETRIES):
                trial = study.ask(dists)
                values = {p.name: p.format(trial.params[p.name]) for p in exp.parameters}
                key = tuple(sorted(values.items()))
                if key not in seen:
                    break
            seen.add(key)
            out.append(Assignment(values))
        return out


def _sampler(optuna: Any, cfg: MultiObjectiveConfig, index: int) -> Any:
    """optuna >= 5 reads constraints from the trials' ``constraints:<name>`` attributes (what
    ``Trial.set_constraint`` writes), so no ``constraints_func`` (deprecated) is needed."""
    seed = (cfg.random_state * 1_000_003 + index) % 2**31
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=cfg.population_size, seed=seed)
    if cfg.sampler == "motpe":
        return optuna.samplers.TPESampler(n_startup_trials=cfg.n_startup_trials, seed=seed,
                                          multivariate=True)
    return optuna.samplers.RandomSampler(seed=seed)
