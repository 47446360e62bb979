"""RBAC as rendered: the warm-start ServiceAccount may get/list Trials and patch their status
(early stopping) and nothing more; the optional pipeline Role grants what the katib backend calls.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conformance import katib_pods
from tests.deploy.rendered import (
    OVERLAYS,
    ROOT,
    by_kind,
    katib_config,
    needs_kubectl,
    render,
)

pytestmark = needs_kubectl


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
