"""Render every kustomization with `kubectl kustomize` and validate what a cluster would get.

Built-in kinds go through kubernetes-validate (strict, Kubernetes 1.32: the kind node image of
scripts/e2e-kind.sh); Experiments through Katib's typed models (kubeflow_katib_api) plus the
webhook rules the models do not encode; katib-config through the KatibConfig shape of
reference/katib.md §3; RBAC must stay get/list on trials.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubeflow_katib_api import models

from katib import nac_schedule
from tests.conformance import katib_pods, shipped
from tests.conformance.pins import KATIB
from tests.conformance.pins import MANIFESTS as MANIFESTS_PIN

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
# Every kustomization under manifests/, found by walking (new ones are validated too).
KUSTOMIZATIONS = [str(d.relative_to(MANIFESTS)) for d in shipped.kustomization_dirs()
                  if d.is_relative_to(MANIFESTS)]
# kubeflow: Kubeflow Platform (profile namespace); standalone: Katib's standalone install;
# kind: the e2e cluster (standalone Katib).
OVERLAYS = ["overlays/kubeflow", "overlays/standalone", "overlays/kind"]
K8S_VERSION = "1.32.0"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SUGGESTION_IMAGE = f"ghcr.io/kubeflow-nac/katib-suggestion:{VERSION}"
TRAINER_IMAGE = f"ghcr.io/kubeflow-nac/automl-trainer:{VERSION}"
OUR_ALGORITHMS = {"nac", "warm-start"}
# Katib v0.19.0 standalone katib-config: built-in suggestion -> image.
KATIB_BUILTINS = {
    "random": "suggestion-hyperopt", "tpe": "suggestion-hyperopt", "grid": "suggestion-optuna",
    "hyperband": "suggestion-hyperband", "bayesianoptimization": "suggestion-skopt",
    "cmaes": "suggestion-goptuna", "sobol": "suggestion-goptuna",
    "multivariate-tpe": "suggestion-optuna", "enas": "suggestion-enas",
    "darts": "suggestion-darts", "pbt": "suggestion-pbt",
}
KUBECTL = shipped.KUBECTL
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: cannot "
                                "render the kustomizations (install kubectl >= 1.27)")


def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize manifests/<kustomization>` (one renderer: tests/conformance)."""
    return shipped.render(f"manifests/{kustomization}")


def _builtin(doc: dict[str, Any]) -> bool:
    """Kinds kubernetes-validate knows: core and *.k8s.io groups, not CRDs (kubeflow.org,
    kserve.io, ...), which the conformance tests and their own models check."""
    group = doc["apiVersion"].rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


def by_kind(kustomization: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in render(kustomization) if d["kind"] == kind]


def katib_config(kustomization: str) -> dict[str, Any]:
    (cm,) = [d for d in by_kind(kustomization, "ConfigMap") if d["metadata"]["name"] ==
             "katib-config"]
    assert cm["metadata"]["namespace"] == "kubeflow", "katib-config must stay in Katib's namespace"
    return yaml.safe_load(cm["data"]["katib-config.yaml"])


def experiments(kustomization: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in by_kind(kustomization, "Experiment")}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_builtin_kinds_validate_against_kubernetes_schemas(kustomization: str) -> None:
    docs = render(kustomization)
    assert docs, f"{kustomization} renders nothing"
    builtin = [d for d in docs if _builtin(d)]
    for doc in builtin:
        # strict: an unknown or misspelt field is an error, not silently dropped.
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", ["examples", *OVERLAYS])
def test_trial_jobs_validate_as_batch_v1_jobs(kustomization: str) -> None:
    for name, exp in experiments(kustomization).items():
        template = exp["spec"]["trialTemplate"]["trialSpec"]
        assert (template["apiVersion"], template["kind"]) == ("batch/v1", "Job"), name
        # Katib's webhook: no metadata.name/namespace in the template (kustomize must not have
        # added one), then every ${trialParameters.x} replaced by "test-value" and the result
        # converted to a batch/v1 Job (validator.go validateTrialTemplate).
        assert not (template.get("metadata") or {}).keys() & {"name", "namespace"}, name
        text = re.sub(r"\$\{trialParameters\.[^}]+\}", "test-value", yaml.safe_dump(template))
        job = yaml.safe_load(text)
        job["metadata"] = {"name": f"{name}-trial"}
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def _dropped(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Keys that disappear in a round trip through the pydantic models (unknown fields)."""
    if isinstance(sent, dict):
        out = []
        for key, value in sent.items():
            where = f"{path}.{key}"
            if key not in kept:
                out.append(where)
            elif key != "trialSpec":  # free-form: validated as a Job above
                out.extend(_dropped(value, kept[key], where))
        return out
    if isinstance(sent, list):
        return [p for i, (a, b) in enumerate(zip(sent, kept, strict=True))
                for p in _dropped(a, b, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("kustomization", ["examples", *OVERLAYS])
def test_experiments_parse_as_katib_models_without_unknown_fields(kustomization: str) -> None:
    exps = experiments(kustomization)
    assert set(exps) == {"nac-digits", "hpo-digits", "hpo-digits-warm"}
    for name, doc in exps.items():
        parsed = models.V1beta1Experiment.from_dict(doc)
        assert parsed.spec is not None and parsed.spec.trial_template is not None
        assert _dropped(doc, parsed.to_dict()) == [], f"{name}: fields Katib does not know"
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 40
        if kustomization != "examples":
            assert doc["metadata"]["namespace"]


def _placeholders(trial_spec: Any) -> set[str]:
    return set(re.findall(r"\$\{trialParameters\.([^}]+)\}", yaml.safe_dump(trial_spec)))


@pytest.mark.parametrize("kustomization", ["examples", *OVERLAYS])
def test_experiments_follow_katib_webhook_rules(kustomization: str) -> None:
    for name, exp in experiments(kustomization).items():
        spec = exp["spec"]
        tt = spec["trialTemplate"]
        declared = {p["name"] for p in tt["trialParameters"]}
        # Every ${trialParameters.x} declared, every declared parameter used.
        assert _placeholders(tt["trialSpec"]) == declared, name
        assert bool(spec.get("parameters")) != bool(spec.get("nasConfig")), name
        if spec.get("parameters"):
            # HP experiments: each reference is a search-space parameter.
            names = {p["name"] for p in spec["parameters"]}
            assert {p["reference"] for p in tt["trialParameters"]} <= names, name
        assert spec["parallelTrialCount"] <= spec["maxTrialCount"], name
        assert spec["maxFailedTrialCount"] <= spec["maxTrialCount"], name
        (container,) = tt["trialSpec"]["spec"]["template"]["spec"]["containers"]
        assert container["name"] == tt["primaryContainerName"], name
        assert container["image"] == TRAINER_IMAGE, name
        assert container["securityContext"]["runAsNonRoot"] is True, name
        # Unbuffered, or the StdOut collector sees no metrics (katib#2175).
        assert container["command"][:4] == ["python", "-u", "-m", "katib.trial"], name
        assert spec["algorithm"]["algorithmName"] in OUR_ALGORITHMS, name


def _settings(exp: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["value"] for s in exp["spec"]["algorithm"]["algorithmSettings"]}


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
    settings = _settings(exp)
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
    assert "warm_start_source" not in _settings(exps["hpo-digits"])
    # Same search space, so the cold run's trials are valid observations for the warm one.
    assert exps["hpo-digits"]["spec"]["parameters"] == exps["hpo-digits-warm"]["spec"][
        "parameters"]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_warm_start_source_points_at_the_cold_run_in_the_rendered_namespace(
        kustomization: str) -> None:
    exps = experiments(kustomization)
    namespace = exps["hpo-digits"]["metadata"]["namespace"]
    assert exps["hpo-digits-warm"]["metadata"]["namespace"] == namespace
    assert _settings(exps["hpo-digits-warm"])["warm_start_source"] == f"{namespace}/hpo-digits"


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


@pytest.mark.parametrize("kustomization", ["base", *OVERLAYS])
def test_katib_config_structure(kustomization: str) -> None:
    config = katib_config(kustomization)
    assert config["apiVersion"] == "config.kubeflow.org/v1beta1"
    assert config["kind"] == "KatibConfig"
    assert "Job.v1.batch" in config["init"]["controller"]["trialResources"]
    suggestions = config["runtime"]["suggestions"]
    names = [s["algorithmName"] for s in suggestions]
    assert len(names) == len(set(names)), "duplicate algorithmName"
    for s in suggestions:
        assert s["image"], f"{s['algorithmName']}: empty image (Katib rejects the Experiment)"
        # The composer rejects a declared 6789 / suggestion-api port.
        for port in s.get("ports", []):
            assert port.get("containerPort") != 6789 and port.get("name") != "suggestion-api"
    # Katib v0.19.0's own defaults are all still there, at v0.19.0.
    by_name = {s["algorithmName"]: s for s in suggestions}
    for algorithm, image in KATIB_BUILTINS.items():
        assert by_name[algorithm]["image"] == f"ghcr.io/kubeflow/katib/{image}:v0.19.0"
    collectors = {c["kind"]: c["image"] for c in config["runtime"]["metricsCollectors"]}
    assert collectors["StdOut"] == "ghcr.io/kubeflow/katib/file-metrics-collector:v0.19.0"
    assert config["runtime"]["earlyStoppings"][0]["algorithmName"] == "medianstop"
    # Ours: versioned image, realistic resources (Katib's 100Mi default OOMs: #2260, #2716).
    for algorithm in OUR_ALGORITHMS:
        entry = by_name[algorithm]
        assert entry["image"] == SUGGESTION_IMAGE
        limits, requests = entry["resources"]["limits"], entry["resources"]["requests"]
        assert _mib(limits["memory"]) >= 256 and _mib(requests["memory"]) >= 64
        assert _mib(requests["memory"]) <= _mib(limits["memory"])
        assert entry["securityContext"]["runAsNonRoot"] is True
        assert "readinessProbe" not in entry and "livenessProbe" not in entry, \
            "keep Katib's native gRPC probes (manager.v1beta1.Suggestion)"
    assert by_name["warm-start"]["serviceAccountName"] == "katib-warm-start"
    assert "serviceAccountName" not in by_name["nac"], "nac needs no Kubernetes API access"


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    return float(match.group(1)) * units[match.group(2)]


def test_kind_katib_config_differs_from_base_only_in_our_pull_policy_and_resources() -> None:
    base, kind = katib_config("base"), katib_config("overlays/kind")

    def without_ours(config: dict[str, Any]) -> dict[str, Any]:
        out = yaml.safe_load(yaml.safe_dump(config))
        for s in out["runtime"]["suggestions"]:
            if s["algorithmName"] in OUR_ALGORITHMS:
                s.pop("imagePullPolicy"), s.pop("resources")
        return out

    assert without_ours(base) == without_ours(kind)
    for s in kind["runtime"]["suggestions"]:
        if s["algorithmName"] in OUR_ALGORITHMS:
            assert s["imagePullPolicy"] == "Never"
    assert katib_config("overlays/standalone") == base


# kubeflow/manifests@26.03 (and v1.11.0, identical) applications/katib/upstream/installs/
# katib-cert-manager/katib-config.yaml `init`, = kubeflow/katib@v0.19.0 manifests/v1beta1/installs/
# katib-cert-manager/katib-config.yaml: what Kubeflow Platform runs Katib with.
PLATFORM_INIT = {"controller": {"webhookPort": 8443, "trialResources": [
    "TrainJob.v1alpha1.trainer.kubeflow.org", "Job.v1.batch", "TFJob.v1.kubeflow.org",
    "PyTorchJob.v1.kubeflow.org", "MPIJob.v1.kubeflow.org", "XGBoostJob.v1.kubeflow.org"]}}


def test_platform_katib_config_leaves_init_alone() -> None:
    """The Platform overlay's katib-config keeps the Platform's `init` (no certGenerator:
    cert-manager issues katib-webhook-cert; kubeflow/katib@v0.19.0
    cmd/katib-controller/v1beta1/main.go starts its own cert-controller when
    init.certGenerator.enable is true) and adds only our runtime entries, the same as base."""
    platform, base = katib_config("overlays/kubeflow"), katib_config("base")
    assert platform["init"] == PLATFORM_INIT, MANIFESTS_PIN.cite(
        "applications/katib/upstream/installs/katib-cert-manager/katib-config.yaml")
    assert "certGenerator" not in platform["init"]
    assert base["init"] == {"certGenerator": {"enable": True}, **PLATFORM_INIT}, KATIB.cite(
        "manifests/v1beta1/installs/katib-standalone/katib-config.yaml")
    assert platform["runtime"] == base["runtime"], \
        "manifests/overlays/kubeflow/katib-config.yaml runtime must equal the base's"


# What the warm-start suggestion pod calls: warm_start_sources lists Trials (get/list);
# medianstop's SetTrialStatus (kubeflow/katib@v0.19.0 pkg/earlystopping/v1beta1/medianstop/
# service.py) gets the Trial and patches trials/status, in the pod's own namespace.
WARM_START_RULES = [{"apiGroups": ["kubeflow.org"], "resources": ["trials"],
                     "verbs": ["get", "list"]},
                    {"apiGroups": ["kubeflow.org"], "resources": ["trials/status"],
                     "verbs": ["patch"]}]


def _allows(rules: Any, group: str, resource: str, verb: str) -> bool:
    return any((group in r["apiGroups"] or "*" in r["apiGroups"])
               and (resource in r["resources"] or "*" in r["resources"])
               and (verb in r["verbs"] or "*" in r["verbs"]) for r in rules)


def test_warm_start_role_covers_katibs_early_stopping_grant_and_no_more() -> None:
    """With a custom serviceAccountName Katib creates no early-stopping Role (kubeflow/katib@
    v0.19.0 pkg/controller.v1beta1/suggestion/composer/composer.go DesiredDeployment:
    "For custom service account user should manually add appropriate Role"), so ours must
    grant what early stopping uses, within what DesiredRBAC grants (verbs * on trials and
    trials/status), plus warm-start's own get/list."""
    exp = {"metadata": {"name": "x"}, "spec": {"algorithm": {"algorithmName": "warm-start"},
                                               "earlyStopping": {"algorithmName": "medianstop"}}}
    assert katib_pods.suggestion_needs_own_rbac(exp, katib_config("base"))
    (role,) = by_kind("base", "Role")
    for verb, resource in [("get", "trials"), ("patch", "trials/status")]:
        assert _allows(role["rules"], "kubeflow.org", resource, verb), (verb, resource)
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert _allows(katib_pods.EARLY_STOPPING_RULES, group, resource, verb) \
                        and "*" not in (group, resource, verb), rule
    assert not _allows(role["rules"], "kubeflow.org", "trials", "delete")
    assert not _allows(role["rules"], "kubeflow.org", "trials/status", "update")


@pytest.mark.parametrize("kustomization", ["base", *OVERLAYS])
def test_rbac_grants_only_what_warm_start_and_early_stopping_call(kustomization: str) -> None:
    (sa,) = by_kind(kustomization, "ServiceAccount")
    (role,) = by_kind(kustomization, "Role")
    (binding,) = by_kind(kustomization, "RoleBinding")
    assert by_kind(kustomization, "ClusterRole") == []
    assert by_kind(kustomization, "ClusterRoleBinding") == []
    assert role["rules"] == WARM_START_RULES
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    (subject,) = binding["subjects"]
    assert (subject["kind"], subject["name"]) == ("ServiceAccount", sa["metadata"]["name"])
    if kustomization != "base":
        # The subject must be the ServiceAccount in the binding's own namespace.
        assert subject["namespace"] == sa["metadata"]["namespace"] == \
            binding["metadata"]["namespace"] == role["metadata"]["namespace"]


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


def test_optional_pipeline_rbac_grants_exactly_what_the_katib_backend_calls() -> None:
    """katib/backends/kubernetes creates/gets/deletes Experiments and lists Trials; the
    optional Role for KFP's pipeline-runner grants that and no more, in one namespace."""
    docs = render("optional/pipeline-katib-backend")
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding"}
    (role,) = by_kind("optional/pipeline-katib-backend", "Role")
    (binding,) = by_kind("optional/pipeline-katib-backend", "RoleBinding")
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"])
             for r in role["rules"]}
    assert rules == {(("kubeflow.org",), ("experiments",)): {"create", "get", "delete"},
                     (("kubeflow.org",), ("trials",)): {"get", "list"}}
    (subject,) = binding["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": "pipeline-runner",
                       "namespace": role["metadata"]["namespace"]}
    # The calls the backend makes (the API method names) map onto exactly those verbs.
    source = (ROOT / "katib" / "backends" / "kubernetes" / "backend.py").read_text()
    calls = set(re.findall(r"\.(\w+)_namespaced_custom_object\(", source))
    assert calls <= {"create", "get", "list", "delete"}, calls


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
