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
from tests.deploy.rendered import KUBECTL, experiments

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


@pytest.mark.parametrize("kustomization", ["overlays/kubeflow", "overlays/standalone",
                                           "overlays/kind"])
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
    parser = trial_cli.parser()
    for item in reply.parameter_assignments:
        values = {a.name: a.value for a in item.assignments}
        # Katib fails trial creation unless the emitted names equal the references.
        assert set(values) == references
        command = _trial_command(doc, values)
        assert command[:4] == ["python", "-u", "-m", "katib.trial"]
        args = parser.parse_args(command[4:])  # SystemExit (a failure) on an unknown flag
        assert args.data == "builtin:digits"
        if name == "nac-digits":
            assert item.trial_name.startswith("nac-digits-i0-")
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
    from katib.validation import parse_experiment

    for name, doc in experiments(kustomization).items():
        exp = parse_experiment(doc, source=f"{kustomization}/{name}")
        assert exp.name == name and exp.algorithm_name == doc["spec"]["algorithm"][
            "algorithmName"]
        assert exp.max_trial_count == doc["spec"]["maxTrialCount"]


# kubeflow/katib@v0.19.0 pkg/suggestion/v1beta1/hyperopt/service.py _validate_tpe_setting and
# _validate_random_setting: the only names Katib's own `tpe` and `random` accept (anything else
# fails the Suggestion: "unknown setting <name> for algorithm tpe").
HYPEROPT_SETTINGS = {"tpe": {"gamma", "prior_weight", "n_EI_candidates", "random_state"},
                     "random": {"random_state"}}


def _validate_code(algorithm: str, settings: dict[str, str]) -> tuple[grpc.StatusCode, str]:
    from katib.suggestion import testing as T

    request = api_pb2.ValidateAlgorithmSettingsRequest(
        experiment=T.hpo_experiment(algorithm=algorithm, settings=settings))
    _, code, details = _invoke("ValidateAlgorithmSettings", request)
    return code, details


def test_examples_on_katibs_own_hyperopt_use_only_settings_it_accepts() -> None:
    """Experiments naming Katib's built-in `tpe`/`random` run on Katib's hyperopt image on a
    cluster and on our service under katib.local: only hyperopt's setting names, and our
    service accepts exactly those (same ranges) and rejects the rest, as hyperopt does."""
    from tests.conformance import shipped

    found = 0
    for unit, exp in shipped.of_kind("Experiment"):
        algorithm = exp["spec"]["algorithm"]
        if algorithm["algorithmName"] in HYPEROPT_SETTINGS:
            names = {s["name"] for s in algorithm.get("algorithmSettings", [])}
            assert names <= HYPEROPT_SETTINGS[algorithm["algorithmName"]], unit.source
            found += 1
            code, details = _validate_code(algorithm["algorithmName"], {
                s["name"]: s["value"] for s in algorithm.get("algorithmSettings", [])})
            assert code == grpc.StatusCode.OK, details
    assert found >= 1  # examples/tpe-digits.yaml
    code, _ = _validate_code("tpe", {"gamma": "0.3", "prior_weight": "2",
                                     "n_EI_candidates": "8", "random_state": "1"})
    assert code == grpc.StatusCode.OK
    for algorithm, bad in [("tpe", {"n_startup_trials": "4"}), ("tpe", {"seed": "1"}),
                           ("tpe", {"gamma": "1"}), ("tpe", {"gamma": "0"}),
                           ("tpe", {"prior_weight": "0"}), ("tpe", {"n_EI_candidates": "0"}),
                           ("tpe", {"random_state": "-1"}), ("random", {"sampler": "tpe"}),
                           ("random", {"n_EI_candidates": "3"})]:
        code, details = _validate_code(algorithm, bad)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (algorithm, bad, details)
        assert next(iter(bad)) in details


def test_katib_tpe_gamma_is_hyperopts_split() -> None:
    """hyperopt's TPE puts ceil(gamma * sqrt(n)) trials (at most 25) in the "good" group; the
    `tpe` name's gamma means the same, and the sampler runs with it."""
    from katib.suggestion import testing as T
    from katib.suggestion.algorithms.study_cache import hyperopt_gamma

    assert [hyperopt_gamma(0.25, n) for n in (1, 16, 100, 100_000)] == [1, 1, 3, 25]
    assert hyperopt_gamma(0.5, 100) == 5
    exp = T.hpo_experiment(algorithm="tpe", settings={"gamma": "0.5", "random_state": "3"},
                           parameters=[T.parameter("lr", T.DOUBLE, low="0.01", high="0.1")])
    trials = [T.trial(f"t{i}", {"lr": f"{0.01 + 0.008 * i:.3f}"},
                      metrics={"accuracy": str(0.5 + i / 40)}) for i in range(12)]
    reply, code, details = _invoke("GetSuggestions", T.request(exp, count=2, trials=trials))
    assert code == grpc.StatusCode.OK, details
    assert len(reply.parameter_assignments) == 2


def test_warm_start_example_source_is_portable(tmp_path: Any, monkeypatch: Any) -> None:
    """examples/warm-start-digits.yaml names `<namespace>/<experiment>`: on a cluster the Trial
    CRs of that Experiment (same namespace), under katib.local the local results of that
    experiment in katib-local/<experiment>/results.json of the working directory."""
    import json

    from katib.suggestion.algorithms.warm_start_sources import load_priors
    from katib.types import Objective
    from tests.conformance import shipped

    docs = {d["metadata"]["name"]: d for _, d in shipped.of_kind("Experiment")}
    warm = docs["warm-start-digits"]
    (source,) = [s["value"] for s in warm["spec"]["algorithm"]["algorithmSettings"]
                 if s["name"] == "warm_start_source"]
    namespace, name = source.split("/")
    assert namespace == warm["metadata"]["namespace"] == docs[name]["metadata"]["namespace"]
    objective = Objective(type="maximize", metric="accuracy")
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "katib-local" / name / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text(json.dumps({
        "format": "katib-local-results", "version": 1, "experiment": name,
        "trials": [{"name": f"{name}-1", "status": "Succeeded",
                    "assignments": {"lr": "0.05"}, "metrics": {"accuracy": "0.97"}}]}))
    (prior,) = load_priors(source, objective, custom_objects=lambda: pytest.fail(
        "read the Kubernetes API although local results exist"))
    assert (prior.assignments, prior.objective) == ({"lr": "0.05"}, 0.97)
    results.unlink()  # no local results (a suggestion pod): the Trial CRs are read

    class Trials:
        def list_namespaced_custom_object(self, **kw: Any) -> dict[str, Any]:
            assert (kw["namespace"], kw["label_selector"]) == (
                namespace, f"katib.kubeflow.org/experiment={name}")
            return {"items": [{"metadata": {"name": f"{name}-x"},
                               "spec": {"parameterAssignments": [{"name": "lr",
                                                                  "value": "0.1"}]},
                               "status": {"conditions": [{"type": "Succeeded",
                                                          "status": "True"}],
                                          "observation": {"metrics": [{
                                              "name": "accuracy", "max": "0.9",
                                              "min": "0.9", "latest": "0.9"}]}}}]}

    (prior,) = load_priors(source, objective, custom_objects=Trials)
    assert prior.objective == 0.9


@pytest.mark.slow
def test_tpe_then_warm_start_examples_run_unchanged_under_katib_local(
        tmp_path: Any, monkeypatch: Any) -> None:
    """The two raw examples as shipped (settings, namespace, warm_start_source), only the budget
    cut to one 1-epoch trial each: Katib's `tpe` settings are accepted, and the warm-start run
    finds tpe-digits' local results through `<namespace>/tpe-digits` and re-evaluates its best
    configuration first (warm_start_type transfer)."""
    from pathlib import Path

    import yaml

    from katib.local import TrialStatus, run_experiment

    examples = Path(__file__).resolve().parents[2] / "examples"
    monkeypatch.chdir(tmp_path)  # katib.local's default workdir: katib-local/<experiment>

    def small(name: str) -> dict[str, Any]:
        doc = yaml.safe_load((examples / name).read_text())
        doc["spec"].update(maxTrialCount=1, parallelTrialCount=1, maxFailedTrialCount=1)
        (container,) = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
            "containers"]
        container["args"] = [a if not a.startswith("--epochs=") else "--epochs=1"
                             for a in container["args"]]
        return doc

    (cold,) = run_experiment(small("tpe-digits.yaml"), progress=False).trials
    assert cold.status == TrialStatus.SUCCEEDED
    assert (tmp_path / "katib-local" / "tpe-digits" / "results.json").is_file()
    (warm,) = run_experiment(small("warm-start-digits.yaml"), progress=False).trials
    assert warm.status == TrialStatus.SUCCEEDED
    assert warm.assignments == cold.assignments  # the prior's best, re-evaluated first
