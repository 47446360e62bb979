"""Render every kustomization with `kubectl kustomize` and validate what a cluster would get.

Built-in kinds go through kubernetes-validate (strict, Kubernetes 1.32: the kind node image of
scripts/e2e-kind.sh); Experiments through Katib's typed models (kubeflow_katib_api) plus the
webhook rules the models do not encode. katib-config (the KatibConfig shape of
reference/katib.md §3), RBAC (get/list on trials) and the examples' contracts are checked in
the sibling test_manifest_*.py modules; the renderer is tests/deploy/rendered.py.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubeflow_katib_api import models

from tests.deploy.rendered import (
    K8S_VERSION,
    KUSTOMIZATIONS,
    OUR_ALGORITHMS,
    OVERLAYS,
    TRAINER_IMAGE,
    experiments,
    needs_kubectl,
    render,
)

pytestmark = needs_kubectl


def _builtin(doc: dict[str, Any]) -> bool:
    """Kinds kubernetes-validate knows: core and *.k8s.io groups, not CRDs (kubeflow.org,
    kserve.io, ...), which the conformance tests and their own models check."""
    group = doc["apiVersion"].rpartition("/")[0]
    return group == "" or "." not in group or group.endswith(".k8s.io")


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
