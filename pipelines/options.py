"""Compile options of the AutoML pipeline: image, accelerator, resources, retries, checkpoints.

Why compile options and not pipeline parameters: they decide what the Kubernetes scheduler is
asked for (an accelerator that does not exist keeps a pod Pending forever), so they are fixed
when the YAML is produced for one cluster: `python -m pipelines compile --image REF
--accelerator none` (pipelines/cli.py). The defaults produce the checked-in
pipelines/automl.yaml. Everything is validated here, naming the option and the fix, before
kfp sees it. No kfp import: the CLI validates before compiling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from components._image import TRAINER_IMAGE

#: Docker image reference: [registry[:port]/]path[:tag][@sha256:digest] (distribution grammar).
_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
#: Kubernetes extended resource name, e.g. nvidia.com/gpu, amd.com/gpu.
_RESOURCE = re.compile(r"^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")
_DURATION = re.compile(r"^\d+s$")
_MEMORY_UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
#: Mount of an existing checkpoint PVC (`checkpoint_pvc` option) in the train pod.
CHECKPOINT_MOUNT = "/mnt/checkpoints"
#: Where KFP mounts the run-scoped workspace (kfp dsl.constants.WORKSPACE_MOUNT_PATH).
WORKSPACE_MOUNT = "/kfp-workspace"
#: Memory the training process keeps beside the memory-backed /dev/shm.
MIN_PROCESS_MEMORY = 2**30


def memory_bytes(quantity: str) -> float:
    """A Kubernetes memory quantity (`16Gi`, `512Mi`, `2G`) in bytes."""
    m = _MEMORY.match(quantity.strip())
    if not m:
        raise ValueError(f"{quantity!r} is not a memory quantity; use e.g. 16Gi or 512Mi")
    return float(m.group(1)) * _MEMORY_UNITS[m.group(2)]


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (`4`, `0.5`, `500m`) in cores."""
    m = _CPU.match(quantity.strip())
    if not m:
        raise ValueError(f"{quantity!r} is not a CPU quantity; use e.g. 4, 0.5 or 500m")
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def check_image(ref: str) -> str:
    """`ref` if it is a pullable, pinned image reference (a tag other than latest, or a digest)."""
    m = _IMAGE.match(ref.strip())
    if not m:
        raise ValueError(f"--image {ref!r} is not an image reference; use "
                         "REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST")
    if not m.group("tag") and not m.group("digest"):
        raise ValueError(f"--image {ref!r} has no tag or digest (Kubernetes would pull "
                         ":latest); add :TAG or @sha256:DIGEST")
    if m.group("tag") == "latest" and not m.group("digest"):
        raise ValueError(f"--image {ref!r}: `latest` is mutable and KFP caches by image name; "
                         "use a version tag or a digest")
    return ref.strip()


@dataclass(frozen=True)
class Resources:
    """CPU and memory of one step's pod; requests equal limits (predictable scheduling)."""

    cpu: str
    memory: str

    def check(self, what: str) -> None:
        for name, parse in (("cpu", cpu_cores), ("memory", memory_bytes)):
            try:
                if parse(getattr(self, name)) <= 0:
                    raise ValueError(f"{getattr(self, name)!r} must be positive")
            except ValueError as e:
                raise ValueError(f"--{what}-{name}: {e}") from None


@dataclass(frozen=True)
class PipelineOptions:
    """What `python -m pipelines compile` can change (each is a CLI flag of the same name)."""

    #: Image of every step and of Katib trial pods (make images REGISTRY=... prints it).
    image: str = TRAINER_IMAGE
    #: Accelerator resource of the training steps; "" = none (CPU-only clusters).
    accelerator: str = "nvidia.com/gpu"
    accelerator_count: int = 1
    #: Taint key tolerated by accelerator steps (NoSchedule, operator Exists); "" = none.
    toleration_key: str = "nvidia.com/gpu"
    #: nac_search, tune, train: CPU/memory (the memory includes the /dev/shm below).
    training: Resources = field(default_factory=lambda: Resources(cpu="4", memory="16Gi"))
    #: Size of the memory-backed /dev/shm of the training steps (PyTorch DataLoader, KFP #9893).
    shm_size: str = "2Gi"
    #: preflight, ingest, preprocess, evaluate.
    light: Resources = field(default_factory=lambda: Resources(cpu="1", memory="4Gi"))
    #: Retries of the training steps (train resumes from its checkpoint; search and tune
    #: re-attach to their Katib Experiment or recompute deterministically).
    retries: int = 2
    retry_backoff: str = "60s"
    #: Pod deadline (activeDeadlineSeconds) of the training steps and of the light steps.
    training_timeout_s: int = 86400
    light_timeout_s: int = 3600
    #: Size of the run-scoped KFP workspace PVC holding the checkpoints; "" = no workspace.
    workspace_size: str = "10Gi"
    #: An existing PVC for the checkpoints instead of the workspace; "" = none.
    checkpoint_pvc: str = ""
    #: Where train trains: `in-pod` (its own pod) or `pytorchjob` (an elastic PyTorchJob it
    #: creates and waits for; the weights come back over checkpoint_pvc, which must then be a
    #: ReadWriteMany PVC: components/_impl/train_job.py, docs/distributed.md).
    launcher: str = "in-pod"
    #: Workers of the final training (in-pod: torchrun processes; pytorchjob: maxReplicas)
    #: and the PyTorchJob's minReplicas.
    train_workers: int = 1
    min_train_workers: int = 1

    def __post_init__(self) -> None:
        check_image(self.image)
        if self.accelerator and not _RESOURCE.match(self.accelerator):
            raise ValueError(f"--accelerator {self.accelerator!r} is not a resource name; use "
                             "e.g. nvidia.com/gpu, or none")
        if self.accelerator and self.accelerator_count < 1:
            raise ValueError(f"--accelerator-count must be >= 1, got {self.accelerator_count} "
                             "(use --accelerator none for no accelerator)")
        self.training.check("training")
        self.light.check("light")
        shm = memory_bytes(self.shm_size)
        # The search/tune steps keep their /dev/shm while they only wait for Katib with the
        # light steps' memory (components/_impl/preflight.py), so both must leave room.
        for flag, memory in (("--training-memory", self.training.memory),
                             ("--light-memory", self.light.memory)):
            if memory_bytes(memory) - shm < MIN_PROCESS_MEMORY:
                raise ValueError(
                    f"--shm-size {self.shm_size} leaves under 1Gi of {flag} {memory}: a "
                    "memory-backed /dev/shm counts against the pod's memory limit; raise "
                    f"{flag} or lower --shm-size")
        if self.retries < 0:
            raise ValueError(f"--retries must be >= 0, got {self.retries}")
        if not _DURATION.match(self.retry_backoff):
            raise ValueError(f"--retry-backoff {self.retry_backoff!r}: use seconds, e.g. 60s")
        for flag, value in (("--training-timeout", self.training_timeout_s),
                            ("--light-timeout", self.light_timeout_s)):
            if value < 60:
                raise ValueError(f"{flag} must be >= 60 seconds, got {value}")
        if self.workspace_size:
            try:
                memory_bytes(self.workspace_size)
            except ValueError as e:
                raise ValueError(f"--workspace-size: {e}") from None
        if self.checkpoint_pvc and not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                                                self.checkpoint_pvc):
            raise ValueError(f"--checkpoint-pvc {self.checkpoint_pvc!r} is not a PVC name")
        if self.launcher not in ("in-pod", "pytorchjob"):
            raise ValueError(f"--launcher {self.launcher!r}: use in-pod or pytorchjob")
        if self.launcher != "in-pod" and not self.checkpoint_pvc:
            raise ValueError(f"--launcher {self.launcher} needs --checkpoint-pvc NAME: a "
                             "ReadWriteMany PVC that the train step and the job's pods both "
                             "mount (the run's workspace is ReadWriteOnce and per run)")
        if not 1 <= self.min_train_workers <= self.train_workers:
            raise ValueError(f"--min-train-workers {self.min_train_workers} / --train-workers "
                             f"{self.train_workers}: need 1 <= min <= workers")

    @property
    def checkpoint_root(self) -> str:
        """Default checkpoint directory of train: the PVC, else the workspace, else the pod."""
        if self.checkpoint_pvc:
            return CHECKPOINT_MOUNT
        return f"{WORKSPACE_MOUNT}/checkpoints" if self.workspace_size else ""

    @property
    def katib_wait_s(self) -> int:
        """How long search/tune wait for an Experiment: inside their pod deadline."""
        return max(60, self.training_timeout_s - 600)
