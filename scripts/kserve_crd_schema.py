"""Extract the InferenceService CRD's predictor schema into serving/schemas/.

    .venv/bin/python scripts/kserve_crd_schema.py [--mirror /work/.mirror/kserve+kserve/repo]

Reads `config/crd/full/serving.kserve.io_inferenceservices.yaml` from kserve/kserve at the
pinned release (tests/conformance/pins.py KSERVE, the release of the `kserve` package in the
`serve` extra) and writes the v1beta1 `spec.predictor` schema with descriptions dropped. The
core/v1 parts a predictor embeds (containers, volumes, affinity, ...) are replaced by a
marker: the `deploy` step validates those with kubernetes-validate (as a Pod) and the Pod
Security rules instead, so the file stays small. The output records the source.
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

from tests.conformance.pins import KSERVE  # noqa: E402

CRD_PATH = "config/crd/full/serving.kserve.io_inferenceservices.yaml"
OUT = ROOT / "serving" / "schemas" / "inferenceservice-v1beta1.json"
#: Predictor fields that are core/v1 PodSpec types (validated as a Pod, not from the CRD).
POD_FIELDS = ("affinity", "containers", "initContainers", "volumes", "tolerations",
              "securityContext", "dnsConfig", "hostAliases", "imagePullSecrets", "overhead",
              "readinessGates", "resourceClaims", "schedulingGates", "topologySpreadConstraints",
              "os", "resources", "workerSpec",
              # the built-in framework predictors: each a core/v1 Container plus a few fields;
              # a custom predictor (ours) uses `containers` instead
              "huggingface", "lightgbm", "model", "onnx", "paddle", "pmml", "pytorch",
              "sklearn", "tensorflow", "triton", "xgboost")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mirror", default="/work/.mirror/kserve+kserve/repo")
    args = p.parse_args()
    text = subprocess.run(["git", "-C", args.mirror, "show", f"{KSERVE.commit}:{CRD_PATH}"],
                          check=True, capture_output=True, text=True).stdout
    crd = yaml.safe_load(text)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    predictor = _strip(spec["properties"]["predictor"])
    for name in POD_FIELDS:
        field = predictor["properties"].get(name)
        if field is not None:
            predictor["properties"][name] = {"type": field.get("type", "object"),
                                             "x-nac-core-v1": name}
    doc = {"source": KSERVE.cite(CRD_PATH, "spec.versions[v1beta1].openAPIV3Schema"),
           "group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"],
           "version": "v1beta1", "spec_required": spec.get("required", []),
           "predictor": predictor}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
