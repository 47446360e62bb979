"""The trainer image reference, importable without kfp (component bodies run with KFP_RUNTIME,
where `kfp.dsl` exposes no `component` decorator, so they must not import `_common`)."""

from __future__ import annotations

from nac import __version__

#: Versioned trainer image (images/trainer/Dockerfile); never `:latest`.
IMAGE_REPOSITORY = "ghcr.io/kubeflow-nac/automl-trainer"
TRAINER_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
