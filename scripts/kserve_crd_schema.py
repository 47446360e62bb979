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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.crd_schema import crd_version, strip_descriptions, write_schema  # noqa: E402
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mirror", default="/work/.mirror/kserve+kserve/repo")
    args = p.parse_args()
    crd, schema = crd_version(args.mirror, KSERVE.commit, CRD_PATH, "v1beta1")
    spec = schema["properties"]["spec"]
    predictor = strip_descriptions(spec["properties"]["predictor"])
    for name in POD_FIELDS:
        field = predictor["properties"].get(name)
        if field is not None:
            predictor["properties"][name] = {"type": field.get("type", "object"),
                                             "x-nac-core-v1": name}
    doc = {"source": KSERVE.cite(CRD_PATH, "spec.versions[v1beta1].openAPIV3Schema"),
           "group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"],
           "version": "v1beta1", "spec_required": spec.get("required", []),
           "predictor": predictor}
    return write_schema(OUT, doc)


if __name__ == "__main__":
    sys.exit(main())
