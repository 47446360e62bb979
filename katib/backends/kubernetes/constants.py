"""Katib custom-resource coordinates and condition names (kubeflow.org/v1beta1)."""

from __future__ import annotations

#: API group of Katib's custom resources.
GROUP = "kubeflow.org"
#: API version served for Experiments and Trials.
VERSION = "v1beta1"
#: apiVersion written into Experiment bodies.
API_VERSION = f"{GROUP}/{VERSION}"
#: Kind of the Experiment custom resource.
EXPERIMENT_KIND = "Experiment"
#: Plural used in CustomObjectsApi paths for Experiments.
EXPERIMENT_PLURAL = "experiments"
#: Plural used in CustomObjectsApi paths for Trials.
TRIAL_PLURAL = "trials"
#: Label Katib puts on every Trial naming its Experiment.
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
#: Namespace used when none is configured and none can be discovered.
DEFAULT_NAMESPACE = "default"
#: File holding the pod's namespace when running in a cluster.
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: Seconds between status polls while waiting.
DEFAULT_POLLING_INTERVAL = 5.0
#: HTTP status the API server returns when an object of that name already exists.
HTTP_CONFLICT = 409
#: Experiment names: Katib's webhook limit and DNS-label pattern.
NAME_MAX_LENGTH = 40
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
