"""Trial rendering: Katib's substitution rules and the primary container of each job kind."""

from __future__ import annotations

import sys

import pytest

from katib.backends.local.template import render_trial, render_trial_spec
from katib.local import TemplateError
from katib.validation import parse_experiment
from tests.katib.backends.local.experiments import hpo


def _with_trial_spec(trial_spec: dict, primary: str, params: list[dict] | None = None) -> dict:
    doc = hpo()
    tt = doc["spec"]["trialTemplate"]
    tt["trialSpec"] = trial_spec
    tt["primaryContainerName"] = primary
    if params is not None:
        tt["trialParameters"] = params
    return doc


def test_job_argv_env_and_metadata_references() -> None:
    exp = parse_experiment(hpo())
    cmd = render_trial(exp, "fake-hpo-007", {"x": "0.25"}, python="/my/python")
    assert cmd.argv[0] == "/my/python"  # `python` in the image means our interpreter locally
    assert cmd.argv[-4:] == ["--x", "0.25", "--name", "fake-hpo-007"]
    assert cmd.container_path == "spec.trialTemplate.trialSpec.spec.template.spec.containers[0]"


def test_default_python_is_this_interpreter() -> None:
    cmd = render_trial(parse_experiment(hpo()), "t", {"x": "1"})
    assert cmd.argv[0] == sys.executable


def test_pytorchjob_master_container_env_and_k8s_vars() -> None:
    spec = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {
        "labels": {"team": "vision"}},
        "spec": {"pytorchReplicaSpecs": {
            "Worker": {"template": {"spec": {"containers": [
                {"name": "pytorch", "command": ["wrong"]}]}}},
            "Master": {"template": {"spec": {"containers": [
                {"name": "sidecar", "command": ["nope"]},
                {"name": "pytorch", "command": ["python3", "train.py"],
                 "args": ["--lr=${trialParameters.x}", "--out=$(OUT)/m", "--lit=$$(OUT)",
                          "--team=${trialParameters.team}"],
                 "env": [{"name": "OUT", "value": "/tmp/o"}]}]}}}}}}
    doc = _with_trial_spec(spec, "pytorch", [{"name": "x", "reference": "x"},
                                             {"name": "team",
                                              "reference": "${trialSpec.Labels[team]}"}])
    cmd = render_trial(parse_experiment(doc), "t1", {"x": "0.5"}, python="py")
    assert cmd.argv == ["py", "train.py", "--lr=0.5", "--out=/tmp/o/m", "--lit=$(OUT)",
                        "--team=vision"]
    assert cmd.env == {"OUT": "/tmp/o"}
    assert ".pytorchReplicaSpecs.Master.template.spec.containers[1]" in cmd.container_path


def test_trainjob_trainer_container() -> None:
    spec = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"command": ["python", "-m", "train"],
                                 "args": ["--x", "${trialParameters.x}"],
                                 "env": [{"name": "A", "value": "1"}]}}}
    doc = _with_trial_spec(spec, "node", [{"name": "x", "reference": "x"}])
    cmd = render_trial(parse_experiment(doc), "t", {"x": "3"}, python="py")
    assert cmd.argv == ["py", "-m", "train", "--x", "3"]
    assert cmd.env == {"A": "1"}


def test_pytorchjob_without_master_is_explained() -> None:
    spec = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {
        "pytorchReplicaSpecs": {"Worker": {"template": {"spec": {"containers": [
            {"name": "pytorch", "command": ["python", "${trialParameters.x}"]}]}}}}}}
    doc = _with_trial_spec(spec, "pytorch", [{"name": "x", "reference": "x"}])
    with pytest.raises(TemplateError, match=r"no Master/Chief/Launcher replica \(found "
                                            r"\['Worker'\]\)"):
        render_trial(parse_experiment(doc), "t", {"x": "1"})


def test_wrong_primary_container_lists_the_containers() -> None:
    doc = hpo()
    doc["spec"]["trialTemplate"]["primaryContainerName"] = "trainer"
    with pytest.raises(TemplateError,
                       match=r"no container 'trainer' in .*\(found \['training'\]\)"):
        render_trial(parse_experiment(doc), "t", {"x": "1"})


def test_assignment_count_must_match_references() -> None:
    exp = parse_experiment(hpo())
    with pytest.raises(TemplateError, match="assigned 2 parameters but the trialTemplate "
                                            r"references 1; add trialParameters for \['y'\]"):
        render_trial(exp, "t", {"x": "1", "y": "2"})
    with pytest.raises(TemplateError, match=r"references 'x', but the suggestion assigned only"):
        render_trial(exp, "t", {"z": "1"})


def test_value_from_and_missing_command_refused() -> None:
    doc = hpo()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    container["env"] = [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s"}}}]
    with pytest.raises(TemplateError, match=r"env\[0\] \(KEY\): valueFrom needs a cluster"):
        render_trial(parse_experiment(doc), "t", {"x": "1"})
    del container["env"]
    container["command"] = []
    container["args"] = ["${trialParameters.x}", "${trialParameters.trialName}"]
    with pytest.raises(TemplateError, match="command: empty; locally there is no image "
                                            "entrypoint"):
        render_trial(parse_experiment(doc), "t", {"x": "1"})


def test_rendered_spec_carries_trial_name() -> None:
    spec = render_trial_spec(parse_experiment(hpo()), "trial-9", {"x": "0.3"})
    assert spec["metadata"] == {"name": "trial-9", "namespace": "default"}
    args = spec["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["--x", "0.3", "--name", "trial-9"]


def test_cpu_limit_is_read_from_the_container() -> None:
    doc = hpo()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    container["resources"] = {"requests": {"cpu": "500m"}, "limits": {"cpu": "2"}}
    assert render_trial(parse_experiment(doc), "t", {"x": "1"}).cpu == 2.0
    container["resources"] = {"requests": {"cpu": "1500m"}}
    assert render_trial(parse_experiment(doc), "t", {"x": "1"}).cpu == 1.5
    container["resources"] = {"limits": {"cpu": "lots"}}
    with pytest.raises(TemplateError, match="resources.limits.cpu: 'lots' is not a CPU quantity"):
        render_trial(parse_experiment(doc), "t", {"x": "1"})
