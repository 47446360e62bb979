"""Checks a step makes before it spends compute: the image's package version, and a writable
checkpoint directory.

Why: every component body runs the package preinstalled in the trainer image, while the
pipeline YAML (signatures, call sites) comes from the checkout it was compiled from. An image
built from another version would run other code under the same names, or fail deep inside a
step. The pipeline sets `NAC_PIPELINE_VERSION` on every task (pipelines/automl.py), and
importing `components._impl` compares it with this package's version. A checkpoint volume
that uid 10001 cannot write (a fresh block-storage volume is root-owned and KFP sets no
fsGroup, kubeflow/pipelines#3866) would otherwise fail the final training step after the
search and tuning already ran.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from nac import __version__

#: Set by the pipeline on every task: the package version the pipeline was compiled from.
PIPELINE_VERSION_ENV = "NAC_PIPELINE_VERSION"
#: Set by the pipeline on every task: the image reference compiled into the pipeline.
PIPELINE_IMAGE_ENV = "NAC_PIPELINE_IMAGE"


class ImageVersionError(RuntimeError):
    """The image's package is not the version the pipeline was compiled from."""


class CheckpointDirError(PermissionError):
    """The checkpoint directory cannot be created or written by this process."""


def check_image_version(environ: Mapping[str, str] | None = None) -> None:
    """Fail with both versions when the pipeline was compiled from another package version.

    A step outside our pipeline (no `NAC_PIPELINE_VERSION`) is not checked.
    """
    env = os.environ if environ is None else environ
    expected = env.get(PIPELINE_VERSION_ENV, "").strip()
    if not expected or expected == __version__:
        return
    image = env.get(PIPELINE_IMAGE_ENV, "") or "this step's image"
    raise ImageVersionError(
        f"version mismatch: the pipeline was compiled from kubeflow-nac-automl {expected}, but "
        f"{image} contains {__version__}. Build and push the image from the checkout you "
        "compile from (`make images REGISTRY=<registry>` does both), or compile with "
        f"`python -m pipelines compile --image <an image built from {expected}>`.")


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        try:
            if parent.exists():
                return parent
        except OSError:  # not even searchable by this user: keep going up
            continue
    return Path("/")


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "checkpoint directory") -> Path:
    """Create `path` and prove this process can write a file in it; else say why and how to fix.

    The message names the uid/gid this process runs as and the owner and mode of the nearest
    existing ancestor (on a fresh volume: the root-owned volume root).
    """
    target = Path(path)
    probe = target / f".write-probe-{os.getpid()}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        anchor = _nearest_existing(target)
        try:
            st = anchor.stat()
            owner = f"{anchor} is owned by {st.st_uid}:{st.st_gid} mode {st.st_mode & 0o777:o}"
        except OSError:
            owner = f"{anchor} cannot be inspected"
        raise CheckpointDirError(
            f"{what} {target} is not writable by uid {os.getuid()} gid {os.getgid()} "
            f"({e.strerror or e}); {owner}. A freshly provisioned block-storage volume is "
            "root-owned and KFP sets no fsGroup (kubeflow/pipelines#3866). Fix: make the "
            "volume root group-writable once (docs/pipeline.md, 'Checkpoints'), use a storage "
            "class whose volumes are writable, or pass checkpoint_root='' to checkpoint inside "
            "the pod (no resume after a pod restart).") from None
    return target
