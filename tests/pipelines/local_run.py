"""One whole kfp.local pipeline run per test session, shared by every test that inspects it.

Why: the run is the slowest thing the pipeline tests do (~1 min on 2 cores); the CLI test and
the launcher conformance test (tests/conformance/test_kfp_launcher.py) both need it, so it is
made once through the real CLI and cached here, whichever test asks first.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.cli import main

TINY = {
    "nac_settings": json.dumps({"iterations": 1, "layers_per_stage": [1, 1, 1],
                                "max_layers_per_stage": [2, 2, 1], "stem_channels": 8,
                                "training": {"epochs": 1}}),
    "tune_trials": "1",
    "tune_epochs": "1",
    "train_epochs": "2",
}


@dataclass(frozen=True)
class LocalRun:
    root: Path       # --pipeline-root and --output-dir live under it
    exit_code: int
    out: str         # the CLI's stdout
    # Process state before and after the run (run_local must restore what it changes).
    state: tuple[dict, dict] = field(default=({}, {}))

    @property
    def run_dir(self) -> Path:
        return next((self.root / "runs").glob("nac-automl-*"))


class _Tee(io.StringIO):
    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)


_RUN: LocalRun | None = None


def _process_state() -> dict:
    return {"environ": dict(os.environ), "warnings.filters": list(warnings.filters),
            "stdout": sys.stdout}


def shared_run(tmp_path_factory) -> LocalRun:
    """The session's pipeline run (tiny budgets) through `python -m pipelines run --local`."""
    global _RUN
    if _RUN is None:
        root = tmp_path_factory.mktemp("kfp-local")
        args = ["run", "--local", "--pipeline-root", str(root / "runs"),
                "--output-dir", str(root / "model")]
        for name, value in TINY.items():
            args += ["--param", f"{name}={value}"]
        buffer = _Tee()
        # kfp's first import installs its own warning filters (urllib3/requests): an import
        # side effect that stays, not a change run_local makes, so import it before "before".
        import kfp.dsl  # noqa: F401
        import kfp.local  # noqa: F401

        before = _process_state()
        with contextlib.redirect_stdout(buffer):
            code = main(args)
        _RUN = LocalRun(root=root, exit_code=code, out=buffer.getvalue(),
                        state=(before, _process_state()))
    return _RUN
