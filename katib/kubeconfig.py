"""The one way this project reaches the Kubernetes API: which credentials, which namespace.

Used by the Kubernetes backend, the training-job client, the deploy step and the warm-start
source `katib://<namespace>/<experiment>`. The order is the Kubeflow SDK's
(`kubeflow.trainer` KubernetesBackend): explicit `client_configuration`; else an explicit
kubeconfig file; else in-cluster credentials when running in a pod (the ServiceAccount
namespace file exists); else the user's kubeconfig. `kubernetes` is imported only when called.
"""

from __future__ import annotations

import os
from typing import Any

from katib.constants import DEFAULT_NAMESPACE, SA_NAMESPACE_FILE


def default_namespace() -> str:
    """The pod's ServiceAccount namespace in a cluster, else `default`."""
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as fh:
            return fh.read().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def custom_objects_api(cfg: Any = None) -> Any:
    """A `kubernetes.client.CustomObjectsApi` for `cfg` (a `KubernetesBackendConfig` or None).

    Raises `kubernetes.config.ConfigException` (or OSError) when no configuration is found.
    """
    from kubernetes import client, config

    client_configuration = getattr(cfg, "client_configuration", None)
    config_file = getattr(cfg, "config_file", None)
    if client_configuration is None:
        if config_file or not os.path.exists(SA_NAMESPACE_FILE):
            config.load_kube_config(config_file=config_file, context=getattr(cfg, "context", None))
        else:
            config.load_incluster_config()
    return client.CustomObjectsApi(client.ApiClient(client_configuration))
