"""Shared settings for every KFP component in this package.

Components run in the trainer image with this package preinstalled, so a pod never pip-installs
at start (air-gapped clusters work) and `kfp.local` SubprocessRunner(use_venv=False) runs them
in the current environment.
"""

from __future__ import annotations

import functools

from kfp import dsl

from components._image import IMAGE_REPOSITORY, TRAINER_IMAGE

__all__ = ["IMAGE_REPOSITORY", "TRAINER_IMAGE", "component"]

#: Decorator for our lightweight components: pinned image, no runtime pip installs.
component = functools.partial(
    dsl.component,
    base_image=TRAINER_IMAGE,
    packages_to_install=[],
    install_kfp_package=False,
)
