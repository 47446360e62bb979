"""The one CustomObjectsApi loading order (katib.kubeconfig), with the real kubernetes client.

The order is the Kubeflow SDK's (kubeflow 0.5.0 trainer/backends/kubernetes/backend.py): an
explicit kubeconfig wins; outside a pod (no ServiceAccount namespace file) the user's kubeconfig
is used. No API server is contacted: only the configured host is read back.
"""

from __future__ import annotations

import pytest
import yaml

from katib import kubeconfig
from katib.backends.kubernetes import KubernetesBackendConfig


def _kubeconfig(path, server: str) -> str:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    return str(path)


def _user_kubeconfig(monkeypatch, path: str) -> None:
    """$KUBECONFIG as the client read it at import (its default location)."""
    from kubernetes.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)


def test_explicit_kubeconfig_then_the_users_outside_a_pod(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kubeconfig, "SA_NAMESPACE_FILE", str(tmp_path / "absent"))
    explicit = _kubeconfig(tmp_path / "explicit", "https://explicit.example:6443")
    api = kubeconfig.custom_objects_api(KubernetesBackendConfig(config_file=explicit))
    assert api.api_client.configuration.host == "https://explicit.example:6443"
    _user_kubeconfig(monkeypatch, _kubeconfig(tmp_path / "user", "https://user.example:6443"))
    assert kubeconfig.custom_objects_api().api_client.configuration.host == \
        "https://user.example:6443"
    assert kubeconfig.default_namespace() == "default"


def test_in_a_pod_in_cluster_credentials_are_required(tmp_path, monkeypatch) -> None:
    from kubernetes.config import ConfigException

    (tmp_path / "namespace").write_text("team-a\n")
    monkeypatch.setattr(kubeconfig, "SA_NAMESPACE_FILE", str(tmp_path / "namespace"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    _user_kubeconfig(monkeypatch, _kubeconfig(tmp_path / "user", "https://user.example:6443"))
    assert kubeconfig.default_namespace() == "team-a"
    with pytest.raises(ConfigException):  # in a pod the user's kubeconfig is not consulted
        kubeconfig.custom_objects_api()
