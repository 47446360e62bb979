"""Shared settings for every KFP component in this package.

Components run in the trainer image with this package preinstalled, so a pod never pip-installs
at start (air-gapped clusters work) and `kfp.local` SubprocessRunner(use_venv=False) runs them
in the current environment.
"""

from __future__ import annotations

import functools

from kfp import dsl

from nac import __version__

#: Versioned trainer image (images/trainer/Dockerfile); never `:latest`.
IMAGE_REPOSITORY = "ghcr.io/kubeflow-nac/automl-trainer"
TRAINER_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"

#: Decorator for our lightweight components: pinned image, no runtime pip installs.
component = functools.partial(
    dsl.component,
    base_image=TRAINER_IMAGE,
    packages_to_install=[],
    install_kfp_package=False,
)
