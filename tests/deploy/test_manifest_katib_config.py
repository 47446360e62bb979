"""katib-config as rendered: Katib v0.19.0's defaults kept, our two algorithms added with a
versioned image and real resources, the Platform's `init` untouched (reference/katib.md §3).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conformance.pins import KATIB
from tests.conformance.pins import MANIFESTS as MANIFESTS_PIN
from tests.deploy.rendered import (
    OUR_ALGORITHMS,
    OVERLAYS,
    SUGGESTION_IMAGE,
    katib_config,
    needs_kubectl,
)

pytestmark = needs_kubectl


# Katib v0.19.0 standalone katib-config: built-in suggestion -> image.
KATIB_BUILTINS = {
    "random": "suggestion-hyperopt", "tpe": "suggestion-hyperopt", "grid": "suggestion-optuna",
    "hyperband": "suggestion-hyperband", "bayesianoptimization": "suggestion-skopt",
    "cmaes": "suggestion-goptuna", "sobol": "suggestion-goptuna",
    "multivariate-tpe": "suggestion-optuna", "enas": "suggestion-enas",
    "darts": "suggestion-darts", "pbt": "suggestion-pbt",
}


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
