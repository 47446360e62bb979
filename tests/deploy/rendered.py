"""What the shipped kustomizations render to: one renderer and the names the deploy tests share.

The tests are split by concern: test_manifests.py (Kubernetes and Katib schemas, webhook rules),
test_manifest_examples.py (the example Experiments' contracts, overlays, e2e selectors),
test_manifest_katib_config.py (katib-config) and test_manifest_rbac.py (RBAC).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance import shipped

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
KUBECTL = shipped.KUBECTL
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: cannot "
                                   "render the kustomizations (install kubectl >= 1.27)")


def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize manifests/<kustomization>` (one renderer: tests/conformance)."""
    return shipped.render(f"manifests/{kustomization}")


def by_kind(kustomization: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in render(kustomization) if d["kind"] == kind]


def katib_config(kustomization: str) -> dict[str, Any]:
    (cm,) = [d for d in by_kind(kustomization, "ConfigMap") if d["metadata"]["name"] ==
             "katib-config"]
    assert cm["metadata"]["namespace"] == "kubeflow", "katib-config must stay in Katib's namespace"
    return yaml.safe_load(cm["data"]["katib-config.yaml"])


def experiments(kustomization: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in by_kind(kustomization, "Experiment")}


def algorithm_settings(exp: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["value"] for s in exp["spec"]["algorithm"]["algorithmSettings"]}
