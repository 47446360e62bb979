"""Experiment parsing: Katib's defaults applied, every bad field named with its fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from katib.local import ExperimentError, load_experiment
from katib.validation import parse_experiment
from tests.katib.backends.local.experiments import hpo


def _problems(doc: dict) -> str:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(doc)
    return str(info.value)


def test_defaults_follow_katib() -> None:
    doc = hpo()
    del doc["spec"]["parallelTrialCount"]
    del doc["spec"]["maxTrialCount"]
    exp = parse_experiment(doc)
    assert exp.parallel_trial_count == 3
    assert exp.max_trial_count is None
    # Objective and additional metrics default to max when maximizing (experiment_defaults.go).
    assert exp.objective.strategies == {"accuracy": "max", "loss": "max"}
    assert exp.metrics_formats == (r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)",)
    assert exp.early_stopping is None
    assert exp.namespace == "default"


def test_minimize_defaults_to_min_and_strategies_override() -> None:
    doc = hpo()
    doc["spec"]["objective"]["type"] = "minimize"
    doc["spec"]["objective"]["metricStrategies"] = [{"name": "loss", "value": "latest"}]
    exp = parse_experiment(doc)
    assert exp.objective.strategies == {"accuracy": "min", "loss": "latest"}


def test_yaml_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(hpo("from-file")))
    assert load_experiment(path).name == "from-file"


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nspec: [unclosed\n")
    with pytest.raises(ExperimentError, match=r"not valid YAML at line \d+"):
        load_experiment(path)


def test_missing_file() -> None:
    with pytest.raises(ExperimentError, match="file not found: /no/such.yaml"):
        load_experiment("/no/such.yaml")


def test_unknown_trial_parameter_reference_lists_known_parameters() -> None:
    doc = hpo(parameters=[
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}},
        {"name": "momentum", "parameterType": "double",
         "feasibleSpace": {"min": "0.5", "max": "0.9"}},
    ])
    doc["spec"]["trialTemplate"]["trialParameters"] = [
        {"name": "x", "reference": "lr"}, {"name": "trialName", "reference": "lrr"}]
    msg = _problems(doc)
    assert ("spec.trialTemplate.trialParameters[1].reference: 'lrr' is not a parameter "
            "(known: lr, momentum)") in msg


def test_type_errors_name_the_path_and_the_fix() -> None:
    doc = hpo()
    doc["spec"]["parameters"][0] = {"name": "lr", "parameterType": "double",
                                    "feasibleSpace": {"min": 0.01, "max": "0.1"}}
    doc["spec"]["maxTrialCount"] = "ten"
    doc["spec"]["objective"]["goal"] = "high"
    msg = _problems(doc)
    assert "spec.objective.goal: must be a number, got 'high'" in msg
    assert msg.count("spec.objective.goal") == 1
    assert 'spec.parameters[0].feasibleSpace.min: must be a string; quote it: "0.01"' in msg
    assert "spec.maxTrialCount: must be an integer, got 'ten'" in msg


def test_misspelt_field_gets_a_suggestion() -> None:
    doc = hpo()
    doc["spec"]["maxTrialCounts"] = doc["spec"].pop("maxTrialCount")
    assert "spec.maxTrialCounts: unknown field; did you mean 'maxTrialCount'?" in _problems(doc)


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("enas", "'enas' cannot run locally: it needs Katib's ENAS controller; use 'nac'"),
    ("pbt", "'pbt' cannot run locally: population-based training needs Katib's checkpoint"),
    ("bogus", "unknown algorithm 'bogus' (available locally: random, grid, tpe"),
])
def test_unservable_algorithms_are_refused_with_alternatives(algorithm: str,
                                                             expected: str) -> None:
    msg = _problems(hpo(algorithm=algorithm))
    assert f"spec.algorithm.algorithmName: {expected}" in msg


def test_webhook_rules() -> None:
    doc = hpo()
    spec = doc["spec"]
    spec["parallelTrialCount"] = 5
    spec["objective"]["additionalMetricNames"] = ["accuracy"]
    spec["parameters"].append({"name": "opt", "parameterType": "categorical",
                               "feasibleSpace": {"min": "1", "list": ["sgd"]}})
    spec["parameters"].append({"name": "n", "parameterType": "int",
                               "feasibleSpace": {"min": "5", "max": "2"}})
    msg = _problems(doc)
    assert "spec.parallelTrialCount: 5 must not exceed spec.maxTrialCount (4)" in msg
    assert "must not contain the objective metric 'accuracy'" in msg
    assert "spec.parameters[1].feasibleSpace.min: not allowed for parameterType categorical" in msg
    assert "spec.parameters[2].feasibleSpace: min 5 is greater than max 2" in msg


def test_template_placeholders_must_match_declared_parameters() -> None:
    doc = hpo()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    container["args"] = ["--x", "${trialParameters.xx}"]
    msg = _problems(doc)
    assert "uses ${trialParameters.xx} but spec.trialTemplate.trialParameters declares no 'xx'" \
        in msg
    assert "'x' is declared but ${trialParameters.x} appears nowhere in the trialSpec" in msg


def test_parameters_xor_nas_config_and_config_map_refused() -> None:
    doc = hpo()
    doc["spec"]["nasConfig"] = {"graphConfig": {"numLayers": 2}}
    doc["spec"]["trialTemplate"]["configMap"] = {"configMapName": "tmpl"}
    msg = _problems(doc)
    assert "spec.parameters / spec.nasConfig: set exactly one" in msg
    assert "spec.trialTemplate.configMap: a ConfigMap template cannot be read without a cluster" \
        in msg


def test_early_stopping_settings_validated_like_medianstop() -> None:
    doc = hpo()
    doc["spec"]["earlyStopping"] = {"algorithmName": "medianstop", "algorithmSettings": [
        {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "0"},
        {"name": "patience", "value": "3"}]}
    msg = _problems(doc)
    assert "spec.earlyStopping.algorithmSettings[1].value: start_step must be an integer >= 1" \
        in msg
    assert "spec.earlyStopping.algorithmSettings[2].name: unknown setting 'patience'" in msg
    doc["spec"]["earlyStopping"]["algorithmSettings"] = doc["spec"]["earlyStopping"][
        "algorithmSettings"][:1]
    exp = parse_experiment(copy.deepcopy(doc))
    assert (exp.early_stopping.min_trials_required, exp.early_stopping.start_step) == (2, 4)


def test_metrics_collector_checks() -> None:
    doc = hpo()
    doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Custom"}, "source": {
        "filter": {"metricsFormat": ["(only-one-group)", "([unclosed"]}}}
    msg = _problems(doc)
    assert "spec.metricsCollectorSpec.collector.kind: 'Custom' is not supported locally" in msg
    assert "metricsFormat[0]: needs two groups (name and value)" in msg
    assert "metricsFormat[1]: invalid regex" in msg


def test_bad_name_and_kind() -> None:
    doc = hpo("Bad_Name")
    doc["kind"] = "Trial"
    with pytest.raises(ExperimentError) as info:
        parse_experiment(doc)
    assert "kind: must be 'Experiment', got 'Trial'" in str(info.value)
    doc["kind"] = "Experiment"
    assert "metadata.name: 'Bad_Name' must be at most 40 lowercase letters" in _problems(doc)
