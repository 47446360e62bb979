"""The Experiment and its trial history as the protos Katib's controller sends a suggestion
service (`suggestionclient.go` ConvertExperiment / ConvertTrials), built from the parsed
Experiment with `api_pb2`'s own enum constants. The reverse direction (proto -> algorithm
view) is `katib.suggestion.search_space` / `katib.suggestion.trials`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from katib.api import api_pb2 as pb
from katib.suggestion.trials import status_to_proto
from katib.types import ObjectiveType, TrialStatus
from katib.validation import Experiment

_PARAMETER_TYPES = {"double": pb.DOUBLE, "int": pb.INT, "discrete": pb.DISCRETE,
                    "categorical": pb.CATEGORICAL}
_DISTRIBUTIONS = {"uniform": pb.UNIFORM, "logUniform": pb.LOG_UNIFORM, "normal": pb.NORMAL,
                  "logNormal": pb.LOG_NORMAL}


def experiment_proto(exp: Experiment, algorithm_settings: Sequence[tuple[str, str]], *,
                     parallel: int, max_trials: int | None) -> pb.Experiment:
    """`api.v1.beta1.Experiment` for `exp` with the current algorithm settings."""
    obj = exp.objective
    spec = pb.ExperimentSpec(
        objective=pb.ObjectiveSpec(
            type=pb.MAXIMIZE if obj.type is ObjectiveType.MAXIMIZE else pb.MINIMIZE,
            objective_metric_name=obj.metric,
            additional_metric_names=list(obj.additional_metrics)),
        algorithm=pb.AlgorithmSpec(
            algorithm_name=exp.algorithm_name,
            algorithm_settings=[pb.AlgorithmSetting(name=n, value=v)
                                for n, v in algorithm_settings]),
        parallel_trial_count=parallel,
        max_trial_count=max_trials or 0)
    if obj.goal is not None:
        spec.objective.goal = obj.goal
    if exp.early_stopping_algorithm:
        spec.early_stopping.algorithm_name = exp.early_stopping_algorithm
        for n, v in exp.early_stopping_settings:
            spec.early_stopping.algorithm_settings.add(name=n, value=v)
    for p in exp.parameters:
        spec.parameter_specs.parameters.append(parameter_proto(p))
    if exp.nas_config:
        graph = exp.nas_config.get("graphConfig") or {}
        spec.nas_config.graph_config.num_layers = int(graph.get("numLayers") or 0)
        spec.nas_config.graph_config.input_sizes.extend(graph.get("inputSizes") or [])
        spec.nas_config.graph_config.output_sizes.extend(graph.get("outputSizes") or [])
        for op in exp.nas_config.get("operations") or []:
            o = spec.nas_config.operations.operation.add(
                operation_type=op.get("operationType", ""))
            for p in op.get("parameters") or []:
                o.parameter_specs.parameters.append(parameter_proto(p))
    return pb.Experiment(name=exp.name, spec=spec)


def parameter_proto(p: Mapping[str, Any]) -> pb.ParameterSpec:
    space = p.get("feasibleSpace") or {}
    fs = pb.FeasibleSpace(max=str(space.get("max") or ""), min=str(space.get("min") or ""),
                          list=[str(v) for v in space.get("list") or []],
                          step=str(space.get("step") or ""))
    if space.get("distribution"):
        fs.distribution = _DISTRIBUTIONS[space["distribution"]]
    return pb.ParameterSpec(name=p["name"], parameter_type=_PARAMETER_TYPES[p["parameterType"]],
                            feasible_space=fs)


def history(trials: Iterable[Any], objective_spec: pb.ObjectiveSpec) -> list[pb.Trial]:
    """Every trial Katib would send: running and completed, minus MetricsUnavailable ones and
    EarlyStopped ones without an observation (ConvertTrials). Trials need `.name`,
    `.assignments`, `.metrics`, `.status`, `.start_time`, `.completion_time`."""
    out = []
    for t in trials:
        if t.status is TrialStatus.METRICS_UNAVAILABLE:
            continue
        if t.status is TrialStatus.EARLY_STOPPED and not t.metrics:
            continue
        trial = pb.Trial(name=t.name)
        trial.spec.objective.CopyFrom(objective_spec)
        for k, v in t.assignments.items():
            trial.spec.parameter_assignments.assignments.add(name=k, value=v)
        trial.status.condition = status_to_proto(t.status)
        trial.status.start_time = t.start_time
        trial.status.completion_time = t.completion_time
        if t.status.completed:
            for k, v in t.metrics.items():
                trial.status.observation.metrics.add(name=k, value=v)
        out.append(trial)
    return out
