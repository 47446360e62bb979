"""Shared half of the CRD-schema extractors (training_crd_schema.py, kserve_crd_schema.py).

Each extractor reads one CRD from a mirrored upstream repository at a pinned commit
(tests/conformance/pins.py), keeps the part our builders send, and writes it as JSON that
records its source. Reading, description stripping and writing live here once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def crd_version(mirror: str, commit: str, path: str, version: str) -> tuple[dict, dict]:
    """(the CRD document, its `version` entry's openAPIV3Schema) at `commit` of `mirror`."""
    text = subprocess.run(["git", "-C", mirror, "show", f"{commit}:{path}"],
                          check=True, capture_output=True, text=True).stdout
    crd = yaml.safe_load(text)
    entry = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    return crd, entry["schema"]["openAPIV3Schema"]


def strip_descriptions(node: Any) -> Any:
    """The schema without `description` keys (they are most of its size and unused)."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def write_schema(out: Path, doc: dict[str, Any]) -> int:
    """Write `doc` (sorted, one-space indent) and say where; returns the exit code 0."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes)")
    return 0
