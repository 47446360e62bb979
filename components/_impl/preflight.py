"""preflight step: what must hold before the pipeline spends compute, and which steps need the
accelerator."""

from __future__ import annotations

from pathlib import Path

from components._impl.runtime import ensure_writable_dir
from components._impl.train import checkpoint_path
from components._impl.tune import check_backend


def run_preflight(*, checkpoint_dir: str, run_id: str, backend: str, accelerator: str) -> str:
    """Check the backend name and the checkpoint directory; return the search/tune accelerator.

    With backend `katib` the search and tuning steps only create Katib Experiments and wait
    (the trial pods train), so they get no accelerator: an idle GPU held for hours otherwise.
    An empty `checkpoint_dir` means train checkpoints inside its own pod: nothing to check.
    """
    check_backend(backend)
    if checkpoint_dir:
        where = ensure_writable_dir(checkpoint_path(checkpoint_dir, run_id, Path()))
        print(f"preflight: checkpoint directory {where} is writable", flush=True)
    step_accelerator = accelerator if backend == "local" else ""
    print(f"preflight: backend {backend}; nac_search and tune request "
          f"{step_accelerator or 'no accelerator'}", flush=True)
    return step_accelerator
