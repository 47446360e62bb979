"""KFP component `preflight`: checks made before any compute is spent (pipeline-internal)."""

# No `from __future__ import annotations`: KFP reads the real annotation objects.

from components._common import component


@component
def preflight(
    checkpoint_dir: str = "",
    run_id: str = "",
    backend: str = "local",
    accelerator: str = "",
) -> str:
    """Fail in seconds, not after hours of search, when the run cannot finish.

    Checks that `backend` is known and that `checkpoint_dir/run_id` can be created and
    written by the image's non-root user (a fresh volume may be root-owned: KFP sets no
    fsGroup). Returns the accelerator the search and tuning steps request: `accelerator`
    with backend `local`, none with `katib` (the steps then only wait for Katib Experiments).

    Args:
        checkpoint_dir: checkpoint directory of the train step (empty: nothing to check).
        run_id: the run's sub-directory (the pipeline passes its job id).
        backend: `local` or `katib`.
        accelerator: the accelerator resource type compiled into the pipeline (empty: none).

    Returns:
        The accelerator resource type for nac_search and tune (empty: none).
    """
    from components._impl.preflight import run_preflight

    return run_preflight(checkpoint_dir=checkpoint_dir, run_id=run_id, backend=backend,
                         accelerator=accelerator)
