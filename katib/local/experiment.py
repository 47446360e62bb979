"""Parse and validate a Katib v1beta1 Experiment the way Katib's webhook would, for a local run.

The document is checked against the typed `kubeflow_katib_api` models (so a file that runs here
also parses for the cluster), then against the webhook rules the runner relies on
(`pkg/webhook/v1beta1/experiment/validator/validator.go`) and defaulted as Katib does
(`experiment_defaults.go`). Every problem is reported with its field path, all at once.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from kubeflow_katib_api import models

from katib.local import constants as c

_TRIAL_PARAM_REF = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_META_REF = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)"
                       r"(?:\[(.+)\])?\}$")


class ExperimentError(ValueError):
    """The Experiment cannot run; the message names every bad field and how to fix it."""

    def __init__(self, problems: list[str], *, source: str = "experiment") -> None:
        self.problems = list(problems)
        if len(problems) == 1:
            text = f"{source} is invalid: {problems[0]}"
        else:
            text = f"{source} is invalid ({len(problems)} problems):\n" + "\n".join(
                f"  - {p}" for p in problems)
        super().__init__(text)


@dataclass(frozen=True)
class Objective:
    """The objective with Katib's defaults applied (metric strategies filled in)."""

    type: str
    metric: str
    goal: float | None = None
    additional_metrics: tuple[str, ...] = ()
    strategies: Mapping[str, str] = field(default_factory=dict)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Objective first, as Katib's collector orders them."""
        return (self.metric, *self.additional_metrics)

    def is_better(self, a: float, b: float) -> bool:
        return a > b if self.type == "maximize" else a < b

    def goal_reached(self, value: float) -> bool:
        if self.goal is None:
            return False
        return value >= self.goal if self.type == "maximize" else value <= self.goal


@dataclass(frozen=True)
class MedianStopSettings:
    """Katib's medianstop settings (defaults from its service)."""

    min_trials_required: int = c.MEDIANSTOP_DEFAULTS["min_trials_required"]
    start_step: int = c.MEDIANSTOP_DEFAULTS["start_step"]


@dataclass(frozen=True)
class Experiment:
    """A validated Experiment, ready for the local runner."""

    name: str
    namespace: str
    objective: Objective
    algorithm_name: str
    algorithm_settings: tuple[tuple[str, str], ...]
    parallel_trial_count: int
    max_trial_count: int | None
    max_failed_trial_count: int | None
    parameters: tuple[dict[str, Any], ...]
    nas_config: dict[str, Any] | None
    trial_template: dict[str, Any]
    metrics_formats: tuple[str, ...]
    early_stopping: MedianStopSettings | None
    early_stopping_settings: tuple[tuple[str, str], ...] = ()
    #: "" (none), "medianstop" (in-process) or an algorithm of katib.earlystopping ("asha").
    early_stopping_algorithm: str = ""
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_experiment(source: str | os.PathLike[str] | Mapping[str, Any]) -> Experiment:
    """Read (YAML path or dict) and validate an Experiment; raise ExperimentError on bad input."""
    if isinstance(source, Mapping):
        return parse_experiment(dict(source))
    path = Path(source)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError([f"file not found: {path}"], source=label) from None
    except OSError as e:
        raise ExperimentError([f"cannot read {path}: {e.strerror}"], source=label) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ExperimentError([f"not valid YAML{where}: {problem}"], source=label) from None
    experiments = [d for d in docs if isinstance(d, dict) and d.get("kind") == c.EXPERIMENT_KIND]
    if len(experiments) != 1:
        kinds = [d.get("kind") if isinstance(d, dict) else type(d).__name__ for d in docs]
        raise ExperimentError(
            [f"expected exactly one document of kind: Experiment, found {len(experiments)} "
             f"(kinds: {kinds or 'none'})"], source=label)
    return parse_experiment(experiments[0], source=label)


def parse_experiment(doc: dict[str, Any], *, source: str = "experiment") -> Experiment:
    """Validate an Experiment document (a dict as `kubectl apply` would send it)."""
    if not isinstance(doc, dict):
        raise ExperimentError([f"expected a mapping, got {type(doc).__name__}"], source=source)
    problems: list[str] = []
    if doc.get("apiVersion") != c.API_VERSION:
        problems.append(f"apiVersion: must be {c.API_VERSION!r}, got {doc.get('apiVersion')!r}")
    if doc.get("kind") != c.EXPERIMENT_KIND:
        problems.append(f"kind: must be {c.EXPERIMENT_KIND!r}, got {doc.get('kind')!r}")
    problems += _model_problems(doc)
    if problems:
        raise ExperimentError(problems, source=source)
    problems += _unknown_keys(doc)
    meta = doc.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        problems.append("metadata.name: required (a DNS label such as 'digits-grid')")
    elif len(name) > c.NAME_MAX_LENGTH or not re.match(c.NAME_PATTERN, name):
        problems.append(f"metadata.name: {name!r} must be at most {c.NAME_MAX_LENGTH} lowercase "
                        "letters, digits and '-', starting with a letter")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        problems.append("spec: required (objective, algorithm, parameters, trialTemplate)")
        raise ExperimentError(problems, source=source)
    objective = _objective(spec.get("objective"), problems)
    algorithm_name, algorithm_settings = _algorithm(spec.get("algorithm"), problems)
    counts = _counts(spec, problems)
    parameters = _parameters(spec, problems)
    template = _trial_template(spec.get("trialTemplate"), parameters, spec, problems)
    formats = _metrics_formats(spec.get("metricsCollectorSpec"), problems)
    early, early_settings = _early_stopping(spec.get("earlyStopping"), problems)
    if problems:
        label = f"Experiment {name!r}" if name else "Experiment"
        if source != "experiment":
            label = f"{source}: {label}"
        raise ExperimentError(problems, source=label)
    assert objective is not None
    return Experiment(
        name=name, namespace=meta.get("namespace") or "default", objective=objective,
        algorithm_name=algorithm_name, algorithm_settings=algorithm_settings,
        parallel_trial_count=counts[0], max_trial_count=counts[1],
        max_failed_trial_count=counts[2], parameters=tuple(parameters),
        nas_config=spec.get("nasConfig"), trial_template=template, metrics_formats=formats,
        early_stopping=early, early_stopping_settings=early_settings,
        early_stopping_algorithm=(spec.get("earlyStopping") or {}).get("algorithmName") or "",
        document=doc)


def field_path(loc: tuple[Any, ...]) -> str:
    """('spec', 'parameters', 1, 'name') -> 'spec.parameters[1].name'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_problems(doc: dict[str, Any]) -> list[str]:
    """Type errors from the kubeflow_katib_api pydantic models, with YAML-facing hints."""
    try:
        models.V1beta1Experiment.model_validate(doc)
    except pydantic.ValidationError as e:
        out: list[str] = []
        for err in e.errors():
            loc = tuple(err["loc"])
            got = err.get("input")
            if loc and loc[-1] in ("float", "int") and len(loc) > 1:  # Union[float, int]
                message = f"{field_path(loc[:-1])}: must be a number, got {got!r}"
                if message not in out:
                    out.append(message)
                continue
            path = field_path(loc)
            if err["type"] == "string_type" and isinstance(got, int | float | bool):
                out.append(f"{path}: must be a string; quote it: \"{got}\"")
            elif err["type"] in ("int_type", "int_parsing"):
                out.append(f"{path}: must be an integer, got {got!r}")
            else:
                out.append(f"{path}: {err['msg'].lower()} (got {got!r})")
        return out
    return []


def _unknown_keys(doc: dict[str, Any]) -> list[str]:
    """Misspelt keys: Katib's CRD preserves unknown fields, so a typo would be silently ignored."""
    out: list[str] = []

    def walk(value: Any, model: type[pydantic.BaseModel], path: str) -> None:
        if not isinstance(value, dict):
            return
        known = {f.alias or n: f for n, f in model.model_fields.items()}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else \
                    f" (known: {', '.join(sorted(known))})"
                out.append(f"{where}: unknown field{hint}")
                continue
            sub_model = _nested_model(known[key].annotation)
            if sub_model is None:
                continue
            if isinstance(sub, list):
                for i, item in enumerate(sub):
                    walk(item, sub_model, f"{where}[{i}]")
            else:
                walk(sub, sub_model, where)

    walk({k: v for k, v in doc.items() if k != "metadata"}, models.V1beta1Experiment, "")
    return out


def _nested_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The Katib model inside Optional[...] / List[...], or None for plain values and dicts."""
    stack = [annotation]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
            name = t.__name__
            # Kubernetes core types (containers, ...) are left to the cluster's own validation.
            return t if name.startswith("V1beta1") else None
        stack.extend(getattr(t, "__args__", ()) or ())
    return None


def _objective(obj: dict[str, Any] | None, problems: list[str]) -> Objective | None:
    if not obj:
        problems.append("spec.objective: required (type, objectiveMetricName)")
        return None
    otype = obj.get("type")
    if otype not in c.OBJECTIVE_TYPES:
        problems.append(f"spec.objective.type: must be one of {', '.join(c.OBJECTIVE_TYPES)}, "
                        f"got {otype!r}")
        otype = "maximize"
    metric = obj.get("objectiveMetricName")
    if not metric:
        problems.append("spec.objective.objectiveMetricName: required (e.g. accuracy)")
        return None
    additional = tuple(obj.get("additionalMetricNames") or ())
    if metric in additional:
        problems.append(f"spec.objective.additionalMetricNames: must not contain the objective "
                        f"metric {metric!r}")
    # Katib defaults every metric's strategy from the objective type: max when maximizing,
    # min when minimizing (experiment_defaults.go; its comment says "latest", the code does not).
    default = "max" if otype == "maximize" else "min"
    strategies = {m: default for m in (metric, *additional)}
    for i, s in enumerate(obj.get("metricStrategies") or []):
        where = f"spec.objective.metricStrategies[{i}]"
        if s.get("name") not in strategies:
            problems.append(f"{where}.name: {s.get('name')!r} is not the objective or an "
                            f"additional metric (known: {', '.join(strategies)})")
        elif s.get("value") not in c.METRIC_STRATEGIES:
            problems.append(f"{where}.value: must be one of {', '.join(c.METRIC_STRATEGIES)}, "
                            f"got {s.get('value')!r}")
        else:
            strategies[s["name"]] = s["value"]
    goal = obj.get("goal")
    return Objective(type=otype, metric=metric, goal=float(goal) if goal is not None else None,
                     additional_metrics=additional, strategies=strategies)


def _algorithm(alg: dict[str, Any] | None, problems: list[str]
               ) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not alg or not alg.get("algorithmName"):
        problems.append("spec.algorithm.algorithmName: required (one of "
                        f"{', '.join(c.SERVED_ALGORITHMS)})")
        return "", ()
    name = alg["algorithmName"]
    if name in c.REFUSED_ALGORITHMS:
        problems.append(f"spec.algorithm.algorithmName: {name!r} cannot run locally: "
                        f"{c.REFUSED_ALGORITHMS[name]}")
    elif name not in c.SERVED_ALGORITHMS:
        problems.append(f"spec.algorithm.algorithmName: unknown algorithm {name!r} (available "
                        f"locally: {', '.join(c.SERVED_ALGORITHMS)})")
    settings = []
    seen: set[str] = set()
    for i, s in enumerate(alg.get("algorithmSettings") or []):
        if not s.get("name"):
            problems.append(f"spec.algorithm.algorithmSettings[{i}].name: required")
            continue
        if s["name"] in seen:
            problems.append(f"spec.algorithm.algorithmSettings[{i}].name: duplicate "
                            f"{s['name']!r}")
        seen.add(s["name"])
        settings.append((s["name"], s.get("value") or ""))
    return name, tuple(settings)


def _counts(spec: dict[str, Any], problems: list[str]) -> tuple[int, int | None, int | None]:
    parallel = spec.get("parallelTrialCount")
    parallel = c.DEFAULT_PARALLEL_TRIAL_COUNT if parallel is None else parallel
    max_trials = spec.get("maxTrialCount")
    max_failed = spec.get("maxFailedTrialCount")
    for key, value in (("parallelTrialCount", parallel), ("maxTrialCount", max_trials)):
        if value is not None and value < 1:
            problems.append(f"spec.{key}: must be at least 1, got {value}")
    if max_failed is not None and max_failed < 0:
        problems.append(f"spec.maxFailedTrialCount: must be 0 or more, got {max_failed}")
    if max_trials is not None:
        if spec.get("parallelTrialCount") is not None and parallel > max_trials:
            problems.append(f"spec.parallelTrialCount: {parallel} must not exceed "
                            f"spec.maxTrialCount ({max_trials})")
        parallel = min(parallel, max_trials)
        if max_failed is not None and max_failed > max_trials:
            problems.append(f"spec.maxFailedTrialCount: {max_failed} must not exceed "
                            f"spec.maxTrialCount ({max_trials})")
    return parallel, max_trials, max_failed


def _parameters(spec: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    params = spec.get("parameters") or []
    if bool(params) == bool(spec.get("nasConfig")):
        problems.append("spec.parameters / spec.nasConfig: set exactly one (parameters for "
                        "hyperparameter tuning, nasConfig for architecture search)")
    names: set[str] = set()
    for i, p in enumerate(params):
        where = f"spec.parameters[{i}]"
        name = p.get("name")
        if not name:
            problems.append(f"{where}.name: required")
        elif name in names:
            problems.append(f"{where}.name: duplicate parameter {name!r}")
        names.add(name or "")
        problems += _parameter_problems(p, where)
    return params


def _parameter_problems(p: dict[str, Any], where: str) -> list[str]:
    out = []
    ptype = p.get("parameterType")
    space = p.get("feasibleSpace") or {}
    if ptype not in c.PARAMETER_TYPES:
        return [f"{where}.parameterType: must be one of {', '.join(c.PARAMETER_TYPES)}, "
                f"got {ptype!r}"]
    if ptype in ("double", "int"):
        if space.get("list"):
            out.append(f"{where}.feasibleSpace.list: not allowed for parameterType {ptype}; "
                       "use min and max")
        bounds = {}
        for key in ("min", "max"):
            if space.get(key) in (None, ""):
                out.append(f"{where}.feasibleSpace.{key}: required for parameterType {ptype}")
                continue
            try:
                bounds[key] = int(space[key]) if ptype == "int" else float(space[key])
            except ValueError:
                out.append(f"{where}.feasibleSpace.{key}: {space[key]!r} is not a valid {ptype}")
        if len(bounds) == 2 and bounds["min"] > bounds["max"]:
            out.append(f"{where}.feasibleSpace: min {space['min']} is greater than max "
                       f"{space['max']}")
        if space.get("step") not in (None, ""):
            try:
                if float(space["step"]) <= 0:
                    out.append(f"{where}.feasibleSpace.step: must be positive")
            except ValueError:
                out.append(f"{where}.feasibleSpace.step: {space['step']!r} is not a number")
    else:
        for key in ("min", "max", "step"):
            if space.get(key) not in (None, ""):
                out.append(f"{where}.feasibleSpace.{key}: not allowed for parameterType "
                           f"{ptype}; use list")
        if not space.get("list"):
            out.append(f"{where}.feasibleSpace.list: required for parameterType {ptype}")
        if ptype == "discrete":
            for j, v in enumerate(space.get("list") or []):
                try:
                    float(v)
                except ValueError:
                    out.append(f"{where}.feasibleSpace.list[{j}]: {v!r} is not a number "
                               "(discrete values are numbers; use categorical for strings)")
    dist = space.get("distribution")
    if dist not in (None, "") and dist not in c.DISTRIBUTIONS:
        out.append(f"{where}.feasibleSpace.distribution: must be one of "
                   f"{', '.join(c.DISTRIBUTIONS)}, got {dist!r}")
    return out


def _trial_template(tt: dict[str, Any] | None, params: list[dict[str, Any]],
                    spec: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    where = "spec.trialTemplate"
    if not tt:
        problems.append(f"{where}: required (primaryContainerName, trialParameters, trialSpec)")
        return {}
    if not tt.get("primaryContainerName"):
        problems.append(f"{where}.primaryContainerName: required (the container whose "
                        "command runs each trial)")
    if tt.get("configMap"):
        problems.append(f"{where}.configMap: a ConfigMap template cannot be read without a "
                        f"cluster; inline it as {where}.trialSpec")
    elif not isinstance(tt.get("trialSpec"), dict):
        problems.append(f"{where}.trialSpec: required (a batch Job, PyTorchJob or TrainJob)")
    trial_params = tt.get("trialParameters") or []
    if not trial_params:
        problems.append(f"{where}.trialParameters: required (map each parameter into the "
                        "template, e.g. {name: learningRate, reference: lr})")
    known = [p.get("name") for p in params]
    names: set[str] = set()
    refs: set[str] = set()
    for i, tp in enumerate(trial_params):
        at = f"{where}.trialParameters[{i}]"
        name, ref = tp.get("name"), tp.get("reference")
        if not name:
            problems.append(f"{at}.name: required")
        elif "{" in name or "}" in name:
            problems.append(f"{at}.name: {name!r} must not contain '{{' or '}}'")
        elif name in names:
            problems.append(f"{at}.name: duplicate {name!r}")
        names.add(name or "")
        if not ref:
            problems.append(f"{at}.reference: required (a parameter name or ${{trialSpec.Name}})")
            continue
        if ref in refs:
            problems.append(f"{at}.reference: duplicate {ref!r}")
        refs.add(ref)
        if ref.startswith("${"):
            if not _META_REF.match(ref):
                problems.append(f"{at}.reference: {ref!r} is not a supported metadata reference "
                                "(${trialSpec.Name}, ${trialSpec.Namespace}, ${trialSpec.Kind}, "
                                "${trialSpec.APIVersion}, ${trialSpec.Labels[key]}, "
                                "${trialSpec.Annotations[key]})")
        elif params and ref not in known:
            problems.append(f"{at}.reference: {ref!r} is not a parameter "
                            f"(known: {', '.join(str(k) for k in known)})")
    if isinstance(tt.get("trialSpec"), dict):
        used = set(_TRIAL_PARAM_REF.findall(yaml.safe_dump(tt["trialSpec"], width=1 << 30)))
        for missing in sorted(used - names):
            problems.append(f"{where}.trialSpec: uses ${{trialParameters.{missing}}} but "
                            f"{where}.trialParameters declares no {missing!r}")
        for unused in sorted(names - used - {""}):
            problems.append(f"{where}.trialParameters: {unused!r} is declared but "
                            f"${{trialParameters.{unused}}} appears nowhere in the trialSpec")
    return tt


def _metrics_formats(mc: dict[str, Any] | None, problems: list[str]) -> tuple[str, ...]:
    mc = mc or {}
    kind = (mc.get("collector") or {}).get("kind") or "StdOut"
    where = "spec.metricsCollectorSpec"
    if kind != "StdOut":
        problems.append(f"{where}.collector.kind: {kind!r} is not supported locally; use StdOut "
                        "(the trial prints name=value lines)")
    source = mc.get("source") or {}
    if source.get("fileSystemPath") or source.get("httpGet"):
        problems.append(f"{where}.source: fileSystemPath/httpGet are not read locally; remove "
                        "them and print metrics to stdout")
    formats = tuple(((source.get("filter") or {}).get("metricsFormat")) or ())
    for i, f in enumerate(formats):
        try:
            groups = re.compile(f).groups
        except re.error as e:
            problems.append(f"{where}.source.filter.metricsFormat[{i}]: invalid regex: {e}")
            continue
        if groups < 2:
            problems.append(f"{where}.source.filter.metricsFormat[{i}]: needs two groups "
                            "(name and value), e.g. ([\\w-]+)=([+-]?\\d+(?:\\.\\d+)?)")
    return formats or (c.DEFAULT_METRICS_FORMAT,)


def _early_stopping(es: dict[str, Any] | None, problems: list[str]
                    ) -> tuple[MedianStopSettings | None, tuple[tuple[str, str], ...]]:
    if not es:
        return None, ()
    where = "spec.earlyStopping"
    if es.get("algorithmName") in c.SERVED_EARLY_STOPPING:
        from katib.earlystopping.asha import parse
        from katib.suggestion.errors import SuggestionInputError

        raw = tuple((str(s.get("name")), str(s.get("value") or ""))
                    for s in es.get("algorithmSettings") or [])
        try:
            parse(raw)
        except SuggestionInputError as e:
            problems.append(f"{where}.algorithmSettings: {e}")
        return None, raw
    if es.get("algorithmName") != c.EARLY_STOPPING_ALGORITHM:
        known = ", ".join((c.EARLY_STOPPING_ALGORITHM, *c.SERVED_EARLY_STOPPING))
        problems.append(f"{where}.algorithmName: {es.get('algorithmName')!r} is not available; "
                        f"use one of {known}")
        return None, ()
    values = dict(c.MEDIANSTOP_DEFAULTS)
    raw = []
    for i, s in enumerate(es.get("algorithmSettings") or []):
        name, value = s.get("name"), s.get("value")
        raw.append((str(name), str(value)))
        if name not in values:
            problems.append(f"{where}.algorithmSettings[{i}].name: unknown setting {name!r} "
                            f"(known: {', '.join(c.MEDIANSTOP_DEFAULTS)})")
            continue
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        lowest = 1
        if number < lowest:
            problems.append(f"{where}.algorithmSettings[{i}].value: {name} must be an integer "
                            f">= {lowest}, got {value!r}")
            continue
        values[name] = number
    return MedianStopSettings(**values), tuple(raw)
