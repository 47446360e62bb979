"""Katib custom-resource coordinates and condition names (kubeflow.org/v1beta1)."""

from __future__ import annotations

# Shared with the local runner (apiVersion, kind, Experiment-name limits) and the warm-start
# source (group, version, Trial plural and label); re-exported for this backend.
from katib.local.constants import API_VERSION as API_VERSION
from katib.local.constants import EXPERIMENT_KIND as EXPERIMENT_KIND
from katib.local.constants import NAME_MAX_LENGTH as NAME_MAX_LENGTH
from katib.local.constants import NAME_PATTERN as NAME_PATTERN
from katib.suggestion.constants import EXPERIMENT_LABEL as EXPERIMENT_LABEL
from katib.suggestion.constants import GROUP as GROUP
from katib.suggestion.constants import TRIAL_PLURAL as TRIAL_PLURAL
from katib.suggestion.constants import VERSION as VERSION

#: Plural used in CustomObjectsApi paths for Experiments.
EXPERIMENT_PLURAL = "experiments"
#: Namespace used when none is configured and none can be discovered.
DEFAULT_NAMESPACE = "default"
#: File holding the pod's namespace when running in a cluster.
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: Seconds between status polls while waiting.
DEFAULT_POLLING_INTERVAL = 5.0
#: HTTP status the API server returns when an object of that name already exists.
HTTP_CONFLICT = 409
