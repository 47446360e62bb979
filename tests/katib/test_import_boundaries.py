"""Import boundaries of the Katib layer, checked in fresh interpreters (real `sys.modules`).

The Kubeflow SDK's backends never import one another (kubeflow 0.5.0 trainer/backends/); ours
neither: the Kubernetes backend loads no local engine, the local backend no Kubernetes code,
and the shared vocabulary (`katib.constants`, `katib.types`, `katib.results_file`) loads
neither backend, no pydantic and no Katib models, so the lean suggestion image can use it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded(*modules: str) -> set[str]:
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _under(loaded: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in loaded if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("entry, forbidden", [
    (("katib.backends.kubernetes", "katib.backends.kubernetes.utils",
      "katib.backends.kubernetes.training_jobs"), ("katib.local", "katib.backends.local")),
    (("katib.backends.local", "katib.backends.local.backend", "katib.local"),
     ("katib.backends.kubernetes", "kubernetes")),
    (("katib.constants", "katib.types", "katib.results_file", "katib.kubeconfig"),
     ("katib.backends", "katib.local", "katib.validation", "pydantic", "kubeflow_katib_api",
      "grpc", "kubernetes")),
    (("katib.suggestion.service", "katib.suggestion.algorithms.warm_start_sources"),
     ("katib.backends", "katib.local", "katib.validation", "pydantic", "kubeflow_katib_api",
      "torch")),
], ids=["kubernetes-backend", "local-backend", "vocabulary", "suggestion-service"])
def test_import_boundary(entry: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    loaded = _loaded(*entry)
    assert set(entry) <= loaded
    assert _under(loaded, *forbidden) == []
