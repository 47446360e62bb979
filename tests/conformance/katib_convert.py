"""Katib v0.19.0's ConvertExperiment for an Experiment CR dict, with its defaults.

kubeflow/katib@v0.19.0 (578e60f1)
pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go:ConvertExperiment,
algorithm_settings.go:appendAlgorithmSettingsFromSuggestion, and
pkg/apis/controller/experiments/v1beta1/experiment_defaults.go:SetDefault (parallelTrialCount 3,
objective and additional metrics' strategies max/min by objective type, uniform distribution).
"""

from __future__ import annotations

from typing import Any

from katib.api import api_pb2

_TYPES = {"double": api_pb2.DOUBLE, "int": api_pb2.INT, "discrete": api_pb2.DISCRETE,
          "categorical": api_pb2.CATEGORICAL}
_DISTRIBUTIONS = {"uniform": api_pb2.UNIFORM, "logUniform": api_pb2.LOG_UNIFORM,
                  "normal": api_pb2.NORMAL, "logNormal": api_pb2.LOG_NORMAL}


def experiment_proto(doc: dict[str, Any], stored: dict[str, str] | None = None
                     ) -> api_pb2.Experiment:
    """ConvertExperiment of a defaulted Experiment CR, with Katib's stored settings merged."""
    spec = doc["spec"]
    obj = spec["objective"]
    settings = [(s["name"], str(s.get("value", ""))) for s in
                spec.get("algorithm", {}).get("algorithmSettings") or []]
    for name, value in (stored or {}).items():  # appendAlgorithmSettingsFromSuggestion
        idx = next((i for i, (n, _) in enumerate(settings) if n == name), None)
        if idx is None:
            settings.append((name, value))
        else:
            settings[idx] = (name, value)
    out = api_pb2.ExperimentSpec(
        algorithm=api_pb2.AlgorithmSpec(
            algorithm_name=spec["algorithm"]["algorithmName"],
            algorithm_settings=[api_pb2.AlgorithmSetting(name=n, value=v) for n, v in settings]),
        objective=api_pb2.ObjectiveSpec(
            type=api_pb2.MAXIMIZE if obj["type"] == "maximize" else api_pb2.MINIMIZE,
            objective_metric_name=obj["objectiveMetricName"],
            additional_metric_names=list(obj.get("additionalMetricNames") or [])),
        parallel_trial_count=parallel_of(doc),
        max_trial_count=int(spec.get("maxTrialCount") or 0))
    if obj.get("goal") is not None:
        out.objective.goal = float(obj["goal"])
    for p in spec.get("parameters") or []:
        out.parameter_specs.parameters.append(_parameter(p))
    nas = spec.get("nasConfig")
    if nas:
        graph = nas.get("graphConfig") or {}
        out.nas_config.graph_config.num_layers = int(graph.get("numLayers") or 0)
        out.nas_config.graph_config.input_sizes.extend(int(v) for v in graph.get("inputSizes")
                                                       or [])
        out.nas_config.graph_config.output_sizes.extend(int(v) for v in graph.get("outputSizes")
                                                        or [])
        for op in nas.get("operations") or []:
            o = out.nas_config.operations.operation.add(operation_type=op["operationType"])
            for p in op.get("parameters") or []:
                o.parameter_specs.parameters.append(_parameter(p))
    es = spec.get("earlyStopping")
    if es:
        out.early_stopping.algorithm_name = es["algorithmName"]
        for s in es.get("algorithmSettings") or []:
            out.early_stopping.algorithm_settings.add(name=s["name"], value=str(s["value"]))
    return api_pb2.Experiment(name=doc["metadata"]["name"], spec=out)


def _parameter(p: dict[str, Any]) -> api_pb2.ParameterSpec:
    fs = p.get("feasibleSpace") or {}
    return api_pb2.ParameterSpec(
        name=p["name"], parameter_type=_TYPES.get(p.get("parameterType", ""), 0),
        feasible_space=api_pb2.FeasibleSpace(
            min=str(fs.get("min", "")), max=str(fs.get("max", "")), step=str(fs.get("step", "")),
            list=[str(v) for v in fs.get("list") or []],
            distribution=_DISTRIBUTIONS.get(fs.get("distribution") or "uniform", 0)))


def parallel_of(doc: dict[str, Any]) -> int:
    return int(doc["spec"].get("parallelTrialCount") or 3)  # DefaultTrialParallelCount


def strategies_of(doc: dict[str, Any]) -> dict[str, str]:
    """metricStrategies after setDefaultObjective (objective and additional metrics)."""
    obj = doc["spec"]["objective"]
    out = {s["name"]: s["value"] for s in obj.get("metricStrategies") or []}
    default = {"maximize": "max", "minimize": "min"}.get(obj["type"], "latest")
    for name in [obj["objectiveMetricName"], *(obj.get("additionalMetricNames") or [])]:
        out.setdefault(name, default)
    return out
