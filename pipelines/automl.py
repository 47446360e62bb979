"""The AutoML pipeline: ingest -> preprocess -> nac_search -> tune -> train -> evaluate.

Every parameter has a default that runs the whole path on scikit-learn's digits with no cluster
(`python -m pipelines run --local`). On Kubeflow, the training steps request a GPU, a
memory-backed /dev/shm for DataLoader workers, and the final training checkpoints to a PVC so a
restarted pod resumes. `backend="katib"` moves the search and the tuning into Katib
Experiments (algorithms `nac` and `warm-start`, see katib/suggestion).
"""

# No `from __future__ import annotations`: KFP reads the pipeline's annotations at decoration.

from kfp import dsl, kubernetes

from components.evaluate import evaluate
from components.ingest import ingest
from components.nac_search import nac_search
from components.preprocess import preprocess
from components.train import train
from components.tune import tune

#: Name of the pipeline in the KFP UI and of the compiled file's pipelineInfo.
PIPELINE_NAME = "nac-automl"
#: Where the checkpoint PVC is mounted in the training pod.
CHECKPOINT_MOUNT = "/mnt/checkpoints"
#: Extended resource requested by the training steps.
GPU_RESOURCE = "nvidia.com/gpu"
#: Size cap of the memory-backed /dev/shm (PyTorch DataLoader shared memory, KFP #9893).
SHM_SIZE = "2Gi"


def _on_gpu(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """One GPU plus a memory-backed /dev/shm; a no-op under kfp.local (runs on the CPU)."""
    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
    kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm",
                               medium="Memory", size_limit=SHM_SIZE)
    return task


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="AutoML for image classification: NAC (EnvelopeNet) architecture search, "
                "Katib hyperparameter tuning, GPU training and evaluation.",
)
def automl(
    source: str = "builtin:digits",
    label_column: str = "label",
    image_shape: str = "",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    augment_shift: int = 1,
    seed: int = 0,
    backend: str = "local",
    nac_settings: str = "{}",
    search_space: str = "",
    tune_trials: int = 5,
    tune_parallel_trials: int = 1,
    tune_epochs: int = 4,
    tune_algorithm: str = "warm-start",
    train_epochs: int = 40,
    namespace: str = "",
    checkpoint_pvc: str = "automl-checkpoints",
    checkpoint_root: str = CHECKPOINT_MOUNT,
) -> float:
    """Returns the test error of the trained model.

    Args:
        source: data URI (`builtin:digits`, a CSV/NPZ path or URL, an image folder).
        label_column: label column of CSV sources.
        image_shape: `CxHxW` of flat CSV/NPZ rows (empty: the source's own shape).
        val_fraction: validation share (stratified, seeded).
        test_fraction: test share.
        augment_shift: random translation (pixels) applied while training; 0 = off.
        seed: seed of the split, the search, the trials and the final training.
        backend: `local` (search and tuning inside the steps) or `katib` (Katib Experiments).
        nac_settings: JSON overrides of the small-images NAC preset.
        search_space: JSON list of Katib parameter specs (empty: lr, weight_decay, batch_size).
        tune_trials: tuning trials.
        tune_parallel_trials: tuning trials at once.
        tune_epochs: epochs per tuning trial.
        tune_algorithm: Katib algorithm for tuning.
        train_epochs: epochs of the final training.
        namespace: Kubernetes namespace of the Katib Experiments.
        checkpoint_pvc: existing PVC mounted at /mnt/checkpoints in the training pod.
        checkpoint_root: checkpoint directory passed to train (inside the PVC mount).
    """
    ingested = ingest(source=source, label_column=label_column, image_shape=image_shape)
    split = preprocess(dataset=ingested.outputs["dataset"], val_fraction=val_fraction,
                       test_fraction=test_fraction, seed=seed, augment_shift=augment_shift)

    search = nac_search(train_data=split.outputs["train"], val_data=split.outputs["val"],
                        settings=nac_settings, backend=backend, seed=seed, namespace=namespace)
    _on_gpu(search)

    tuned = tune(train_data=split.outputs["train"], val_data=split.outputs["val"],
                 architecture=search.outputs["architecture"], search_space=search_space,
                 max_trials=tune_trials, parallel_trials=tune_parallel_trials,
                 epochs=tune_epochs, algorithm=tune_algorithm, backend=backend, seed=seed,
                 namespace=namespace)
    _on_gpu(tuned)

    trained = train(train_data=split.outputs["train"], val_data=split.outputs["val"],
                    architecture=search.outputs["architecture"],
                    hyperparameters=tuned.outputs["best_hyperparameters"],
                    epochs=train_epochs, seed=seed, checkpoint_dir=checkpoint_root,
                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    _on_gpu(trained)
    kubernetes.mount_pvc(trained, pvc_name=checkpoint_pvc, mount_path=CHECKPOINT_MOUNT)

    evaluated = evaluate(model=trained.outputs["model"], test_data=split.outputs["test"])
    return evaluated.outputs["Output"]
