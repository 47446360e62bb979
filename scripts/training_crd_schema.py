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
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conformance.pins import MANIFESTS_PREVIOUS  # noqa: E402

CRD_PATH = "applications/training-operator/upstream/base/crds/kubeflow.org_pytorchjobs.yaml"
OUT = ROOT / "katib" / "backends" / "kubernetes" / "schemas" / "pytorchjob-v1.json"


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mirror", default="/work/.mirror/kubeflow+manifests/repo")
    args = p.parse_args()
    text = subprocess.run(["git", "-C", args.mirror, "show",
                           f"{MANIFESTS_PREVIOUS.commit}:{CRD_PATH}"],
                          check=True, capture_output=True, text=True).stdout
    crd = yaml.safe_load(text)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    spec = _strip(version["schema"]["openAPIV3Schema"]["properties"]["spec"])
    replica = spec["properties"]["pytorchReplicaSpecs"]["additionalProperties"]
    replica["properties"]["template"] = {"type": "object",
                                         "x-nac-pod-template": "core/v1 PodTemplateSpec"}
    doc = {"source": MANIFESTS_PREVIOUS.cite(CRD_PATH, "spec.versions[v1].openAPIV3Schema"),
           "group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"],
           "version": "v1", "spec": spec}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
