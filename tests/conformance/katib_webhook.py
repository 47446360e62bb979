"""Katib v0.19.0's Experiment validating webhook, as rules a test can apply without a cluster.

Why: a rejected Experiment is the user's first contact with the cluster path. The project's
earlier checks encoded our reading of Katib's contract and missed the one rule that rejects
every shipped Experiment on Kubeflow Platform (the namespace label). Each rule here is
transcribed from the upstream function it names (`KATIB.cite(...)`), in the order that
function applies it, and returns the upstream message so a failing test reads like
`kubectl apply` would.

Also here: what each supported install puts on its namespaces (read from the upstream
manifests), because the webhook's first rule is about the namespace, not the Experiment.

    errors = experiment_errors(experiment, namespace_labels, katib_config)   # [] = admitted
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate
import yaml

from tests.conformance.pins import KATIB, MANIFESTS

# common.KatibMetricsCollectorInjection / KatibMetricsCollectorInjectionEnabled
INJECTION_LABEL = "katib.kubeflow.org/metrics-collector-injection"
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
K8S_VERSION = "1.32.0"  # kubernetes-validate schema: the kind node of scripts/e2e-kind.sh

WEBHOOK = KATIB.cite("pkg/webhook/v1beta1/experiment/validation_webhook.go",
                     "ExperimentValidator.Handle")
VALIDATOR = KATIB.cite("pkg/webhook/v1beta1/experiment/validator/validator.go",
                       "DefaultValidator.ValidateExperiment")
DEFAULTS = KATIB.cite("pkg/apis/controller/experiments/v1beta1/experiment_defaults.go",
                      "Experiment.SetDefault")
KATIB_CONFIG = KATIB.cite("pkg/util/v1beta1/katibconfig/config.go",
                          "GetSuggestionConfigData, GetEarlyStoppingConfigData")

# constants.go KubeflowJobKinds: trial kinds whose success/failure conditions are defaulted.
_KUBEFLOW_JOB_KINDS = {"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "TrainJob"}
_RESUME_POLICIES = {"", "Never", "LongRunning", "FromVolume"}
_PARAMETER_TYPES = {"int", "double", "categorical", "discrete", "unknown"}
_DISTRIBUTIONS = {"uniform", "logUniform", "normal", "logNormal", "unknown"}
_COLLECTOR_KINDS = {"StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None",
                    "Push"}
# RE2 (Go's regexp) has no lookaround, backreferences or atomic groups; Python's re does.
_NOT_RE2 = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?>|\\[1-9]")
# consts.TrialTemplateParamReplaceFormatRegex, consts.TrialTemplateMetaReplaceFormatRegex
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.[^}]+\}")
_META_REFERENCE = re.compile(r"^\$\{trialSpec\.(.+?)\}$")
_META_KEYS = {"Name", "Namespace", "Kind", "APIVersion", "Labels", "Annotations"}


@dataclass(frozen=True)
class Install:
    """The namespaces one way of installing Katib creates, with their labels."""

    name: str
    namespaces: Mapping[str, Mapping[str, str]]
    source: str
    # Labels every Kubeflow profile namespace gets from the profile controller (None: the
    # install has no profiles).
    profile_labels: Mapping[str, str] | None = None
    profiles: tuple[str, ...] = field(default=())


STANDALONE = Install(
    "katib-standalone v0.19.0",
    {"kubeflow": {INJECTION_LABEL: "enabled"}},
    KATIB.cite("manifests/v1beta1/components/namespace/namespace.yaml"))
# Kubeflow Platform: `kubeflow` enforces restricted and has no injection label (Katib dropped it
# on purpose: Experiments belong in profile namespaces, kubeflow/manifests#2079); every profile
# namespace gets the injection label, and baseline where the PSS overlay is installed.
PROFILE_LABELS = {INJECTION_LABEL: "enabled", "serving.kubeflow.org/inferenceservice": "enabled",
                  "pipelines.kubeflow.org/enabled": "true",
                  "app.kubernetes.io/part-of": "kubeflow-profile", PSS_ENFORCE: "baseline"}
PLATFORM = Install(
    f"Kubeflow Platform {MANIFESTS.release}",
    {"kubeflow": {"control-plane": "kubeflow", "istio-injection": "enabled",
                  PSS_ENFORCE: "restricted"}},
    MANIFESTS.cite("common/kubeflow-namespace/base/kubeflow/namespace.yaml") + "; "
    + MANIFESTS.cite("applications/profiles/pss/namespace-labels.yaml"),
    profile_labels=PROFILE_LABELS,
    # The example profile of the Platform install (common/user-namespace/base).
    profiles=("kubeflow-user-example-com",))


def namespace_labels(install: Install, namespace: str,
                     shipped: tuple[dict[str, Any], ...] = ()) -> dict[str, str] | None:
    """Labels of `namespace` on `install` after applying `shipped`; None if it does not exist
    (Namespace objects in `shipped` win: `kubectl apply` creates or relabels them)."""
    for doc in shipped:
        if doc.get("kind") == "Namespace" and doc["metadata"]["name"] == namespace:
            return dict(doc["metadata"].get("labels") or {})
    if namespace in install.namespaces:
        return dict(install.namespaces[namespace])
    if namespace in install.profiles and install.profile_labels is not None:
        return dict(install.profile_labels)
    return {} if namespace == "default" else None


def with_defaults(experiment: dict[str, Any]) -> dict[str, Any]:
    """The defaulting webhook's changes the validator depends on (experiment_defaults.go)."""
    exp = copy.deepcopy(experiment)
    spec = exp.setdefault("spec", {})
    spec.setdefault("parallelTrialCount", 3)  # DefaultTrialParallelCount
    spec.setdefault("resumePolicy", "Never")  # DefaultResumePolicy
    tt = spec.get("trialTemplate")
    if tt and tt.get("trialSpec"):
        kind = tt["trialSpec"].get("kind")
        if kind == "Job" or kind in _KUBEFLOW_JOB_KINDS:
            tt.setdefault("successCondition", "<defaulted>")
            tt.setdefault("failureCondition", "<defaulted>")
    collector = spec.setdefault("metricsCollectorSpec", {})
    collector.setdefault("collector", {"kind": "StdOut"})
    return exp


def _config_entry(config: dict[str, Any], section: str, name: str) -> str | None:
    """GetSuggestionConfigData / GetEarlyStoppingConfigData: the error, or None."""
    entries = [e for e in (config.get("runtime") or {}).get(section) or []
               if e.get("algorithmName") == name]
    what = "suggestion" if section == "suggestions" else "early stopping"
    if not entries:
        return (f"failed to find {what} config for algorithm: {name} in ConfigMap: "
                "katib-config")
    if not str(entries[-1].get("image", "")).strip():
        return f"required value for image configuration of algorithm name: {name}"
    return None


def _parameters_errors(parameters: list[dict[str, Any]]) -> list[str]:
    """validator.go validateParameters."""
    errors = []
    for i, p in enumerate(parameters):
        where = f"spec.parameters[{i}]"
        kind, space = p.get("parameterType", ""), p.get("feasibleSpace") or {}
        if kind not in _PARAMETER_TYPES:
            errors.append(f"{where}.parameterType: parameterType: {kind} is not supported")
        if space.get("distribution") and space["distribution"] not in _DISTRIBUTIONS:
            errors.append(f"{where}.feasibleSpace.distribution: distribution: "
                          f"{space['distribution']} is not supported")
        if not space:
            errors.append(f"{where}.feasibleSpace: feasibleSpace must be specified")
        elif kind in ("double", "int"):
            if space.get("list"):
                errors.append(f"{where}.feasibleSpace.list: feasibleSpace.list is not "
                              f"supported for parameterType: {kind}")
            if not space.get("max") or not space.get("min"):
                errors.append(f"{where}.feasibleSpace.max: feasibleSpace.max or "
                              f"feasibleSpace.min must be specified for parameterType: {kind}")
        elif kind in ("categorical", "discrete") and any(space.get(k) for k in
                                                          ("max", "min", "step")):
            errors.append(f"{where}.feasibleSpace: feasibleSpace .max, .min and .step is not "
                          f"supported for parameterType: {kind}")
    return errors


def _is_meta_key(reference: str) -> bool:
    """validator.go isMetaKey: ${trialSpec.Name}, ${trialSpec.Labels[key]}, ..."""
    match = _META_REFERENCE.match(reference)
    if not match:
        return False
    key = match.group(1)
    sub = re.match(r"(.+)\[(.+)\]", key)  # consts.TrialTemplateMetaParseFormatRegex
    return key in _META_KEYS or bool(sub and sub.group(1) in _META_KEYS)


def _trial_template_errors(exp: dict[str, Any]) -> list[str]:
    """validator.go validateTrialTemplate (trialSpec form; configMap sources not used here)."""
    spec = exp["spec"]
    tt = spec.get("trialTemplate")
    if not tt:
        return ["spec.trialTemplate: Required value: must be specified"]
    errors = []
    if not tt.get("primaryContainerName"):
        errors.append("spec.trialTemplate.primaryContainerName: Required value")
    if not tt.get("successCondition") or not tt.get("failureCondition"):
        errors.append("spec.trialTemplate: successCondition and failureCondition must be "
                      "specified")
    if tt.get("trialParameters") is None:
        return [*errors, "spec.trialTemplate.trialParameters: Required value"]
    if not tt.get("trialSpec") and not tt.get("configMap"):
        return [*errors, "spec.trialTemplate.trialSpec or spec.trialTemplate.configMap must "
                "be specified"]
    text = yaml.safe_dump(tt.get("trialSpec"))
    search_space = {p["name"] for p in spec.get("parameters") or []}
    names: set[str] = set()
    refs: set[str] = set()
    for i, p in enumerate(tt["trialParameters"]):
        name, ref = p.get("name", ""), p.get("reference", "")
        if not name or not ref or "{" in name or "}" in name:
            errors.append(f"spec.trialTemplate.trialParameters[{i}]: name and reference must "
                          "be specified and name must not contain '{' or '}'")
            continue
        if name in names or ref in refs:
            errors.append(f"spec.trialTemplate.trialParameters[{i}]: {name}/{ref} duplicated")
            continue
        names.add(name)
        refs.add(ref)
        if search_space and not _is_meta_key(ref) and ref not in search_space:
            errors.append(f"spec.trialTemplate.trialParameters[{i}].reference: parameter "
                          f"reference {ref} does not exist in spec.parameters")
        placeholder = "${trialParameters." + name + "}"
        if placeholder not in text:
            return [*errors, f"spec.trialTemplate.trialParameters[{i}].name: parameter name: "
                    f"{name} in spec.trialParameters not found in spec.trialTemplate"]
        text = text.replace(placeholder, "test-value")
    left = _PLACEHOLDER.findall(text)
    if left:
        errors.append(f"spec.trialTemplate: parameters: {left} in spec.trialTemplate not "
                      "found in spec.trialParameters")
    run_spec = yaml.safe_load(text)
    metadata = run_spec.get("metadata") or {}
    if metadata.get("name") or metadata.get("namespace"):
        errors.append("spec.trialTemplate: metadata.name and metadata.namespace in "
                      "spec.trialTemplate must be omitted")
    if not run_spec.get("apiVersion") or not run_spec.get("kind"):
        errors.append("spec.trialTemplate: APIVersion and Kind in spec.trialTemplate must be "
                      "specified")
    if (run_spec.get("apiVersion"), run_spec.get("kind")) == ("batch/v1", "Job"):
        # validateTrialJob: FromUnstructured into batchv1.Job, then any field the conversion
        # adds or changes (outside resources limits/requests) is an error: a strict schema
        # validation of the substituted template is the same test.
        job = {**run_spec, "metadata": {**metadata, "name": "trial"}}
        try:
            kubernetes_validate.validate(job, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"spec.trialTemplate: invalid spec.trialTemplate: unable to convert "
                          f"to Job: {exc.message} at {'/'.join(map(str, exc.path))}")
    return errors


def _metrics_collector_errors(exp: dict[str, Any]) -> list[str]:
    """validator.go validateMetricsCollector (the kinds and the filter rules we use)."""
    mc = exp["spec"]["metricsCollectorSpec"]
    kind = (mc.get("collector") or {}).get("kind", "")
    errors = []
    if kind not in _COLLECTOR_KINDS:
        errors.append(f"spec.metricsCollectorSpec.collector.kind: invalid metrics collector "
                      f"kind: {kind}")
    path = (mc.get("source") or {}).get("fileSystemPath") or {}
    if kind in ("File", "TensorFlowEvent") and not str(path.get("path", "")).startswith("/"):
        errors.append("spec.metricsCollectorSpec.source.fileSystemPath.path: Required value: "
                      "an absolute path is required")
    for f in ((mc.get("source") or {}).get("filter") or {}).get("metricsFormat") or []:
        try:
            re.compile(f)
            ok = not _NOT_RE2.search(f)
        except re.error:
            ok = False
        if not ok:
            errors.append(f"spec.metricsCollectorSpec.source.filter.metricsFormat: {f}: "
                          "invalid filter (not an RE2 expression)")
        elif not re.match(r".*\(.*\).*\(.*\).*", f):
            errors.append(f"spec.metricsCollectorSpec.source.filter.metricsFormat: {f}: two "
                          "top subexpressions are required")
    return errors


def spec_errors(experiment: dict[str, Any], katib_config: dict[str, Any]) -> list[str]:
    """validator.go ValidateExperiment on the defaulted Experiment (creation: no old object)."""
    exp = with_defaults(experiment)
    spec = exp["spec"]
    name = exp.get("metadata", {}).get("name", "")
    errors = []
    # Go's MatchString is a search: only the first character really has to match.
    if not re.match(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 40:
        errors.append(f"metadata.name: Invalid value: {name!r}: must match "
                      "'^[a-z]([-a-z0-9]*[a-z0-9])?' and be at most 40 characters")
    max_trials, parallel = spec.get("maxTrialCount"), spec.get("parallelTrialCount")
    max_failed = spec.get("maxFailedTrialCount")
    if max_failed is not None and max_failed < 0:
        errors.append("spec.maxFailedTrialCount: should not be less than 0")
    if max_trials is not None and max_trials <= 0:
        errors.append("spec.maxTrialCount: must be greater than 0")
    if parallel is not None and parallel <= 0:
        errors.append("spec.parallelTrialCount: must be greater than 0")
    if max_failed is not None and max_trials is not None and max_failed > max_trials:
        errors.append("spec.maxFailedTrialCount: should be less than or equal to "
                      "spec.maxTrialCount")
    if parallel is not None and max_trials is not None and parallel > max_trials:
        errors.append("spec.parallelTrialCount: should be less than or equal to "
                      "spec.maxTrialCount")
    objective = spec.get("objective")
    if not objective:
        return [*errors, "spec.objective: Required value: must be specified"]
    obj_errors = []
    if objective.get("type") not in ("minimize", "maximize"):
        obj_errors.append("spec.objective.type: must be minimize or maximize")
    if not objective.get("objectiveMetricName"):
        obj_errors.append("spec.objective.objectiveMetricName: Required value")
    if objective.get("objectiveMetricName") in (objective.get("additionalMetricNames") or []):
        obj_errors.append("spec.objective.additionalMetricNames: should not contain "
                          "spec.objective.objectiveMetricName")
    if obj_errors:
        return errors + obj_errors  # ValidateExperiment returns here
    algorithm = spec.get("algorithm")
    if not algorithm:
        errors.append("spec.algorithm: Required value: must be specified")
    else:
        problem = _config_entry(katib_config, "suggestions", algorithm.get("algorithmName", ""))
        if problem:
            errors.append(f"spec.algorithm.algorithmName: Invalid value: "
                          f"{algorithm.get('algorithmName')!r}: unable to get Suggestion "
                          f"config data for algorithm {algorithm.get('algorithmName')}: "
                          f"{problem}")
    early = spec.get("earlyStopping")
    if early:
        problem = _config_entry(katib_config, "earlyStoppings", early.get("algorithmName", ""))
        if problem:
            errors.append(f"spec.earlyStopping.algorithmName: unable to get EarlyStopping "
                          f"config data for algorithm {early.get('algorithmName')}: {problem}")
    if spec.get("resumePolicy", "") not in _RESUME_POLICIES:
        errors.append("spec.resumePolicy: invalid ResumePolicyType")
    errors += _trial_template_errors(exp)
    if not spec.get("parameters") and not spec.get("nasConfig"):
        errors.append("spec: spec.parameters or spec.nasConfig must be specified")
    if spec.get("parameters") and spec.get("nasConfig"):
        errors.append("spec: only one of spec.parameters and spec.nasConfig can be specified")
    errors += _parameters_errors(spec.get("parameters") or [])
    errors += _metrics_collector_errors(exp)
    return errors


def experiment_errors(experiment: dict[str, Any], labels: Mapping[str, str] | None,
                      katib_config: dict[str, Any]) -> list[str]:
    """What the webhook answers to creating `experiment` in a namespace with `labels`
    (None: the namespace does not exist, so the API server refuses before the webhook)."""
    name = experiment.get("metadata", {}).get("name", "")
    namespace = experiment.get("metadata", {}).get("namespace", "default")
    if labels is None:
        return [f'namespaces "{namespace}" not found']
    if labels.get(INJECTION_LABEL) != "enabled":
        # validation_webhook.go Handle: checked before (and instead of) the spec rules.
        return [f'Cannot create the Experiment "{name}" in namespace "{namespace}": the '
                f'namespace lacks label "{INJECTION_LABEL}: enabled"']
    return spec_errors(experiment, katib_config)
