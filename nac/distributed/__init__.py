"""Elastic data-parallel training: `nac.training` on several workers that may come and go.

PyTorch's engines do the distributed work: torchrun's elastic agent restarts the worker group
when a member dies or joins, the c10d rendezvous decides the membership, and DDP (gloo on CPU,
NCCL on GPU) averages gradients. This package only makes one training run *world-size
invariant* so a restarted group can resume a checkpoint written by a group of another size:

    torchrun --nnodes=1:2 --nproc-per-node=1 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST:29400 --rdzv-id=job -m nac.distributed worker --data ... --out ...

- `ddp.train_ddp`: the training loop under DDP (module `nac.distributed.ddp`).
- `launch`: torchrun command lines (local nodes, Kubernetes `PET_*` environment).
- `python -m nac.distributed worker|demo`: the worker entrypoint and the local elastic demo.

Rules (docs/distributed.md): `batch_size` is the *global* batch and `lr` is the learning rate of
that global batch; both stay fixed when the world size changes, so the schedule and the
trajectory do not depend on how many workers there are. Each step's global batch is split into
`micro_batches` equal micro-batches (each worker runs `micro_batches / world_size` of them), so
every world size that divides `micro_batches` is allowed.
"""

from __future__ import annotations

from nac.distributed.ddp import ElasticConfig, World, train_ddp, world_from_env

__all__ = ["ElasticConfig", "World", "train_ddp", "world_from_env"]
