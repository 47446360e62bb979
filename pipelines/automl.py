"""The AutoML pipeline: preflight, ingest, preprocess, nac_search, tune, train, evaluate
(+ compress, deploy).

Every parameter has a default that runs the whole path on scikit-learn's digits with no cluster
(`python -m pipelines run --local`). What the cluster is asked for is a compile option
(pipelines/options.py, `python -m pipelines compile --help`): the image of every step, the
accelerator of the training steps (or none) with a toleration for tainted accelerator nodes,
CPU/memory requests and limits of every step, retries and pod deadlines, and where `train`
checkpoints (KFP's run-scoped workspace by default: nothing to create beforehand).
`backend="katib"` moves the search and the tuning into Katib Experiments (algorithms `nac`
and `warm-start`); those steps then only wait, and request no accelerator.

Reuse and serving (docs/serving.md), all off by default so the default run is unchanged:
`compress` and `deploy` are run parameters (`dsl.If` steps after evaluate; deploy serves the
compressed Model when compressing, else the trained one). Fine-tuning is a compile choice,
`build_pipeline(finetune=True)` (CLI: `compile --finetune`, `run --parent-model DIR`;
docs/pipeline.md): that variant has the run parameters `parent_model_uri`
(required: an earlier run's Model, brought in with `dsl.importer`, the KFP way to use an
existing artifact) and `finetune_mode`. Not a root-level optional artifact input: the KFP UI
and run API cannot set one and kfp 2.17's local runner refuses one left unset; not a
`dsl.If`/`dsl.OneOf` pair of train steps: the local runner cannot resolve an artifact
`OneOf`, and train would leave the root DAG the launcher rules check.
"""

# No `from __future__ import annotations`: KFP reads the pipeline's annotations at decoration.

import inspect
from collections.abc import Callable
from typing import Any

from kfp import dsl, kubernetes

from components._impl.runtime import PIPELINE_IMAGE_ENV, PIPELINE_VERSION_ENV
from components.compress import compress as compress_step
from components.deploy import deploy as deploy_step
from components.evaluate import evaluate
from components.ingest import ingest
from components.nac_search import nac_search
from components.preflight import preflight
from components.preprocess import preprocess
from components.train import set_launcher, train
from components.tune import tune
from nac import __version__
from pipelines.options import CHECKPOINT_MOUNT, PipelineOptions

#: Name of the pipeline in the KFP UI and of the compiled file's pipelineInfo.
PIPELINE_NAME = "nac-automl"
DESCRIPTION = ("AutoML for image classification: NAC (EnvelopeNet) architecture search, "
               "Katib hyperparameter tuning, GPU training and evaluation.")
#: Run parameters that exist only in the fine-tuning variant (`build_pipeline(finetune=True)`).
FINETUNE_PARAMETERS = ("parent_model_uri", "finetune_mode")


def _common(task: dsl.PipelineTask, options: PipelineOptions) -> None:
    """Every step: the compiled image, and the version/image each step checks against its own."""
    task.set_container_image(options.image)
    task.set_env_variable(PIPELINE_VERSION_ENV, __version__)
    task.set_env_variable(PIPELINE_IMAGE_ENV, options.image)


def _light(task: dsl.PipelineTask, options: PipelineOptions) -> dsl.PipelineTask:
    """A step that does not train: small CPU/memory request = limit, a short pod deadline."""
    _common(task, options)
    task.set_cpu_request(options.light.cpu).set_cpu_limit(options.light.cpu)
    task.set_memory_request(options.light.memory).set_memory_limit(options.light.memory)
    kubernetes.set_timeout(task, options.light_timeout_s)
    return task


def _training(task: dsl.PipelineTask, options: PipelineOptions,
              plan: "dsl.PipelineTask | None" = None, *,
              gpu: bool = True) -> dsl.PipelineTask:
    """CPU/memory (incl. the memory-backed /dev/shm), accelerator + toleration, retry, deadline.

    With `plan` (the preflight task) the accelerator, CPU and memory are its outputs, which
    the driver resolves per run (an empty accelerator type requests none:
    backend/src/v2/driver/driver.go initPodSpecPatch / getPodResource), so a step that only
    waits for a Katib Experiment holds no GPU; otherwise the compiled values.
    `gpu=False`: the training CPU/memory, no accelerator.
    """
    _common(task, options)
    cpu = plan.outputs["cpu"] if plan else options.training.cpu
    memory = plan.outputs["memory"] if plan else options.training.memory
    accelerator = plan.outputs["accelerator"] if plan else options.accelerator
    task.set_cpu_request(cpu).set_cpu_limit(cpu)
    task.set_memory_request(memory).set_memory_limit(memory)
    if plan:
        task.after(plan)
    kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm",
                               medium="Memory", size_limit=options.shm_size)
    if options.accelerator and gpu:
        task.set_accelerator_type(accelerator).set_accelerator_limit(options.accelerator_count)
        if options.toleration_key:
            kubernetes.add_toleration(task, key=options.toleration_key, operator="Exists",
                                      effect="NoSchedule")
    if options.retries:
        task.set_retry(num_retries=options.retries, backoff_duration=options.retry_backoff,
                       backoff_factor=2.0, backoff_max_duration="3600s")
    kubernetes.set_timeout(task, options.training_timeout_s)
    return task


def _after_training(trained: dsl.PipelineTask, split: dsl.PipelineTask, options: PipelineOptions,
                    *, compress: bool, accuracy_budget: float, deploy: bool, deploy_name: str,
                    namespace: str) -> dsl.PipelineTask:
    """evaluate, then the optional compress and deploy steps; returns the evaluate task.

    compress gets the training CPU/memory but no accelerator: it fine-tunes the pruned
    network briefly and times every variant on the CPU it runs on (the predictor's
    hardware); deploy only talks to the API server.
    """
    model = trained.outputs["model"]
    evaluated = _light(evaluate(model=model, test_data=split.outputs["test"]), options)
    with dsl.If(compress == True, name="compress"):  # noqa: E712 - a KFP condition, not a bool
        packed = compress_step(model=model, train_data=split.outputs["train"],
                               test_data=split.outputs["test"], accuracy_budget=accuracy_budget)
        _training(packed, options, gpu=False)
        packed.after(evaluated)
        with dsl.If(deploy == True, name="deploy-compressed"):  # noqa: E712
            _light(deploy_step(model=packed.outputs["compressed_model"], name=deploy_name,
                               namespace=namespace, image=options.image), options)
    with dsl.Else(name="uncompressed"):
        with dsl.If(deploy == True, name="deploy"):  # noqa: E712
            served = _light(deploy_step(model=model, name=deploy_name, namespace=namespace,
                                        image=options.image), options)
            served.after(evaluated)
    return evaluated


def _workers(options: PipelineOptions) -> dict[str, int]:
    """train's `workers` argument, only when not the default (the default YAML is unchanged)."""
    return {"workers": options.train_workers} if options.train_workers != 1 else {}


def _launch_as_job(trained: dsl.PipelineTask, options: PipelineOptions) -> None:
    """train creates an elastic PyTorchJob with the training resources; the checkpoint PVC
    (mounted above) carries the weights back. It waits within its own pod deadline."""
    set_launcher(trained, options.launcher, pvc_name=options.checkpoint_pvc,
                 mount_path=CHECKPOINT_MOUNT, mount_pvc=False,
                 min_workers=options.min_train_workers, timeout_s=options.katib_wait_s,
                 cpu=options.training.cpu, memory=options.training.memory,
                 accelerator=options.accelerator,
                 accelerator_count=options.accelerator_count if options.accelerator else 0,
                 toleration_key=options.toleration_key)


def _pipeline_config(options: PipelineOptions) -> "dsl.PipelineConfig | None":
    """A run-scoped workspace PVC (KFP 2.17) for the checkpoints, unless an existing PVC is used.

    accessModes is set because the 2.17 backend refuses a workspace without one unless the
    API server has a default (backend/src/v2/compiler/argocompiler/argo.go GetWorkspacePVC).
    """
    if not options.workspace_size or options.checkpoint_pvc:
        return None
    return dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(
        size=options.workspace_size,
        kubernetes=dsl.KubernetesWorkspaceConfig(pvcSpecPatch={"accessModes": ["ReadWriteOnce"]})))


def build_pipeline(options: PipelineOptions | None = None, *,
                   finetune: bool = False):  # -> GraphComponent
    """The pipeline compiled with `options` (the defaults give pipelines/automl.yaml).

    `finetune=True` adds the run parameters `parent_model_uri` (required) and
    `finetune_mode`: `train` fine-tunes the imported parent Model. Without it those two
    parameters do not exist (FINETUNE_PARAMETERS are cut from the signature), so a run cannot
    pass a parent that would be ignored.
    """
    options = options or PipelineOptions()

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
        train_epochs: int = 20,
        namespace: str = "",
        checkpoint_root: str = options.checkpoint_root,
        compress: bool = False,
        accuracy_budget: float = 0.005,
        deploy: bool = False,
        deploy_name: str = "nac-model",
        parent_model_uri: str = "",
        finetune_mode: str = "two_stage",
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
            backend: `local` (search and tuning inside the steps) or `katib` (Katib
                Experiments; the steps then request no accelerator).
            nac_settings: JSON overrides of the small-images NAC preset.
            search_space: JSON list of Katib parameter specs (empty: lr, weight_decay,
                batch_size).
            tune_trials: tuning trials.
            tune_parallel_trials: tuning trials at once.
            tune_epochs: epochs per tuning trial.
            tune_algorithm: Katib algorithm for tuning.
            train_epochs: epochs of the final training.
            namespace: Kubernetes namespace of the Katib Experiments.
            checkpoint_root: checkpoint directory of train (default: the run's KFP workspace;
                empty: inside the train pod, no resume after a pod restart).
            compress: add the compress step (ONNX, FP16, INT8, pruning; keeps the fastest
                variant within accuracy_budget).
            accuracy_budget: largest accepted accuracy drop of the compressed Model (0.005 =
                0.5 points).
            deploy: add the deploy step (a KServe InferenceService named deploy_name in
                `namespace`; the step's service account needs manifests/serving/rbac.yaml).
            deploy_name: InferenceService name.
            parent_model_uri: (compiled with `finetune=True`) URI of an earlier run's Model
                artifact that train fine-tunes (its architecture is used).
            finetune_mode: (compiled with `finetune=True`) `two_stage`, `freeze` or `full`.
        """
        job = dsl.PIPELINE_JOB_ID_PLACEHOLDER
        checked = _light(preflight(
            checkpoint_dir=checkpoint_root, run_id=job, backend=backend,
            accelerator=options.accelerator, training_cpu=options.training.cpu,
            training_memory=options.training.memory, waiting_cpu=options.light.cpu,
            waiting_memory=options.light.memory), options)
        ingested = _light(ingest(source=source, label_column=label_column,
                                 image_shape=image_shape), options)
        split = _light(preprocess(dataset=ingested.outputs["dataset"],
                                  val_fraction=val_fraction, test_fraction=test_fraction,
                                  seed=seed, augment_shift=augment_shift), options)
        split.after(checked)  # nothing heavy starts before the preflight passed

        search = nac_search(train_data=split.outputs["train"], val_data=split.outputs["val"],
                            settings=nac_settings, backend=backend, seed=seed,
                            namespace=namespace, trial_image=options.image,
                            timeout_seconds=options.katib_wait_s)
        _training(search, options, plan=checked)

        tuned = tune(train_data=split.outputs["train"], val_data=split.outputs["val"],
                     architecture=search.outputs["architecture"], search_space=search_space,
                     max_trials=tune_trials, parallel_trials=tune_parallel_trials,
                     epochs=tune_epochs, algorithm=tune_algorithm, backend=backend, seed=seed,
                     namespace=namespace, trial_image=options.image,
                     timeout_seconds=options.katib_wait_s)
        _training(tuned, options, plan=checked)

        parent: dict[str, object] = {}
        if finetune:  # compiled with fine-tuning: the parent comes in through an importer
            imported = dsl.importer(artifact_uri=parent_model_uri, artifact_class=dsl.Model,
                                    reimport=False)
            parent = {"parent_model": imported.output, "finetune_mode": finetune_mode}
        trained = train(train_data=split.outputs["train"], val_data=split.outputs["val"],
                        architecture=search.outputs["architecture"],
                        hyperparameters=tuned.outputs["best_hyperparameters"],
                        epochs=train_epochs, seed=seed, checkpoint_dir=checkpoint_root,
                        run_id=job, **parent, **_workers(options))
        _training(trained, options, gpu=options.launcher == "in-pod")  # else the job's pods
        if options.checkpoint_pvc:
            for task in (checked, trained):
                kubernetes.mount_pvc(task, pvc_name=options.checkpoint_pvc,
                                     mount_path=CHECKPOINT_MOUNT)
        if options.launcher != "in-pod":
            _launch_as_job(trained, options)
        return _after_training(trained, split, options, compress=compress,
                               accuracy_budget=accuracy_budget, deploy=deploy,
                               deploy_name=deploy_name, namespace=namespace).outputs["Output"]

    return dsl.pipeline(name=PIPELINE_NAME, description=DESCRIPTION,
                        pipeline_config=_pipeline_config(options))(
        _with_parameters(automl, finetune=finetune))


def _with_parameters(func: Callable[..., Any], *, finetune: bool) -> Callable[..., Any]:
    """`func` with the run parameters of this variant: without FINETUNE_PARAMETERS (they keep
    their Python defaults), or with `parent_model_uri` required (no default, listed first).

    kfp reads the signature and calls the function with one channel per parameter,
    positionally (kfp/dsl/graph_component.py): the wrapper maps them back to names.
    """
    signature = inspect.signature(func)
    params = [p for name, p in signature.parameters.items()
              if finetune or name not in FINETUNE_PARAMETERS]
    if finetune:
        uri = signature.parameters["parent_model_uri"].replace(default=inspect.Parameter.empty)
        params = [uri] + [p for p in params if p.name != "parent_model_uri"]
    names = [p.name for p in params]

    def pipeline(*args: Any) -> Any:
        return func(**dict(zip(names, args, strict=True)))

    pipeline.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    pipeline.__name__, pipeline.__doc__ = func.__name__, func.__doc__
    return pipeline


#: The pipeline with the default compile options (= the checked-in pipelines/automl.yaml).
automl = build_pipeline()
