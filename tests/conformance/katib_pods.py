"""The pods Katib v0.19.0 creates from what we ship: what Pod Security admission really sees.

Why: we do not ship the suggestion pod or the trial pod as Kubernetes sees it. Katib's
controller builds the suggestion Deployment from katib-config, and its pod webhook adds the
metrics-collector sidecar to every trial pod. A namespace that enforces `restricted` judges
those pods, so the checks must run on Katib's output, not on our input.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.conformance.pins import KATIB

COMPOSER = KATIB.cite("pkg/controller.v1beta1/suggestion/composer/composer.go",
                      "General.DesiredDeployment, General.desiredContainers, General.DesiredRBAC")
SIDECAR = KATIB.cite("pkg/webhook/v1beta1/pod/inject_webhook.go",
                     "SidecarInjector.Mutate, SidecarInjector.getMetricsCollectorContainer")
CONFIG_TYPES = KATIB.cite("pkg/apis/config/v1beta1/types.go",
                          "SuggestionConfig, EarlyStoppingConfig, ControllerConfig")

# types.go SuggestionConfig = algorithmName + inlined corev1.Container + these extra fields.
_SUGGESTION_EXTRA_FIELDS = ("algorithmName", "serviceAccountName", "persistentVolumeClaimSpec",
                            "persistentVolumeSpec", "persistentVolumeLabels")
# composer.go DesiredRBAC: the Role Katib creates for the default suggestion ServiceAccount
# when the Experiment has earlyStopping and katib-config names no serviceAccountName.
EARLY_STOPPING_RULES = ({"apiGroups": ["kubeflow.org"], "resources": ["trials", "trials/status"],
                         "verbs": ["*"]},)
SIDECAR_NAME = "metrics-logger-and-collector"  # mccommon.MetricLoggerCollectorContainerName


def _entry(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    entries = [e for e in config["runtime"].get(section) or [] if e["algorithmName"] == name]
    assert entries, f"katib-config has no runtime.{section} entry for {name!r}"
    return entries[-1]


def suggestion_pod(experiment: dict[str, Any],
                   config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, pod spec) of the suggestion Deployment Katib creates for `experiment`."""
    spec = experiment["spec"]
    entry = _entry(config, "suggestions", spec["algorithm"]["algorithmName"])
    container = {k: copy.deepcopy(v) for k, v in entry.items()
                 if k not in _SUGGESTION_EXTRA_FIELDS}
    container.setdefault("name", "suggestion")
    container["ports"] = [*container.get("ports", []),
                          {"name": "suggestion-api", "containerPort": 6789}]
    containers = [container]
    pod: dict[str, Any] = {"containers": containers}
    early = spec.get("earlyStopping")
    if early and early.get("algorithmName"):
        es = _entry(config, "earlyStoppings", early["algorithmName"])
        # EarlyStoppingConfig has no securityContext: Katib copies only these four fields.
        es_container = {"name": "early-stopping", "image": es["image"],
                        "ports": [{"name": "earlystop-api", "containerPort": 6788}]}
        for key, target in (("imagePullPolicy", "imagePullPolicy"), ("resources", "resources")):
            if key in es:
                es_container[target] = copy.deepcopy(es[key])
        containers.append(es_container)
    if entry.get("serviceAccountName"):
        pod["serviceAccountName"] = entry["serviceAccountName"]
    elif early and early.get("algorithmName"):
        pod["serviceAccountName"] = f"{experiment['metadata']['name']}-" \
            f"{spec['algorithm']['algorithmName']}"  # util.GetSuggestionRBACName
    return {"labels": dict(experiment["metadata"].get("labels") or {})}, pod


def suggestion_needs_own_rbac(experiment: dict[str, Any], config: dict[str, Any]) -> bool:
    """True when Katib does not create the early-stopping Role for this suggestion pod: a
    custom serviceAccountName plus earlyStopping (composer.go: "For custom service account
    user should manually add appropriate Role to change Trial status")."""
    entry = _entry(config, "suggestions", experiment["spec"]["algorithm"]["algorithmName"])
    early = experiment["spec"].get("earlyStopping") or {}
    return bool(entry.get("serviceAccountName")) and bool(early.get("algorithmName"))


def trial_pod(pod_template: dict[str, Any], config: dict[str, Any],
              collector_kind: str = "StdOut") -> dict[str, Any]:
    """A trial pod spec after Katib's pod webhook injected the metrics-collector sidecar."""
    pod = copy.deepcopy(pod_template)
    collectors = {c["kind"]: c for c in config["runtime"]["metricsCollectors"]}
    collector = collectors[collector_kind]
    sidecar: dict[str, Any] = {"name": SIDECAR_NAME, "image": collector["image"]}
    if collector.get("resources"):
        sidecar["resources"] = copy.deepcopy(collector["resources"])
    inject = bool(((config.get("init") or {}).get("controller") or {}).get(
        "injectSecurityContext"))
    if inject and pod["containers"] and pod["containers"][0].get("securityContext"):
        sidecar["securityContext"] = copy.deepcopy(pod["containers"][0]["securityContext"])
    pod["containers"].append(sidecar)
    pod["shareProcessNamespace"] = True
    pod["volumes"] = [*pod.get("volumes", []), {"name": "metrics-volume", "emptyDir": {}}]
    return pod
