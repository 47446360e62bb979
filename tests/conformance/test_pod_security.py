"""Pod Security Standards applied to every pod template we ship and every pod Katib makes of it.

The rules are kubernetes/pod-security-admission's (tests/conformance/pod_security.py, pinned in
tests/conformance/pins.py PSA); the units are found by tests/conformance/shipped.py, so pod
templates other engineers add (PyTorchJob, TrainJob, InferenceService, ...) are checked too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conformance import katib_pods as K
from tests.conformance import katib_webhook as W
from tests.conformance import shipped as S
from tests.conformance.pod_security import PSA, SOURCES, pod_templates, violations

pytestmark = pytest.mark.skipif(S.KUBECTL is None, reason="kubectl is not installed: cannot "
                                "render the kustomizations (install kubectl >= 1.27)")
INSTALLS = {"platform": W.PLATFORM, "standalone": W.STANDALONE}

RESTRICTED = {"containers": [{
    "name": "main", "image": "x",
    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"}}}]}


def _with(change: Any) -> dict[str, Any]:
    pod = copy.deepcopy(RESTRICTED)
    change(pod)
    return pod


def _ids(found: list[str]) -> set[str]:
    return {v.split(":", 1)[0] for v in found}


@pytest.mark.parametrize(("change", "restricted", "baseline"), [
    (lambda p: None, set(), set()),
    (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
     {"allowPrivilegeEscalation"}, set()),
    (lambda p: p["containers"][0]["securityContext"].pop("runAsNonRoot"), {"runAsNonRoot"},
     set()),
    # pod-level runAsNonRoot / seccompProfile cover containers that leave them unset
    (lambda p: (p["containers"][0]["securityContext"].pop("runAsNonRoot"),
                p["containers"][0]["securityContext"].pop("seccompProfile"),
                p.update(securityContext={"runAsNonRoot": True,
                                          "seccompProfile": {"type": "RuntimeDefault"}})),
     set(), set()),
    (lambda p: p.update(securityContext={"runAsNonRoot": False}), {"runAsNonRoot"}, set()),
    (lambda p: p["containers"][0]["securityContext"].update(runAsUser=0), {"runAsUser"}, set()),
    (lambda p: p["containers"][0]["securityContext"].pop("seccompProfile"),
     {"seccompProfile_restricted"}, set()),
    (lambda p: p["containers"][0]["securityContext"].update(
        seccompProfile={"type": "Unconfined"}), {"seccompProfile_restricted"},
     {"seccompProfile_baseline"}),
    (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
     {"capabilities_restricted"}, set()),
    (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_BIND_SERVICE"]), set(), set()),
    (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
     {"capabilities_restricted"}, {"capabilities_baseline"}),
    (lambda p: p["containers"][0]["securityContext"].update(privileged=True),
     {"privileged"}, {"privileged"}),
    (lambda p: p.update(hostNetwork=True), {"hostNamespaces"}, {"hostNamespaces"}),
    (lambda p: p.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
     {"restrictedVolumes"}, {"hostPathVolumes"}),
    (lambda p: p.update(volumes=[{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
     {"restrictedVolumes"}, set()),
    (lambda p: p.update(volumes=[{"name": "e", "emptyDir": {}}, {"name": "c", "configMap": {
        "name": "x"}}]), set(), set()),
    (lambda p: p["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
     {"hostPorts"}, {"hostPorts"}),
    (lambda p: p.update(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
     {"sysctls"}, {"sysctls"}),
    (lambda p: p["containers"][0]["securityContext"].update(procMount="Unmasked"),
     {"procMount"}, {"procMount"}),
    (lambda p: p["containers"][0]["securityContext"].update(
        seLinuxOptions={"user": "root"}), {"seLinuxOptions"}, {"seLinuxOptions"}),
    (lambda p: p["containers"][0]["securityContext"].update(
        appArmorProfile={"type": "Unconfined"}), {"appArmorProfile"}, {"appArmorProfile"}),
    (lambda p: p["containers"][0]["securityContext"].update(
        windowsOptions={"hostProcess": True}), {"windowsHostProcess"}, {"windowsHostProcess"}),
    # init and ephemeral containers are judged like the others (visitor.go visitContainers)
    (lambda p: p.update(initContainers=[{"name": "init", "image": "x"}]),
     {"allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile_restricted",
      "capabilities_restricted"}, set()),
    (lambda p: p.update(ephemeralContainers=[{"name": "dbg", "image": "x", "securityContext": {
        "privileged": True}}]), {"privileged", "allowPrivilegeEscalation", "runAsNonRoot",
                                 "seccompProfile_restricted", "capabilities_restricted"},
     {"privileged"}),
    # spec.os.name=windows: the 1.25+ Linux-only checks do not apply
    (lambda p: (p["containers"][0].pop("securityContext"),
                p.update(os={"name": "windows"})), {"runAsNonRoot"}, set()),
])
def test_checker_follows_the_upstream_checks(change: Any, restricted: set[str],
                                             baseline: set[str]) -> None:
    """kubernetes/pod-security-admission@v0.32.13 policy/check_*.go, the newest version of each
    check at Kubernetes 1.32, restricted overriding the baseline checks in OverrideCheckIDs
    (policy/checks.go, policy/registry.go)."""
    pod = _with(change)
    assert _ids(violations(pod)) == restricted
    assert _ids(violations(pod, level="baseline")) == baseline


def test_every_check_cites_its_upstream_file() -> None:
    assert set(SOURCES) >= {"runAsNonRoot", "allowPrivilegeEscalation",
                            "capabilities_restricted", "seccompProfile_restricted",
                            "restrictedVolumes", "hostPathVolumes"}
    assert all(s.startswith(f"{PSA.repo}@{PSA.release}") for s in SOURCES.values())
    with pytest.raises(ValueError, match="level must be one of"):
        violations(RESTRICTED, level="privileged")


def test_walker_finds_pod_specs_in_any_kind() -> None:
    """Pods, workload templates, Katib trialSpecs, Kubeflow job replicas, inline predictors."""
    pod = copy.deepcopy(RESTRICTED)
    docs = [{"kind": "Pod", "metadata": {"annotations": {"a": "b"}}, "spec": pod},
            {"kind": "Deployment", "spec": {"template": {"metadata": {}, "spec": pod}}},
            {"kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
                "Master": {"template": {"spec": pod}}, "Worker": {"template": {"spec": pod}}}}},
            {"kind": "InferenceService", "spec": {"predictor": {**pod, "minReplicas": 1}}},
            {"kind": "Experiment", "spec": {"trialTemplate": {"trialSpec": {
                "kind": "Job", "spec": {"template": {"spec": pod}}}}}}]
    found = [where for d in docs for where, _, _ in pod_templates(d)]
    assert found == [".spec", ".spec.template.spec", ".spec.pytorchReplicaSpecs.Master.template"
                     ".spec", ".spec.pytorchReplicaSpecs.Worker.template.spec", ".spec.predictor",
                     ".spec.trialTemplate.trialSpec.spec.template.spec"]
    (_, meta, _), = pod_templates(docs[0])
    assert meta == {"annotations": {"a": "b"}}


def test_every_pod_template_we_ship_is_restricted() -> None:
    """Every pod spec in every shipped unit (rendered entry points, raw files), as shipped,
    passes `restricted` (kubernetes/pod-security-admission@v0.32.13 policy/check_*.go)."""
    checked = 0
    for unit in S.shipped():
        for doc in unit.documents:
            for where, meta, spec in pod_templates(doc):
                assert violations(spec, meta) == [], \
                    f"{unit.source}: {doc['kind']} {doc['metadata'].get('name')}{where}"
                checked += 1
    assert checked >= 12  # 3 overlays x 3 Experiments + 3 raw examples, at least


def _enforced(unit: S.Shipped, exp: dict[str, Any]) -> str | None:
    labels = W.namespace_labels(INSTALLS[S.target(unit) or "platform"],
                                exp["metadata"].get("namespace", "default"), unit.documents)
    return (labels or {}).get(W.PSS_ENFORCE)


def test_trial_pods_after_katibs_sidecar_injection() -> None:
    """kubeflow/katib@v0.19.0 pkg/webhook/v1beta1/pod/inject_webhook.go SidecarInjector.Mutate:
    the metrics collector sidecar has no securityContext unless
    init.controller.injectSecurityContext is on, then a copy of containers[0]'s. Each shipped
    trial pod, as Katib makes it, passes the level its target namespace enforces; with
    injectSecurityContext it passes `restricted` too (our securityContext carries runAsUser, so
    the copied context also works for the collector image, which has no USER)."""
    for unit, exp in S.of_kind("Experiment"):
        config = S.katib_config_for(unit)
        tt = exp["spec"]["trialTemplate"]["trialSpec"]
        for where, meta, spec in pod_templates(tt):
            kind = exp["spec"].get("metricsCollectorSpec", {}).get("collector", {}).get(
                "kind", "StdOut")
            pod = K.trial_pod(spec, config, kind)
            level = _enforced(unit, exp)
            if level in ("baseline", "restricted"):
                assert violations(pod, meta, level=level) == [], (unit.source, where)
            on = copy.deepcopy(config)
            on.setdefault("init", {}).setdefault("controller", {})["injectSecurityContext"] = True
            injected = K.trial_pod(spec, on, kind)
            assert violations(injected, meta) == [], (unit.source, where)
            (sidecar,) = [c for c in injected["containers"] if c["name"] == K.SIDECAR_NAME]
            assert sidecar["securityContext"]["runAsUser"] != 0
            # and without it, the sidecar is what `restricted` refuses (Katib's default)
            assert _ids(violations(pod, meta)) >= {"allowPrivilegeEscalation",
                                                  "capabilities_restricted"}


def test_suggestion_pods_katib_creates_from_our_katib_config() -> None:
    """kubeflow/katib@v0.19.0 pkg/controller.v1beta1/suggestion/composer/composer.go
    General.DesiredDeployment / desiredContainers: the container is the katib-config entry
    (types.go SuggestionConfig inlines corev1.Container); an early-stopping container gets only
    image, pull policy, port and resources (EarlyStoppingConfig has no securityContext).
    Ours (`nac`, `warm-start`) pass `restricted`; every suggestion pod passes the level its
    namespace enforces."""
    ours = 0
    for unit, exp in S.of_kind("Experiment"):
        config = S.katib_config_for(unit)
        meta, pod = K.suggestion_pod(exp, config)
        level = _enforced(unit, exp)
        if level in ("baseline", "restricted"):
            assert violations(pod, meta, level=level) == [], (unit.source, exp["metadata"])
        suggestion = pod["containers"][0]
        if exp["spec"]["algorithm"]["algorithmName"] in ("nac", "warm-start"):
            assert violations({"containers": [suggestion]}) == [], unit.source
            ours += 1
    assert ours >= 9
    # Katib's own containers (built-in algorithms, early stopping) are not restricted-clean:
    # the reason those Experiments need a baseline namespace (Kubeflow profiles are).
    config = S.katib_config(S.render("manifests/overlays/kubeflow"))
    tpe = next(d for u, d in S.of_kind("Experiment") if d["metadata"]["name"] == "tpe-digits")
    _, pod = K.suggestion_pod(tpe, config)
    assert [c["name"] for c in pod["containers"]] == ["suggestion", "early-stopping"]
    assert "allowPrivilegeEscalation" in _ids(violations(pod))
    assert violations(pod, level="baseline") == []


def test_trial_jobs_the_katib_backend_builds_are_restricted() -> None:
    """`backend=katib` creates its Experiments from katib/experiments.py, not from the shipped
    YAML: their trial pods must pass the same `restricted` checks (PSA pin, see module doc)."""
    from katib.experiments import hpo_experiment, nas_experiment

    hpo = hpo_experiment(name="hpo-x", image="reg/trainer:1", data="builtin:digits",
                         architecture_b64="e30=", epochs=1,
                         search_space=[{"name": "lr", "parameterType": "double",
                                        "feasibleSpace": {"min": "0.01", "max": "0.1"}}],
                         max_trials=2, parallel=1, algorithm="random", settings={}, seed=0,
                         gpus=1)
    nas = nas_experiment(name="nas-x", image="reg/trainer:1", data="builtin:digits",
                         input_shape=[1, 8, 8], num_classes=10, stages=1, ops=["3x3"],
                         settings={}, iterations=1)
    for body in (hpo, nas):
        specs = list(pod_templates(body))
        assert specs, f"{body['metadata']['name']}: no pod template found"
        for path, meta, spec in specs:
            assert violations(spec, meta) == [], f"{body['metadata']['name']} {path}"
