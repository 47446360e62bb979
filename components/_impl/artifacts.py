"""Reading and writing KFP artifact files atomically, and Metrics that survive kfp.local."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nac.atomic import write_text_atomic
from nac.metadata import clean, update_metadata


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


def set_metadata(artifact: Any, values: dict[str, Any]) -> None:
    """Add `values` to an output artifact's metadata, launcher-safe (nac.metadata.clean).

    Every component sets metadata through here (or nac.data.steps, which uses the same
    cleaner): a None is left out, a NaN/inf is left out and named on the step log.
    """
    dropped = update_metadata(artifact, values)
    if dropped:
        print(f"metadata: left out {', '.join(dropped)} (the KFP launcher cannot store null, "
              "NaN or inf)", flush=True)


def log_metrics(metrics: Any, values: dict[str, float | None]) -> None:
    """`log_metric` every finite value, and also write them as JSON to `metrics.path`.

    A None or non-finite value (a diverged run's NaN loss) is not logged: the KFP launcher
    rejects the `NaN` token json.dumps writes, failing the step after training succeeded. It
    is named on the step log instead. Metrics are metadata-only in KFP; kfp.local's cache then
    finds no file at the artifact's path and never hits. The file is harmless on a cluster
    and fixes that locally.
    """
    finite, dropped = clean({name: None if value is None else float(value)
                             for name, value in values.items()})
    for name, value in finite.items():
        metrics.log_metric(name, value)
    if dropped:
        print(f"metrics: not logged {', '.join(dropped)} (not a finite number)", flush=True)
    write_json(metrics.path, dict(metrics.metadata))
