"""KFP component: final training of an architecture -> Model artifact."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from typing import Any, Optional

from kfp import kubernetes
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output, PipelineTask

from components._common import component


@component
def train(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    architecture: Input[Artifact],
    hyperparameters: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    training_log: Output[Markdown],
    epochs: int = 30,
    include_val: bool = True,
    label_smoothing: float = 0.1,
    seed: int = 0,
    checkpoint_dir: str = "",
    run_id: str = "",
    workers: int = 1,
    parent_model: Optional[Input[Model]] = None,  # noqa: UP045 - KFP reads typing.Optional
    finetune_mode: str = "two_stage",
) -> float:
    """Train the searched architecture with the tuned hyperparameters; export the model.

    Uses a GPU when one is visible (the compiled pipeline requests one unless compiled with
    `--accelerator none`), else the CPU.
    Checkpoints every epoch under `checkpoint_dir/run_id`, so a restarted pod resumes from the
    last complete epoch. Outputs a `nac-model` artifact (weights loadable with
    `torch.load(weights_only=True)`, architecture spec, normalisation, class names), Metrics
    and a per-epoch Markdown log.

    Args:
        train_data: train split (`nac-dataset` artifact).
        val_data: validation split (reported each epoch; also trained on when include_val).
        architecture: `nac-architecture` spec (from nac_search).
        hyperparameters: JSON object of hyperparameters (from tune): lr, weight_decay,
            batch_size, momentum, dropout; missing ones take the training defaults.
        epochs: training epochs.
        include_val: train on train + val (the hyperparameters are already chosen).
        label_smoothing: label smoothing of the cross-entropy loss.
        seed: random seed.
        checkpoint_dir: directory for checkpoints (the pipeline passes its run-scoped KFP
            workspace); empty = a directory beside the model output. Checked for writability
            before any data is read.
        run_id: sub-directory of checkpoint_dir for this run (the pipeline passes its job id).
        workers: data-parallel workers in this step (torchrun processes, DDP; one GPU each
            on a GPU node). batch_size stays the global batch; docs/distributed.md.
        parent_model: optional earlier `nac-model` to fine-tune from (its architecture is
            used, the head re-initialised when the classes differ; the new Model records the
            parent's sha256, data source and classes). docs/serving.md.
        finetune_mode: with parent_model: `freeze` (head only, the rest in inference mode),
            `two_stage` (a fifth of the epochs head only, then every cell at lr/2; the stem
            and its BatchNorm statistics stay the parent's) or `full`.

    Returns:
        Final validation accuracy (on the val split, which is training data when include_val).
    """
    from components._impl.train import run_train

    return run_train(
        train_data=train_data, val_data=val_data, architecture=architecture,
        hyperparameters=hyperparameters, model=model, metrics=metrics,
        training_log=training_log, epochs=epochs, include_val=include_val,
        label_smoothing=label_smoothing, seed=seed,
        checkpoint_dir=checkpoint_dir, run_id=run_id, workers=workers,
        parent_model=parent_model, finetune_mode=finetune_mode)


def set_launcher(task: PipelineTask, launcher: str = "pytorchjob", *, pvc_name: str,
                 mount_path: str = "/mnt/checkpoints", min_workers: int = 1,
                 mount_pvc: bool = True, **settings: Any) -> PipelineTask:
    """Run this `train` task's training as an elastic PyTorchJob instead of inside its pod.

    The task then creates a Training Operator v1 PyTorchJob (`elasticPolicy`: min_workers..
    the task's `workers` replicas, c10d, maxRestarts) in its namespace, waits for it and puts
    the trained Model into its own output artifact. Weights and checkpoints travel over
    `pvc_name`, a ReadWriteMany PVC mounted at `mount_path` in the task (here, unless
    `mount_pvc=False` because the pipeline mounts it already) and in the job's pods; pass a
    `checkpoint_dir` under `mount_path`. The task's service account needs
    manifests/training/rbac.yaml. Other settings (`delete`, `timeout_s`, `cpu`, `memory`,
    `accelerator`, `accelerator_count`, `toleration_key`, `max_restarts`, ...):
    components/_impl/train_job.py `LauncherConfig`; docs/distributed.md.

        trained = train(..., workers=4, checkpoint_dir="/mnt/checkpoints")
        set_launcher(trained, "pytorchjob", pvc_name="shared-rwx", min_workers=2)
    """
    from components._impl.train_job import LAUNCHER_ENV, LauncherConfig

    config = LauncherConfig(launcher=launcher, pvc=pvc_name, mount=mount_path,
                            min_workers=min_workers, **settings)
    if mount_pvc:
        kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=mount_path)
    task.set_env_variable(LAUNCHER_ENV, config.to_env())
    return task
