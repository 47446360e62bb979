"""preflight step: what must hold before the pipeline spends compute, and what the search and
tuning steps request."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from components._impl.runtime import ensure_writable_dir
from components._impl.train import checkpoint_path
from katib.constants import check_backend_name


class Plan(NamedTuple):
    """What nac_search and tune request (the driver resolves these per run; "" = nothing)."""

    accelerator: str
    cpu: str
    memory: str


def run_preflight(*, checkpoint_dir: str, run_id: str, backend: str, accelerator: str,
                  training_cpu: str = "", training_memory: str = "", waiting_cpu: str = "",
                  waiting_memory: str = "") -> Plan:
    """Check the backend name and the checkpoint directory; plan the search/tune resources.

    With backend `katib` the search and tuning steps only create Katib Experiments and wait
    (the trial pods train), so they get no accelerator and the light steps' CPU/memory:
    otherwise an idle GPU and 16Gi are held for hours. An empty `checkpoint_dir` means train
    checkpoints inside its own pod: nothing to check.
    """
    check_backend_name(backend)
    if checkpoint_dir:
        where = ensure_writable_dir(checkpoint_path(checkpoint_dir, run_id, Path()))
        print(f"preflight: checkpoint directory {where} is writable", flush=True)
    if backend == "local":
        plan = Plan(accelerator, training_cpu, training_memory)
    else:
        plan = Plan("", waiting_cpu or training_cpu, waiting_memory or training_memory)
    print(f"preflight: backend {backend}; nac_search and tune request "
          f"{plan.accelerator or 'no accelerator'}, cpu {plan.cpu or '-'}, "
          f"memory {plan.memory or '-'}", flush=True)
    return plan
