"""Katib v0.19.0's validating webhook applied to every Experiment we ship, as shipped.

Every entry point under manifests/ is rendered with `kubectl kustomize`, every raw YAML file
under manifests/ and examples/ is read as is (tests/conformance/shipped.py finds them, so files
other engineers add are checked the day they land), and each Experiment is judged in the
namespace it lands in, with the labels that namespace has on the install the unit targets.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conformance import katib_webhook as W
from tests.conformance import shipped as S

pytestmark = pytest.mark.skipif(S.KUBECTL is None, reason="kubectl is not installed: cannot "
                                "render the kustomizations (install kubectl >= 1.27)")
INSTALLS = {"platform": W.PLATFORM, "standalone": W.STANDALONE}


def _experiments() -> list[tuple[S.Shipped, dict[str, Any]]]:
    return S.of_kind("Experiment")


def _labels(unit: S.Shipped, exp: dict[str, Any]) -> dict[str, str] | None:
    install = S.target(unit)
    assert install in INSTALLS, (f"{unit.source} ships Experiments but names no target "
                                 "install: add it to tests/conformance/shipped.py TARGETS")
    namespace = exp["metadata"].get("namespace", "default")
    return W.namespace_labels(INSTALLS[install], namespace, unit.documents)


def test_the_walk_finds_every_shipped_experiment() -> None:
    """The walk covers the overlays and the raw examples (and new files automatically)."""
    sources = {(u.source, e["metadata"]["name"]) for u, e in _experiments()}
    for overlay in ("manifests/overlays/kubeflow", "manifests/overlays/standalone",
                    "manifests/overlays/kind"):
        assert {(overlay, n) for n in ("nac-digits", "hpo-digits", "hpo-digits-warm")} <= sources
    assert {("examples/grid-digits.yaml", "grid-digits"), ("examples/tpe-digits.yaml",
            "tpe-digits"), ("examples/warm-start-digits.yaml", "warm-start-digits")} <= sources
    # manifests/examples is a base the overlays consume, not something to apply.
    assert not any(u.source.startswith("manifests/examples") for u, _ in _experiments())


def test_every_shipped_experiment_is_admitted_on_its_target_install() -> None:
    """kubeflow/katib@v0.19.0 pkg/webhook/v1beta1/experiment/validation_webhook.go
    ExperimentValidator.Handle (the namespace label, checked first) and
    pkg/webhook/v1beta1/experiment/validator/validator.go DefaultValidator.ValidateExperiment
    (after experiment_defaults.go Experiment.SetDefault); namespaces as
    manifests/v1beta1/components/namespace/namespace.yaml (standalone) and kubeflow/manifests@26.03
    common/kubeflow-namespace/base/kubeflow/namespace.yaml, applications/profiles/pss/
    namespace-labels.yaml (Platform) create them."""
    checked = []
    for unit, exp in _experiments():
        errors = W.experiment_errors(exp, _labels(unit, exp), S.katib_config_for(unit))
        assert errors == [], f"{unit.source}: {exp['metadata']['name']}: {errors}"
        checked.append(exp["metadata"]["name"])
    assert len(checked) >= 12


def test_platform_overlay_targets_a_profile_namespace_not_kubeflow() -> None:
    """The finding: on Kubeflow Platform `kubeflow` lacks the injection label (kubeflow/manifests
    @26.03 common/kubeflow-namespace/base/kubeflow/namespace.yaml), so the webhook
    (validation_webhook.go ExperimentValidator.Handle) rejects anything created there."""
    docs = S.render("manifests/overlays/kubeflow")
    config = S.katib_config(docs)
    for exp in (d for d in docs if d["kind"] == "Experiment"):
        assert exp["metadata"]["namespace"] in W.PLATFORM.profiles
        moved = copy.deepcopy(exp)
        moved["metadata"]["namespace"] = "kubeflow"
        assert W.experiment_errors(moved, W.namespace_labels(W.PLATFORM, "kubeflow"), config) == [
            f'Cannot create the Experiment "{exp["metadata"]["name"]}" in namespace "kubeflow": '
            'the namespace lacks label "katib.kubeflow.org/metrics-collector-injection: enabled"']


def test_raw_examples_name_their_namespace() -> None:
    """Without metadata.namespace kubectl uses the context's namespace, usually `default`,
    which has no injection label (validation_webhook.go ExperimentValidator.Handle)."""
    for unit, exp in _experiments():
        if unit.kind == "file":
            assert exp["metadata"].get("namespace"), unit.source
            bare = copy.deepcopy(exp)
            del bare["metadata"]["namespace"]
            assert W.experiment_errors(bare, W.namespace_labels(W.PLATFORM, "default"),
                                       S.katib_config_for(unit))[0].startswith(
                'Cannot create the Experiment "')


def _nas() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    docs = S.render("manifests/overlays/kubeflow")
    (exp,) = [d for d in docs if d["kind"] == "Experiment" and d["metadata"]["name"] ==
              "nac-digits"]
    return exp, S.katib_config(docs), dict(W.PROFILE_LABELS)


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e["metadata"].update(name="n" * 41), "metadata.name"),
    (lambda e: e["spec"].update(parallelTrialCount=99), "spec.parallelTrialCount: should be less"),
    (lambda e: e["spec"].update(maxFailedTrialCount=-1), "spec.maxFailedTrialCount"),
    (lambda e: e["spec"]["objective"].update(additionalMetricNames=["accuracy"]),
     "should not contain spec.objective.objectiveMetricName"),
    (lambda e: e["spec"]["algorithm"].update(algorithmName="no-such-algorithm"),
     "failed to find suggestion config for algorithm: no-such-algorithm"),
    (lambda e: e["spec"].update(earlyStopping={"algorithmName": "asha-nope"}),
     "failed to find early stopping config for algorithm: asha-nope"),
    (lambda e: e["spec"].update(resumePolicy="Sometimes"), "invalid ResumePolicyType"),
    (lambda e: e["spec"]["trialTemplate"].update(primaryContainerName=""),
     "primaryContainerName: Required"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].append(
        {"name": "unused", "reference": "unused"}), "not found in spec.trialTemplate"),
    (lambda e: e["spec"]["trialTemplate"]["trialParameters"].pop(), "not found in "
     "spec.trialParameters"),
    (lambda e: e["spec"]["trialTemplate"]["trialSpec"].update(metadata={"name": "x"}),
     "metadata.name and metadata.namespace"),
    (lambda e: e["spec"]["trialTemplate"]["trialSpec"]["spec"].update(backoffLimitz=0),
     "unable to convert to Job"),
    (lambda e: e["spec"]["trialTemplate"]["trialSpec"].update(kind="Workflow"),
     "successCondition and failureCondition must be specified"),
    (lambda e: e["spec"].update(parameters=[{"name": "lr", "parameterType": "double",
                                             "feasibleSpace": {"min": "0.1", "max": "1"}}]),
     "only one of spec.parameters and spec.nasConfig"),
    (lambda e: e["spec"]["metricsCollectorSpec"]["source"]["filter"].update(
        metricsFormat=["accuracy=(\\d+)"]), "two top subexpressions are required"),
    (lambda e: e["spec"]["metricsCollectorSpec"]["source"]["filter"].update(
        metricsFormat=["(?=x)(a)(b)"]), "not an RE2 expression"),
])
def test_each_webhook_rule_rejects_what_upstream_rejects(change: Any, message: str) -> None:
    """One broken copy of the shipped NAS Experiment per rule of kubeflow/katib@v0.19.0
    pkg/webhook/v1beta1/experiment/validator/validator.go (ValidateExperiment,
    validateObjective, validateAlgorithm, validateEarlyStopping, validateResumePolicy,
    validateTrialTemplate, validateTrialJob/validatePatchJob, validateMetricsCollector) and
    pkg/util/v1beta1/katibconfig/config.go GetSuggestionConfigData: each must be rejected."""
    exp, config, labels = _nas()
    assert W.experiment_errors(exp, labels, config) == []
    broken = copy.deepcopy(exp)
    change(broken)
    errors = W.experiment_errors(broken, labels, config)
    assert any(message in e for e in errors), errors


def test_hpo_parameter_rules() -> None:
    """validator.go validateParameters: list only for categorical/discrete, min and max for
    int/double, known types and distributions."""
    docs = S.render("manifests/overlays/kubeflow")
    (exp,) = [d for d in docs if d["metadata"]["name"] == "hpo-digits"]
    config = S.katib_config(docs)
    for bad, message in [({"parameterType": "float"}, "is not supported"),
                         ({"feasibleSpace": {"min": "1", "max": "2", "distribution": "zipf"}},
                          "distribution: zipf is not supported"),
                         ({"feasibleSpace": {"list": ["1"]}}, "feasibleSpace.list is not supp"),
                         ({"feasibleSpace": {"min": "1"}}, "feasibleSpace.max or"),
                         ({"parameterType": "categorical", "feasibleSpace": {"list": ["a"],
                                                                             "min": "0"}},
                          "feasibleSpace .max, .min and .step is not supported")]:
        broken = copy.deepcopy(exp)
        broken["spec"]["parameters"][0].update(bad)
        errors = W.experiment_errors(broken, W.PROFILE_LABELS, config)
        assert any(message in e for e in errors), (bad, errors)


def test_warm_start_needs_our_katib_config() -> None:
    """Stock katib-config has no `warm-start` (validator.go validateAlgorithm ->
    katibconfig/config.go GetSuggestionConfigData): the example is rejected without our
    extension and admitted with it."""
    unit = next(u for u in S.shipped() if u.source == "examples/warm-start-digits.yaml")
    (exp,) = unit.documents
    ours = S.katib_config_for(unit)
    stock = copy.deepcopy(ours)
    stock["runtime"]["suggestions"] = [s for s in stock["runtime"]["suggestions"]
                                       if s["algorithmName"] not in ("nac", "warm-start")]
    assert W.experiment_errors(exp, W.PROFILE_LABELS, ours) == []
    assert "failed to find suggestion config for algorithm: warm-start" in " ".join(
        W.experiment_errors(exp, W.PROFILE_LABELS, stock))


def test_namespace_that_does_not_exist_is_reported() -> None:
    """A standalone Katib has no profile namespaces: the Platform examples cannot land there."""
    assert W.namespace_labels(W.STANDALONE, "kubeflow-user-example-com") is None
    exp, config, _ = _nas()
    assert W.experiment_errors(exp, None, config) == [
        'namespaces "kubeflow-user-example-com" not found']
