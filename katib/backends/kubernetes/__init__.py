"""Kubernetes backend: Katib custom resources through the Kubernetes API."""

from __future__ import annotations

from katib.backends.kubernetes.backend import KubernetesBackend
from katib.backends.kubernetes.types import KubernetesBackendConfig

__all__ = ["KubernetesBackend", "KubernetesBackendConfig"]
