"""The `train` step's cluster launcher: the training as an elastic PyTorchJob, weights over a PVC.

Opt-in per task (`components.train.set_launcher`, or `python -m pipelines compile --launcher
pytorchjob --checkpoint-pvc NAME`): the task gets the environment variable `NAC_TRAIN_LAUNCHER`
(a JSON `LauncherConfig`) and a shared PVC mounted at `LauncherConfig.mount`. Without the
variable the step trains in its own pod, as before; so the default pipeline YAML is unchanged.

The contract with the job (docs/distributed.md, "The train step as a PyTorchJob"):

1. The step stages the fit set (train, or train + val), the val split and the architecture
   under `<checkpoint_dir>/<run_id>/job/` on the PVC; the job's pods mount the same claim at
   the same path, so every path in the worker's arguments means the same file in both.
2. It creates a PyTorchJob (Training Operator v1: `elasticPolicy` min..max replicas, c10d,
   maxRestarts; the image the pipeline was compiled with; Pod Security `restricted`) in its
   own namespace through `TrainingJobClient`, named after the run, so a retried step
   re-attaches to its job (409) instead of starting a second one.
3. The workers checkpoint to `<checkpoint_dir>/<run_id>/train` and rank 0 writes `model.pt`
   and `result.json` (atomically) to `job/out`. The step waits for the job's `Succeeded`
   condition, printing each new condition and the replica counts; on `Failed` or the timeout
   it deletes the job (`delete`: on-failure, the default; always; never) and fails naming the
   job and the operator's message.
4. It loads the weights from the PVC and saves the Model into its own KFP output artifact,
   which KFP's launcher then uploads (kubeflow/pipelines@2.17.0 backend/src/v2/component/
   launcher_v2.go uploadOutputArtifacts). The job never sees object-store credentials.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

#: The task environment variable carrying the launcher configuration (JSON).
LAUNCHER_ENV = "NAC_TRAIN_LAUNCHER"
LAUNCHERS = ("in-pod", "pytorchjob")
DELETE_POLICIES = ("on-failure", "always", "never")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class LauncherError(ValueError):
    """A launcher setting that cannot work; names the setting and the fix."""


@dataclass(frozen=True)
class LauncherConfig:
    """Where `train` runs its training, and what the PyTorchJob's pods get."""

    launcher: str = "in-pod"
    pvc: str = ""  # a ReadWriteMany claim in the run's namespace, mounted in step and job
    mount: str = ""  # its mount path (the same in both)
    min_workers: int = 1  # elasticPolicy.minReplicas; maxReplicas = the step's `workers`
    max_restarts: int = 3
    timeout_s: int = 86400  # wait at most this long, then delete the job (see `delete`)
    delete: str = "on-failure"
    cpu: str = "4"  # per worker pod (requests = limits)
    memory: str = "16Gi"
    accelerator: str = ""  # e.g. nvidia.com/gpu; "" = CPU workers
    accelerator_count: int = 0
    toleration_key: str = ""
    service_account: str = "nac-training"  # manifests/training/rbac.yaml
    poll_s: float = 10.0
    result_wait_s: float = 120.0  # Succeeded can precede rank 0's last write (see wait_result)

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            hint = (" (a TrainJob cannot mount the shared PVC the same way on every Trainer "
                    "release: docs/distributed.md)") if self.launcher == "trainjob" else ""
            raise LauncherError(f"launcher: {self.launcher!r} is not one of "
                                f"{', '.join(LAUNCHERS)}{hint}")
        if self.delete not in DELETE_POLICIES:
            raise LauncherError(f"launcher.delete: {self.delete!r}; use one of "
                                f"{', '.join(DELETE_POLICIES)}")
        for name in ("min_workers", "timeout_s"):
            if getattr(self, name) < 1:
                raise LauncherError(f"launcher.{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_restarts < 0 or self.accelerator_count < 0 or self.poll_s <= 0:
            raise LauncherError("launcher: max_restarts >= 0, accelerator_count >= 0 and "
                                "poll_s > 0 required")
        if self.launcher != "in-pod":
            if not _NAME.match(self.pvc):
                raise LauncherError(f"launcher.pvc: {self.pvc!r} is not a PVC name; the job's "
                                    "pods and this step share the checkpoints and the weights "
                                    "through a ReadWriteMany PVC (compile --checkpoint-pvc)")
            if not self.mount.startswith("/"):
                raise LauncherError(f"launcher.mount: {self.mount!r} must be an absolute path")

    def to_env(self) -> str:
        """The value of NAC_TRAIN_LAUNCHER (compact JSON, keys sorted: stable compiled YAML)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LauncherConfig:
        """The task's configuration; the in-pod default when NAC_TRAIN_LAUNCHER is unset."""
        raw = (os.environ if environ is None else environ).get(LAUNCHER_ENV, "").strip()
        if not raw:
            return cls()
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise LauncherError(f"{LAUNCHER_ENV}: not JSON ({e}); set it with "
                                "components.train.set_launcher") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(doc, dict) or set(doc) - known:
            extra = sorted(set(doc) - known) if isinstance(doc, dict) else doc
            raise LauncherError(f"{LAUNCHER_ENV}: unknown settings {extra}; known: "
                                f"{', '.join(sorted(known))}")
        return cls(**doc)


def job_image(environ: Mapping[str, str] | None = None) -> str:
    """The image the pipeline was compiled with (set on every task), else the trainer image."""
    from components._image import TRAINER_IMAGE
    from components._impl.runtime import PIPELINE_IMAGE_ENV

    return (os.environ if environ is None else environ).get(PIPELINE_IMAGE_ENV) or TRAINER_IMAGE


def job_name(run_id: str, checkpoint_dir: Path) -> str:
    """A name unique to the run: a retried step finds its own job, not another run's.

    At most 50 characters: the operator names each pod's Service `<job>-worker-<index>`, a
    DNS-1035 label of <= 63 (training-operator v1.9.0 pkg/core/utils.go GenGeneralName).
    A KFP run id (a UUID, 36 characters) is kept readable.
    """
    safe = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    if not safe or len(safe) > 40:
        safe = hashlib.sha256((run_id or str(checkpoint_dir)).encode()).hexdigest()[:16]
    return f"nac-train-{safe}"


def elastic_micro_batches(batch_size: int, min_workers: int, max_workers: int) -> int:
    """Micro-batches every world size in min..max divides (nac.distributed.ddp's rule)."""
    if not 1 <= min_workers <= max_workers:
        raise LauncherError(f"launcher.min_workers: need 1 <= min_workers <= workers, got "
                            f"{min_workers} and workers={max_workers}")
    m = math.lcm(*range(min_workers, max_workers + 1))
    if batch_size % m:
        raise LauncherError(
            f"batch_size: the global batch {batch_size} must be a multiple of {m} so that "
            f"every group of {min_workers}..{max_workers} workers splits it evenly; tune "
            f"batch_size in multiples of {m}, or narrow min_workers..workers")
    return m


def describe(obj: Mapping[str, Any]) -> str:
    """One status line: the True conditions (type: message) and the replica counts."""
    status = obj.get("status") or {}
    conds = [f"{c.get('type')}: {c.get('message') or c.get('reason') or ''}".rstrip(": ")
             for c in status.get("conditions") or [] if c.get("status") == "True"]
    replicas = [f"{rtype} active={r.get('active', 0)} succeeded={r.get('succeeded', 0)} "
                f"failed={r.get('failed', 0)}"
                for rtype, r in sorted((status.get("replicaStatuses") or {}).items())]
    return "; ".join(conds + replicas) or "no status yet"


def wait_result(out: Path, timeout: float, *, poll: float = 1.0) -> dict[str, Any]:
    """rank 0's result.json. For an elastic job the operator reports Succeeded as soon as any
    worker pod completed (training-operator v1.9.0 pytorchjob_controller.go
    updateGeneralJobStatus), which can precede rank 0's last write by seconds."""
    deadline = time.monotonic() + timeout
    while not (out / "result.json").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the job succeeded but wrote no {out / 'result.json'} within "
                               f"{timeout:.0f} s; is the PVC mounted at the same path in the "
                               "job's pods (launcher.mount)?")
        time.sleep(poll)
    return json.loads((out / "result.json").read_text())


def run_job(spec: Any, fit_ds: Any, val_ds: Any, config: Any, *, workers: int,
            launch: LauncherConfig, ckpt: Path, run_id: str, image: str,
            client: Any = None, log: Callable[[str], None] = print) -> Any:
    """Train `spec` as an elastic PyTorchJob of `launch.min_workers..workers` pods."""
    from katib.backends.kubernetes import KubernetesBackendConfig
    from katib.backends.kubernetes.training_jobs import (
        ElasticTrainingJob,
        TrainingJobClient,
        TrainingJobFailedError,
        pytorchjob,
    )
    from nac.atomic import write_text_atomic
    from nac.data import write_dataset
    from nac.distributed.auto import load_result, worker_args

    mount = Path(launch.mount)
    if mount != ckpt and mount not in ckpt.parents:
        raise LauncherError(f"checkpoint_dir: {ckpt} is not on the PVC mounted at {mount}, so "
                            "the job's pods could not see it; pass a checkpoint_dir under "
                            f"{mount} (the pipeline's checkpoint_root default)")
    micro = elastic_micro_batches(config.batch_size, launch.min_workers, workers)
    stage = ckpt.parent / "job"
    write_dataset(fit_ds, stage / "train")
    write_dataset(val_ds, stage / "val")
    spec_path = stage / "architecture.json"
    write_text_atomic(spec_path, json.dumps(spec.to_json()))
    args = worker_args(config, train_dir=stage / "train", val_dir=stage / "val",
                       spec_path=spec_path, out=stage / "out", micro_batches=micro)
    client = client or TrainingJobClient(KubernetesBackendConfig(polling_interval=launch.poll_s))
    name = job_name(run_id, ckpt)
    body = pytorchjob(ElasticTrainingJob(
        name=name, image=image, args=args, namespace=client.namespace,
        min_workers=launch.min_workers, max_workers=workers, max_restarts=launch.max_restarts,
        cpu=launch.cpu, memory=launch.memory, gpus=launch.accelerator_count if
        launch.accelerator else 0, accelerator=launch.accelerator or "nvidia.com/gpu",
        toleration_key=launch.toleration_key, checkpoint_pvc=launch.pvc,
        checkpoint_mount=launch.mount, service_account=launch.service_account,
        labels={"app.kubernetes.io/component": "train"}))
    where = f"PyTorchJob {client.namespace}/{name}"
    started = time.perf_counter()
    client.create(body)
    log(f"train: {where}: {launch.min_workers}..{workers} workers, image {image}, "
        f"checkpoints in {ckpt} on PVC {launch.pvc}")
    last = [""]

    def on_status(obj: dict[str, Any]) -> None:
        line = describe(obj)
        if line != last[0]:
            last[0] = line
            log(f"train: {where}: {line}")

    try:
        client.wait("PyTorchJob", name, timeout=launch.timeout_s, on_status=on_status)
    except (TrainingJobFailedError, TimeoutError) as e:
        gone = launch.delete != "never"
        if gone:
            client.delete("PyTorchJob", name)
        kept = ("deleted" if gone else "kept for inspection") + (
            f"; its pods' logs: kubectl logs -n {client.namespace} "
            f"-l training.kubeflow.org/job-name={name}")
        raise type(e)(f"{e} (job {kept})") from None
    doc = wait_result(stage / "out", launch.result_wait_s)
    if launch.delete == "always":
        client.delete("PyTorchJob", name)
    log(f"train: {where} succeeded: world size {doc['world_size']}, "
        f"{doc['global_step']} steps, weights sha256 {doc['weights_sha256'][:12]}")
    return load_result(spec, stage / "out", config, doc,
                       seconds=time.perf_counter() - started, workers=workers)
