"""KFP component `preflight`: checks made before any compute is spent (pipeline-internal)."""

# No `from __future__ import annotations`: KFP reads the real annotation objects.

from typing import NamedTuple

from components._common import component


@component
def preflight(
    checkpoint_dir: str = "",
    run_id: str = "",
    backend: str = "local",
    accelerator: str = "",
    training_cpu: str = "",
    training_memory: str = "",
    waiting_cpu: str = "",
    waiting_memory: str = "",
) -> NamedTuple("Plan", [("accelerator", str), ("cpu", str), ("memory", str)]):
    """Fail in seconds, not after hours of search, when the run cannot finish.

    Checks that `backend` is known and that `checkpoint_dir/run_id` can be created and
    written by the image's non-root user (a fresh volume may be root-owned: KFP sets no
    fsGroup). Returns what the search and tuning steps request: with backend `local` the
    accelerator and training CPU/memory; with `katib` no accelerator and the waiting
    CPU/memory (the steps then only wait for Katib Experiments).

    Args:
        checkpoint_dir: checkpoint directory of the train step (empty: nothing to check).
        run_id: the run's sub-directory (the pipeline passes its job id).
        backend: `local` or `katib`.
        accelerator: the accelerator resource type compiled into the pipeline (empty: none).
        training_cpu: CPU of a step that trains (backend local).
        training_memory: memory of a step that trains.
        waiting_cpu: CPU of a step that waits for a Katib Experiment (backend katib).
        waiting_memory: memory of a step that waits.

    Returns:
        accelerator, cpu, memory for nac_search and tune (empty accelerator: none).
    """
    from components._impl.preflight import run_preflight

    return run_preflight(checkpoint_dir=checkpoint_dir, run_id=run_id, backend=backend,
                         accelerator=accelerator, training_cpu=training_cpu,
                         training_memory=training_memory, waiting_cpu=waiting_cpu,
                         waiting_memory=waiting_memory)
