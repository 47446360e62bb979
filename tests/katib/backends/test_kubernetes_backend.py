"""Kubernetes backend against a fake CustomObjectsApi replaying recorded Katib status shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubeflow_katib_api import models
from kubernetes.client.exceptions import ApiException

from katib.backends import ExperimentFailedError, ExperimentStatus
from katib.backends.kubernetes import KubernetesBackend, KubernetesBackendConfig
from katib.client import ExperimentClient
from katib.experiments import DEFAULT_SEARCH_SPACE, hpo_experiment, nas_experiment
from katib.validation import validate_experiment
from tests.katib.backends import katib_status_shapes as shapes


class FakeCustomObjectsApi:
    """Only the CustomObjectsApi calls the backend makes; states advance one per `get`."""

    def __init__(self, states: list[str], trials: list[dict[str, Any]] | None = None,
                 exists: bool = False) -> None:
        self.states = list(states)
        self.trials = trials or []
        self.exists = exists
        self.created: list[tuple[str, str, str, str, dict]] = []
        self.trial_selectors: list[str] = []
        self.body: dict[str, Any] | None = None

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        # What the API server would do: reject a second object of the same name.
        json.dumps(body)  # must be JSON-serialisable, as the real client sends it
        self.created.append((group, version, namespace, plural, body))
        if self.exists:
            raise ApiException(status=409, reason="Conflict")
        self.body = body
        self.exists = True
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        assert (group, version, plural) == ("kubeflow.org", "v1beta1", "experiments")
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        body = self.body or {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
                             "metadata": {"name": name, "namespace": namespace},
                             "spec": {"objective": {"type": "maximize",
                                                    "objectiveMetricName": "accuracy"}}}
        return shapes.experiment(name, body, state)

    def list_namespaced_custom_object(self, group, version, namespace, plural, label_selector):
        assert plural == "trials"
        self.trial_selectors.append(label_selector)
        return {"items": self.trials}


def _hpo(name: str = "tune-abc") -> dict[str, Any]:
    return hpo_experiment(name=name, namespace="kubeflow", image="ghcr.io/x/trainer:0.1.0",
                          data="builtin:digits", architecture_b64="b64:e30", epochs=3,
                          search_space=DEFAULT_SEARCH_SPACE, max_trials=4, parallel=2,
                          algorithm="warm-start", settings={"random_state": 0}, seed=0)


def _nas(name: str = "search-abc") -> dict[str, Any]:
    return nas_experiment(name=name, namespace="kubeflow", image="ghcr.io/x/trainer:0.1.0",
                          data="builtin:digits", input_shape=[1, 8, 8], num_classes=10,
                          stages=3, ops=["1x1", "3x3", "3x3sep"],
                          settings={"layers_per_stage": [2, 2, 2]}, iterations=3,
                          recipe=["--epochs", "2"])


def _backend(api: FakeCustomObjectsApi) -> KubernetesBackend:
    return KubernetesBackend(KubernetesBackendConfig(namespace="kubeflow", custom_api=api,
                                                     polling_interval=0.01))


@pytest.mark.parametrize("body", [_hpo(), _nas()], ids=["hpo", "nas"])
def test_experiment_bodies_validate_against_katib_models(body):
    checked = validate_experiment(body)
    parsed = models.V1beta1Experiment.from_dict(checked)
    assert parsed.spec.trial_template.primary_container_name == "training-container"
    assert parsed.spec.max_trial_count >= parsed.spec.parallel_trial_count
    # Every ${trialParameters.x} used in the command is declared, and vice versa.
    command = json.dumps(checked["spec"]["trialTemplate"]["trialSpec"])
    declared = {p["name"] for p in checked["spec"]["trialTemplate"]["trialParameters"]}
    used = {part.split("}")[0] for part in command.split("${trialParameters.")[1:]}
    assert declared == used


def test_nas_body_declares_nac_stats_with_custom_filter():
    spec = validate_experiment(_nas())["spec"]
    assert spec["algorithm"]["algorithmName"] == "nac"
    assert spec["objective"]["additionalMetricNames"] == ["nac-stats"]
    assert {"name": "nac-stats", "value": "latest"} in spec["objective"]["metricStrategies"]
    assert "(nac-stats)=(\\{\\S+\\})" in spec["metricsCollectorSpec"]["source"]["filter"][
        "metricsFormat"]


def test_trial_job_is_a_valid_kubernetes_job():
    import kubernetes_validate

    job = _hpo()["spec"]["trialTemplate"]["trialSpec"]
    job = {**job, "metadata": {"name": "trial"}}
    kubernetes_validate.validate(job, "1.30", strict=True)


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["spec"]["objective"].update(objectiveMetricNmae="x"), "objectiveMetricNmae"),
    (lambda b: b["spec"].update(parallelTrialCount="two"), "parallelTrialCount"),
    (lambda b: b["metadata"].update(name="Bad_Name"), "metadata.name"),
    (lambda b: b["spec"].update(nasConfig={"graphConfig": {}}), "spec.parameters"),
])
def test_invalid_bodies_are_refused_naming_the_field(mutate, field):
    body = _hpo()
    mutate(body)
    with pytest.raises(ValueError, match=field.split(".")[-1]):
        validate_experiment(body)


def test_succeeded_experiment_returns_trials_and_best():
    trials = [shapes.trial("tune-abc", "tune-abc-1", {"lr": "0.05"}, {"accuracy": "0.95"}),
              shapes.trial("tune-abc", "tune-abc-2", {"lr": "0.1"}, {"accuracy": "0.97"}),
              shapes.trial("tune-abc", "tune-abc-3", {"lr": "0.9"}, {}, state="Failed")]
    api = FakeCustomObjectsApi(["Created", "Running", "Running", "Succeeded"], trials)
    seen = []
    result = _backend(api).run(_hpo(), timeout=10, progress=lambda r: seen.append(r.status))
    assert result.status is ExperimentStatus.SUCCEEDED
    assert result.reason == "ExperimentMaxTrialsReached"
    assert seen == [ExperimentStatus.CREATED, ExperimentStatus.RUNNING,
                    ExperimentStatus.RUNNING, ExperimentStatus.SUCCEEDED]
    assert [t.status for t in result.trials] == ["Succeeded", "Succeeded", "Failed"]
    assert result.best.name == "tune-abc-2" and result.best.assignments == {"lr": "0.1"}
    group, version, namespace, plural, body = api.created[0]
    assert (group, version, namespace, plural) == ("kubeflow.org", "v1beta1", "kubeflow",
                                                   "experiments")
    assert body["spec"]["algorithm"]["algorithmName"] == "warm-start"
    assert api.trial_selectors[-1] == "katib.kubeflow.org/experiment=tune-abc"


def test_failed_experiment_raises_with_katibs_reason_and_message():
    api = FakeCustomObjectsApi(["Running", "Failed"])
    with pytest.raises(ExperimentFailedError) as info:
        _backend(api).run(_hpo(), timeout=10)
    assert info.value.reason == "ExperimentMaxFailedTrialsReached"
    assert "max failed count has reached" in str(info.value)


def test_timeout_names_the_experiment_and_last_status():
    api = FakeCustomObjectsApi(["Running"])
    with pytest.raises(TimeoutError, match=r"kubeflow/tune-abc.*Running"):
        _backend(api).run(_hpo(), timeout=0.05)


def test_create_reattaches_when_the_experiment_already_exists():
    api = FakeCustomObjectsApi(["Succeeded"], exists=True)
    client = ExperimentClient(KubernetesBackendConfig(namespace="kubeflow", custom_api=api,
                                                      polling_interval=0.01))
    result = client.run(_hpo(), timeout=5)
    assert len(api.created) == 1  # one attempt, 409, then re-attached instead of failing
    assert result.status is ExperimentStatus.SUCCEEDED


def test_other_api_errors_are_reported():
    class Forbidden(FakeCustomObjectsApi):
        def create_namespaced_custom_object(self, *args):
            raise ApiException(status=403, reason="Forbidden")

    with pytest.raises(RuntimeError, match="403 Forbidden"):
        _backend(Forbidden(["Created"])).create(_hpo())


def test_client_rejects_unknown_config():
    with pytest.raises(ValueError, match="LocalBackendConfig, KubernetesBackendConfig"):
        ExperimentClient(object())  # type: ignore[arg-type]


def test_for_backend_picks_the_backend_by_step_name_and_reports_its_namespace(tmp_path,
                                                                             monkeypatch):
    from katib.backends.local import LocalBackend

    kubeconfig = tmp_path / "kubeconfig"  # a real kubeconfig file: no API server is dialled
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    from kubernetes.config import kube_config

    # KUBECONFIG is read once at import; the loader reads this module global at call time.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))

    local = ExperimentClient.for_backend("local", workdir=tmp_path)
    assert isinstance(local.backend, LocalBackend) and local.namespace == ""
    cluster = ExperimentClient.for_backend("katib", namespace="team-a")
    assert isinstance(cluster.backend, KubernetesBackend) and cluster.namespace == "team-a"
    with pytest.raises(ValueError, match="'kind' is not supported; use one of local, katib"):
        ExperimentClient.for_backend("kind")
