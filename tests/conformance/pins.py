"""The upstream releases our cluster path is checked against: the one place tests and docs read.

Every conformance test cites a file and function at one of these releases; docs link here
instead of repeating the versions. Change a pin only after re-reading the cited upstream code
at the new release (``fetch github:kubeflow/<repo>`` and ``git show <commit>:<path>``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    """One upstream repository at one release."""

    repo: str
    release: str
    commit: str

    def cite(self, path: str, symbol: str = "") -> str:
        """A citation string for a test docstring or an error message."""
        where = f"{path}:{symbol}" if symbol else path
        return f"{self.repo}@{self.release} ({self.commit[:8]}) {where}"


KFP = Pin("kubeflow/pipelines", "2.17.0", "4a3592cb2dd0a91a4652ab93893ec8beda1f3158")
KATIB = Pin("kubeflow/katib", "v0.19.0", "578e60f1ce83dbb5e7151026a3bdc4de233947fc")
MANIFESTS = Pin("kubeflow/manifests", "26.03", "d68ebc7fab366ab40ddd1541d2ec22febb31bc83")
MANIFESTS_PREVIOUS = Pin(
    "kubeflow/manifests", "v1.11.0", "854bd3a21044f767204def71b2dcda83e376891f"
)
# Pod Security Standards as the admission plugin implements them, at the Kubernetes minor the
# manifests are validated against (1.32, the kind node image): tests/conformance/pod_security.py.
PSA = Pin("kubernetes/pod-security-admission", "v0.32.13",
          "b314c21f381785a2f50f2b327d9403acdc89440d")
# KServe: the InferenceService CRD our `deploy` step validates against (serving/schemas/), the
# release matching the `kserve` package pinned in the `serve` extra.
KSERVE = Pin("kserve/kserve", "v0.20.0", "1fb781055dd1567164358233e1125142ca6ef1fe")

ALL = (KFP, KATIB, MANIFESTS, MANIFESTS_PREVIOUS, PSA, KSERVE)
