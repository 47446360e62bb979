"""The shipped example Experiments: the nac and warm-start contracts, the overlays' namespaces,
GPU requests and budgets, the e2e script's selectors, the trainer image of every trial.
"""

from __future__ import annotations

import re

import pytest
import yaml

from katib import nac_schedule
from tests.conformance import shipped
from tests.deploy.rendered import (
    OVERLAYS,
    ROOT,
    TRAINER_IMAGE,
    algorithm_settings,
    by_kind,
    experiments,
    needs_kubectl,
    render,
)

pytestmark = needs_kubectl


@pytest.mark.parametrize("kustomization", ["examples", *OVERLAYS])
def test_nas_example_matches_the_nac_contract(kustomization: str) -> None:
    exp = experiments(kustomization)["nac-digits"]
    spec = exp["spec"]
    assert spec["algorithm"]["algorithmName"] == "nac"
    # contracts.md §5: exactly architecture, iteration, seed.
    tt = spec["trialTemplate"]
    assert [(p["name"], p["reference"]) for p in tt["trialParameters"]] == [
        ("architecture", "architecture"), ("iteration", "iteration"), ("seed", "seed")]
    # contracts.md §4: nac-stats as an additional metric, latest, custom StdOut filter.
    objective = spec["objective"]
    assert (objective["type"], objective["objectiveMetricName"]) == ("maximize", "accuracy")
    assert objective["additionalMetricNames"] == ["nac-stats"]
    assert {"name": "nac-stats", "value": "latest"} in objective["metricStrategies"]
    collector = spec["metricsCollectorSpec"]
    assert collector["collector"]["kind"] == "StdOut"
    formats = collector["source"]["filter"]["metricsFormat"]
    for f in formats:  # the webhook wants two top-level groups: name, value
        assert re.match(r".*\(.*\).*\(.*\).*", f) and re.compile(f).groups >= 2
    assert formats == [r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)", r"(nac-stats)=(\{\S+\})"]
    # The filters read what the trial prints (contracts.md §3).
    lines = ["epoch=3", "loss=0.1234", "accuracy=0.9861", 'nac-stats={"v":1,"branches":'
             '{"c1/3x3":0.5},"gates":{}}']
    found = {m.group(1): m.group(2) for line in lines for f in formats
             for m in [re.search(f, line)] if m}
    assert found["accuracy"] == "0.9861" and found["nac-stats"].startswith('{"v":1')
    # Budget under Katib's controller (slots refilled as they free up): the constructed
    # network is trained trials_per_iteration times (katib/nac_schedule.py).
    settings = algorithm_settings(exp)
    iterations, per_iteration = int(settings["iterations"]), int(settings["trials_per_iteration"])
    assert spec["maxTrialCount"] == nac_schedule.min_max_trial_count(
        iterations, per_iteration, spec["parallelTrialCount"], constructed=per_iteration)
    command = tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    for flag, value in [("--architecture", "${trialParameters.architecture}"),
                        ("--seed", "${trialParameters.seed}"), ("--data", "builtin:digits")]:
        assert command[command.index(flag) + 1] == value
    assert "--stats" in command


@pytest.mark.parametrize("kustomization", ["examples", *OVERLAYS])
def test_hpo_examples_tune_lr_batch_size_and_a_categorical(kustomization: str) -> None:
    exps = experiments(kustomization)
    for name in ("hpo-digits", "hpo-digits-warm"):
        params = {p["name"]: p for p in exps[name]["spec"]["parameters"]}
        assert params["lr"]["parameterType"] == "double"
        assert params["lr"]["feasibleSpace"]["distribution"] == "logUniform"
        assert params["batch_size"]["parameterType"] == "int"
        assert params["momentum"]["parameterType"] == "categorical"
        assert exps[name]["spec"]["algorithm"]["algorithmName"] == "warm-start"
    assert "warm_start_source" not in algorithm_settings(exps["hpo-digits"])
    # Same search space, so the cold run's trials are valid observations for the warm one.
    assert exps["hpo-digits"]["spec"]["parameters"] == exps["hpo-digits-warm"]["spec"][
        "parameters"]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_warm_start_source_points_at_the_cold_run_in_the_rendered_namespace(
        kustomization: str) -> None:
    exps = experiments(kustomization)
    namespace = exps["hpo-digits"]["metadata"]["namespace"]
    assert exps["hpo-digits-warm"]["metadata"]["namespace"] == namespace
    warm = algorithm_settings(exps["hpo-digits-warm"])
    assert warm["warm_start_source"] == f"{namespace}/hpo-digits"


def test_gpu_requests_in_kubeflow_overlays_and_none_on_kind() -> None:
    for name, exp in [*experiments("overlays/kubeflow").items(),
                      *experiments("overlays/standalone").items()]:
        container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
            "containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1, name
        assert container.get("imagePullPolicy", "IfNotPresent") == "IfNotPresent", name
    for name, exp in experiments("overlays/kind").items():
        container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
            "containers"][0]
        assert "nvidia.com/gpu" not in yaml.safe_dump(container["resources"]), name
        assert container["imagePullPolicy"] == "Never", name
        assert exp["spec"]["maxTrialCount"] <= 3, f"{name}: the kind budget must stay tiny"


def test_kind_overlay_labels_the_demo_namespace_for_metrics_injection() -> None:
    (ns,) = by_kind("overlays/kind", "Namespace")
    assert ns["metadata"]["labels"]["katib.kubeflow.org/metrics-collector-injection"] == "enabled"
    namespaced = [d for d in render("overlays/kind") if d["kind"] != "Namespace"
                  and d["metadata"]["name"] != "katib-config"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {ns["metadata"]["name"]}


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """kubectl's equality-based selectors (`k=v`, `k!=v`, comma = and)."""
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=")
            if labels.get(key) == value:
                return False
        else:
            key, value = term.split("=")
            if labels.get(key) != value:
                return False
    return True


def test_e2e_script_selectors_pick_the_intended_objects() -> None:
    """scripts/e2e-kind.sh applies the kind overlay piecewise with `-l`; check each piece."""
    script = (ROOT / "scripts" / "e2e-kind.sh").read_text()
    docs = render("overlays/kind")

    def picked(selector: str) -> set[tuple[str, str]]:
        return {(d["kind"], d["metadata"]["name"]) for d in docs
                if _selects(selector, d["metadata"].get("labels", {}))}

    assert 'kubectl apply -k "${OVERLAY}" -l app.kubernetes.io/component!=example' in script
    infra = picked("app.kubernetes.io/component!=example")
    assert infra == {("Namespace", "nac-demo"), ("ConfigMap", "katib-config"),
                     ("ServiceAccount", "katib-warm-start"),
                     ("Role", "katib-warm-start-trial-reader"),
                     ("RoleBinding", "katib-warm-start-trial-reader")}
    assert 'apply_example nas' in script and 'apply_example hpo-warm' in script
    for example, name in [("nas", "nac-digits"), ("hpo", "hpo-digits"),
                          ("hpo-warm", "hpo-digits-warm")]:
        assert picked(f"nac.kubeflow.org/example={example}") == {("Experiment", name)}
    # The script's budgets agree with the overlay: nac-digits needs 2 trials.
    nas = experiments("overlays/kind")["nac-digits"]
    assert nas["spec"]["maxTrialCount"] == 2 and "verify_experiment nac-digits 2" in script


def test_every_shipped_trial_runs_the_trainer_image() -> None:
    """No placeholder images (a pull of a name that does not exist leaves the Trial hanging in
    ImagePullBackOff: the Job never fails): every trial container of every shipped Experiment,
    raw examples included, is the trainer image `make images` builds."""
    from tests.conformance.pod_security import pod_templates

    seen = 0
    for unit, exp in shipped.of_kind("Experiment"):
        for _, _, spec in pod_templates(exp["spec"]["trialTemplate"]["trialSpec"]):
            for container in spec["containers"]:
                assert container["image"] == TRAINER_IMAGE, (unit.source, container["name"])
                seen += 1
    assert seen >= 12
