"""The rendered example Experiments against the real suggestion service and trial CLI.

Each Experiment is converted to the proto Katib's controller sends and passed through
ValidateAlgorithmSettings and GetSuggestions (grpc_testing, Katib's own test style); the
returned assignments are substituted into the trial template the way Katib does, and the
resulting command must parse with the trial CLI's own argument parser.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
import grpc_testing
import pytest

from katib.api import api_pb2
from katib.suggestion.algorithms.optuna_hpo import OptunaAlgorithm
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.service import SuggestionServicer
from katib.trial import cli as trial_cli
from tests.deploy.test_manifests import KUBECTL, experiments

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: cannot "
                                "render the kustomizations")

SERVICE = api_pb2.DESCRIPTOR.services_by_name["Suggestion"]
TYPES = {"double": api_pb2.DOUBLE, "int": api_pb2.INT, "discrete": api_pb2.DISCRETE,
         "categorical": api_pb2.CATEGORICAL}
DISTRIBUTIONS = {"": api_pb2.DISTRIBUTION_UNSPECIFIED, "uniform": api_pb2.UNIFORM,
                 "logUniform": api_pb2.LOG_UNIFORM, "normal": api_pb2.NORMAL,
                 "logNormal": api_pb2.LOG_NORMAL}


def _parameter(p: dict[str, Any]) -> api_pb2.ParameterSpec:
    fs = p["feasibleSpace"]
    return api_pb2.ParameterSpec(
        name=p["name"], parameter_type=TYPES[p["parameterType"]],
        feasible_space=api_pb2.FeasibleSpace(
            min=fs.get("min", ""), max=fs.get("max", ""), step=fs.get("step", ""),
            list=fs.get("list", []), distribution=DISTRIBUTIONS[fs.get("distribution", "")]))


def to_proto(doc: dict[str, Any]) -> api_pb2.Experiment:
    """What Katib's controller sends for this Experiment (suggestionclient.go)."""
    spec = doc["spec"]
    obj = spec["objective"]
    out = api_pb2.ExperimentSpec(
        objective=api_pb2.ObjectiveSpec(
            type=api_pb2.MAXIMIZE if obj["type"] == "maximize" else api_pb2.MINIMIZE,
            objective_metric_name=obj["objectiveMetricName"],
            additional_metric_names=obj.get("additionalMetricNames", [])),
        algorithm=api_pb2.AlgorithmSpec(
            algorithm_name=spec["algorithm"]["algorithmName"],
            algorithm_settings=[api_pb2.AlgorithmSetting(name=s["name"], value=s["value"])
                                for s in spec["algorithm"].get("algorithmSettings", [])]),
        parallel_trial_count=spec["parallelTrialCount"],
        max_trial_count=spec["maxTrialCount"])
    if "goal" in obj:
        out.objective.goal = float(obj["goal"])
    for p in spec.get("parameters", []):
        out.parameter_specs.parameters.append(_parameter(p))
    if "nasConfig" in spec:
        graph = spec["nasConfig"]["graphConfig"]
        out.nas_config.graph_config.num_layers = graph["numLayers"]
        out.nas_config.graph_config.input_sizes.extend(graph["inputSizes"])
        out.nas_config.graph_config.output_sizes.extend(graph["outputSizes"])
        for op in spec["nasConfig"]["operations"]:
            o = out.nas_config.operations.operation.add(operation_type=op["operationType"])
            o.parameter_specs.parameters.extend(_parameter(p) for p in op["parameters"])
    return api_pb2.Experiment(name=doc["metadata"]["name"], spec=out)


def _invoke(method: str, request: Any) -> tuple[Any, grpc.StatusCode, str]:
    server = grpc_testing.server_from_dictionary({SERVICE: SuggestionServicer()},
                                                 grpc_testing.strict_real_time())
    rpc = server.invoke_unary_unary(method_descriptor=SERVICE.methods_by_name[method],
                                    invocation_metadata={}, request=request, timeout=30)
    response, _, code, details = rpc.termination()
    return response, code, details


def _trial_command(doc: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The primary container command after Katib's ${trialParameters.x} substitution."""
    tt = doc["spec"]["trialTemplate"]
    by_param = {p["name"]: values[p["reference"]] for p in tt["trialParameters"]}
    container = tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    return [re.sub(r"\$\{trialParameters\.([^}]+)\}", lambda m: by_param[m.group(1)], arg)
            for arg in container["command"]]


@pytest.mark.parametrize("kustomization", ["overlays/kubeflow", "overlays/kind"])
@pytest.mark.parametrize("name", ["nac-digits", "hpo-digits"])
def test_example_validates_and_gets_suggestions_that_fill_the_template(
        kustomization: str, name: str) -> None:
    doc = experiments(kustomization)[name]
    experiment = to_proto(doc)
    _, code, details = _invoke("ValidateAlgorithmSettings",
                               api_pb2.ValidateAlgorithmSettingsRequest(experiment=experiment))
    assert code == grpc.StatusCode.OK, details
    count = doc["spec"]["parallelTrialCount"]
    reply, code, details = _invoke("GetSuggestions", api_pb2.GetSuggestionsRequest(
        experiment=experiment, current_request_number=count, total_request_number=count))
    assert code == grpc.StatusCode.OK, details
    assert len(reply.parameter_assignments) == count
    references = {p["reference"] for p in doc["spec"]["trialTemplate"]["trialParameters"]}
    parser = trial_cli._parser()
    for item in reply.parameter_assignments:
        values = {a.name: a.value for a in item.assignments}
        # Katib fails trial creation unless the emitted names equal the references.
        assert set(values) == references
        command = _trial_command(doc, values)
        assert command[:4] == ["python", "-u", "-m", "katib.trial"]
        args = parser.parse_args(command[4:])  # SystemExit (a failure) on an unknown flag
        assert args.data == "builtin:digits"
        if name == "nac-digits":
            assert re.fullmatch(r"nac-digits-i0-r\d+", item.trial_name)
            assert values["architecture"].startswith("b64:") and args.stats
            assert args.iteration == 0


def test_warm_example_reads_the_cold_runs_trials_from_the_rendered_namespace() -> None:
    doc = experiments("overlays/kind")["hpo-digits-warm"]
    cold = experiments("overlays/kind")["hpo-digits"]
    calls: list[dict[str, Any]] = []

    class RecordedTrials:
        """CustomObjectsApi stand-in holding Trial CRs shaped like Katib v0.19's."""

        def list_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            items = []
            for i, (lr, bs, momentum, acc) in enumerate([("0.05", "64", "0.9", "0.97"),
                                                         ("0.2", "128", "0.0", "0.91")]):
                items.append({
                    "metadata": {"name": f"hpo-digits-{i}",
                                 "labels": {"katib.kubeflow.org/experiment": "hpo-digits"}},
                    "spec": {"parameterAssignments": [
                        {"name": "lr", "value": lr}, {"name": "batch_size", "value": bs},
                        {"name": "momentum", "value": momentum}]},
                    "status": {"conditions": [{"type": "Succeeded", "status": "True"}],
                               "observation": {"metrics": [
                                   {"name": "accuracy", "min": acc, "max": acc,
                                    "latest": acc}]}}})
            return {"items": items}

    algorithm = OptunaAlgorithm(custom_objects=RecordedTrials)
    algorithm.validate(experiment_from_proto(to_proto(doc)))
    assert calls, "warm_start_source did not make the algorithm read Trial CRs"
    assert calls[0]["namespace"] == cold["metadata"]["namespace"] == "nac-demo"
    assert calls[0]["plural"] == "trials" and calls[0]["group"] == "kubeflow.org"
    assert calls[0]["label_selector"] == "katib.kubeflow.org/experiment=hpo-digits"


@pytest.mark.parametrize("kustomization", ["examples", "overlays/kind"])
def test_examples_also_load_in_the_local_runner(kustomization: str) -> None:
    """One Experiment file, kubectl apply -f or katib.local: the local parser accepts each."""
    from katib.local.experiment import parse_experiment

    for name, doc in experiments(kustomization).items():
        exp = parse_experiment(doc, source=f"{kustomization}/{name}")
        assert exp.name == name and exp.algorithm_name == doc["spec"]["algorithm"][
            "algorithmName"]
        assert exp.max_trial_count == doc["spec"]["maxTrialCount"]
