"""Reading and writing KFP artifact files atomically, and Metrics that survive kfp.local."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nac.atomic import write_text_atomic


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Load a JSON artifact (a file, or a directory holding exactly one .json file)."""
    p = Path(path)
    if p.is_dir():
        candidates = sorted(p.glob("*.json"))
        if len(candidates) != 1:
            raise ValueError(f"{what}: {p} is a directory without exactly one .json file")
        p = candidates[0]
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{what}: {p} does not exist; connect the output that produces it")\
            from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: {p} is not valid JSON ({e})") from None


def read_architecture(path: str | os.PathLike[str]) -> Any:
    """The `nac-architecture` spec held by an artifact (file or directory)."""
    from nac.export import ARCHITECTURE_FILE
    from nac.spec import ArchitectureSpec

    p = Path(path)
    if p.is_dir() and (p / ARCHITECTURE_FILE).is_file():
        p = p / ARCHITECTURE_FILE
    return ArchitectureSpec.from_json(read_json(p, "architecture"))


def log_metrics(metrics: Any, values: dict[str, float]) -> None:
    """`log_metric` every value, and also write them as JSON to `metrics.path`.

    Metrics are metadata-only in KFP; kfp.local's cache then finds no file and never hits
    (reference/kfp.md §1.3). The file is harmless on a cluster and fixes that locally.
    """
    for name, value in values.items():
        metrics.log_metric(name, float(value))
    write_json(metrics.path, dict(metrics.metadata))
