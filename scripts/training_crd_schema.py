"""Extract the PyTorchJob CRD's OpenAPI schema into katib/backends/kubernetes/schemas/.

    .venv/bin/python scripts/training_crd_schema.py [--mirror /work/.mirror/kubeflow+manifests/repo]

Reads `kubeflow.org_pytorchjobs.yaml` (Training Operator v1) from kubeflow/manifests at the
pinned release (tests/conformance/pins.py MANIFESTS_PREVIOUS, v1.11.0: the last release that
ships Training Operator v1) and writes its `spec` schema with descriptions dropped and each
replica's pod `template` replaced by a marker: the pod template is a core PodTemplateSpec,
which the tests validate with kubernetes-validate and the Pod Security rules instead.
The output records the source (repository, release, commit, path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.crd_schema import crd_version, strip_descriptions, write_schema  # noqa: E402
from tests.conformance.pins import MANIFESTS_PREVIOUS  # noqa: E402

CRD_PATH = "applications/training-operator/upstream/base/crds/kubeflow.org_pytorchjobs.yaml"
OUT = ROOT / "katib" / "backends" / "kubernetes" / "schemas" / "pytorchjob-v1.json"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mirror", default="/work/.mirror/kubeflow+manifests/repo")
    args = p.parse_args()
    crd, schema = crd_version(args.mirror, MANIFESTS_PREVIOUS.commit, CRD_PATH, "v1")
    spec = strip_descriptions(schema["properties"]["spec"])
    replica = spec["properties"]["pytorchReplicaSpecs"]["additionalProperties"]
    replica["properties"]["template"] = {"type": "object",
                                         "x-nac-pod-template": "core/v1 PodTemplateSpec"}
    doc = {"source": MANIFESTS_PREVIOUS.cite(CRD_PATH, "spec.versions[v1].openAPIV3Schema"),
           "group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"],
           "version": "v1", "spec": spec}
    return write_schema(OUT, doc)


if __name__ == "__main__":
    sys.exit(main())
