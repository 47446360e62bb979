"""Katib's webhook rules for each part of an Experiment's spec, one function per field.

Each appends its problems (field path, what is wrong, how to fix it) to `problems` and returns
the defaulted value; `katib.validation` calls them in spec order so every problem is reported
at once. `local=True` adds what only a local run refuses. Cited from Katib v0.19.0
`pkg/webhook/v1beta1/experiment/validator/validator.go` and `experiment_defaults.go`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from katib import constants as c
from katib.types import Objective, default_strategy

_TRIAL_PARAM_REF = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_META_REF = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)"
                       r"(?:\[(.+)\])?\}$")


@dataclass(frozen=True)
class MedianStopSettings:
    """Katib's medianstop settings (defaults from its service)."""

    min_trials_required: int = c.MEDIANSTOP_DEFAULTS["min_trials_required"]
    start_step: int = c.MEDIANSTOP_DEFAULTS["start_step"]



def objective(obj: dict[str, Any] | None, problems: list[str]) -> Objective | None:
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
    default = default_strategy(otype)
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


def algorithm(alg: dict[str, Any] | None, problems: list[str], local: bool = True
              ) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not alg or not alg.get("algorithmName"):
        problems.append("spec.algorithm.algorithmName: required (one of "
                        f"{', '.join(c.SERVED_ALGORITHMS)})")
        return "", ()
    name = alg["algorithmName"]
    # A cluster serves whatever its katib-config registers; locally only our service runs.
    if local and name in c.REFUSED_ALGORITHMS:
        problems.append(f"spec.algorithm.algorithmName: {name!r} cannot run locally: "
                        f"{c.REFUSED_ALGORITHMS[name]}")
    elif local and name not in c.SERVED_ALGORITHMS:
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


def counts(spec: dict[str, Any], problems: list[str]) -> tuple[int, int | None, int | None]:
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


def parameters(spec: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
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
        problems += parameter_problems(p, where)
    return params


def parameter_problems(p: dict[str, Any], where: str) -> list[str]:
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


def trial_template(tt: dict[str, Any] | None, params: list[dict[str, Any]],
                   problems: list[str], local: bool = True) -> dict[str, Any]:
    where = "spec.trialTemplate"
    if not tt:
        problems.append(f"{where}: required (primaryContainerName, trialParameters, trialSpec)")
        return {}
    if not tt.get("primaryContainerName"):
        problems.append(f"{where}.primaryContainerName: required (the container whose "
                        "command runs each trial)")
    if tt.get("configMap") and not local:
        pass  # Katib reads the template from the ConfigMap
    elif tt.get("configMap"):
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


@dataclass(frozen=True)
class MetricsSource:
    """Where a trial's metrics come from, defaulted as Katib does (experiment_defaults.go
    setDefaultMetricsCollector): StdOut; File at /var/log/katib/metrics.log, TEXT; or
    TensorFlowEvent under the directory /var/log/katib/tfevent/."""

    kind: str = "StdOut"
    path: str = ""
    path_kind: str = ""  # File or Directory
    format: str = ""  # TEXT or JSON (File only)


def metrics_source(mc: dict[str, Any] | None) -> MetricsSource:
    """The defaulted collector of an Experiment's metricsCollectorSpec (never raises)."""
    mc = mc or {}
    kind = (mc.get("collector") or {}).get("kind") or "StdOut"
    fs = (mc.get("source") or {}).get("fileSystemPath") or {}
    if kind == "File":
        return MetricsSource(kind, fs.get("path") or c.DEFAULT_METRICS_FILE,
                             fs.get("kind") or "File", fs.get("format") or "TEXT")
    if kind == "TensorFlowEvent":
        return MetricsSource(kind, fs.get("path") or c.DEFAULT_TFEVENT_DIR,
                             fs.get("kind") or "Directory", fs.get("format") or "")
    return MetricsSource(kind, fs.get("path") or "", fs.get("kind") or "", fs.get("format") or "")


def metrics_formats(mc: dict[str, Any] | None, problems: list[str],
                    local: bool = True) -> tuple[str, ...]:
    """Katib's validateMetricsCollector on the defaulted spec (validator.go), plus what a local
    run cannot collect: PrometheusMetric, Custom and Push need the trial pod, a collector image
    or Katib's DB manager."""
    mc = mc or {}
    src = metrics_source(mc)
    where = "spec.metricsCollectorSpec"
    source = mc.get("source") or {}
    fs_where = f"{where}.source.fileSystemPath"
    if src.kind not in c.COLLECTOR_KINDS:
        problems.append(f"{where}.collector.kind: invalid metrics collector kind {src.kind!r} "
                        f"(one of {', '.join(c.COLLECTOR_KINDS)})")
    elif src.kind not in c.LOCAL_COLLECTOR_KINDS and local:
        problems.append(f"{where}.collector.kind: {src.kind!r} is not supported locally "
                        f"({c.REFUSED_COLLECTORS[src.kind]}); use one of "
                        f"{', '.join(c.LOCAL_COLLECTOR_KINDS)}")
    if src.kind == "File":
        if src.path_kind != "File" or not src.path.startswith("/"):
            problems.append(f"{fs_where}.path: file path where metrics file exists is required "
                            f"(an absolute path with kind: File, got path {src.path!r}, kind "
                            f"{src.path_kind!r})")
        if src.format not in c.FILE_FORMATS:
            problems.append(f"{fs_where}.format: format of metrics file is required for metrics "
                            f"collector (one of {', '.join(c.FILE_FORMATS)}, got {src.format!r})")
        if src.format == "JSON" and source.get("filter") is not None:
            problems.append(f"{where}.source.filter: filter must be nil when format of metrics "
                            "file is json (each line is a JSON object; remove the filter)")
    elif src.kind == "TensorFlowEvent":
        if src.path_kind != "Directory" or not src.path.startswith("/"):
            problems.append(f"{where}.source: directory path where tensorflow event files exist "
                            "is required by .spec.metricsCollectorSpec.source.fileSystemPath.path"
                            f" (an absolute path with kind: Directory, got {src.path!r}, kind "
                            f"{src.path_kind!r})")
        if src.format:
            problems.append(f"{fs_where}.format: must be empty for TensorFlowEvent, got "
                            f"{src.format!r}")
    elif source.get("httpGet") and local and src.kind in c.LOCAL_COLLECTOR_KINDS:
        problems.append(f"{where}.source.httpGet: not read by the {src.kind} collector; remove it")
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


def early_stopping(es: dict[str, Any] | None, problems: list[str], local: bool = True,
                   objective: dict[str, Any] | None = None
                   ) -> tuple[MedianStopSettings | None, tuple[tuple[str, str], ...]]:
    if not es:
        return None, ()
    where = "spec.earlyStopping"
    if es.get("algorithmName") in c.SERVED_EARLY_STOPPING:
        from katib.earlystopping.asha import check_resource_metric, parse
        from katib.suggestion.errors import SuggestionInputError

        raw = tuple((str(s.get("name")), str(s.get("value") or ""))
                    for s in es.get("algorithmSettings") or [])
        try:
            cfg = parse(raw)
            if objective is not None:  # the service can check this only once trials exist
                check_resource_metric(cfg, str(objective.get("objectiveMetricName") or ""),
                                      [str(m) for m in objective.get("additionalMetricNames")
                                       or []])
                strategy = next((str(m.get("value")) for m in
                                 objective.get("metricStrategies") or []
                                 if isinstance(m, dict) and m.get("name") == cfg.resource_metric),
                                "latest")
                if cfg.resource_metric and strategy == "min":
                    raise SuggestionInputError(
                        f"early stopping setting resource_metric={cfg.resource_metric!r} needs "
                        "the trial's last (or largest) value, but objective.metricStrategies "
                        f"sets {cfg.resource_metric} to min; set it to latest")
        except SuggestionInputError as e:
            problems.append(f"{where}.algorithmSettings: {e}")
        return None, raw
    if es.get("algorithmName") != c.EARLY_STOPPING_ALGORITHM:
        if not local:  # a cluster serves whatever its katib-config registers
            return None, ()
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
