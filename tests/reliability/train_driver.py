"""Subprocess driver for the training fault tests: `nac.training.train` on a tiny digits net.

    python train_driver.py --checkpoint-dir DIR --epochs 6 --seed 1

Prints `epoch=<n>` after every epoch (after its checkpoint is written) and, when training
ends, `resumed_from=<epoch or none>` and `weights=<sha256 of the state_dict>`.
With RELIABILITY_KILL_IN_SAVE=<k> the k-th checkpoint write of this process dies by SIGKILL
halfway through writing its bytes: the worst moment for a non-atomic writer.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.faults import weights_hash  # noqa: E402

#: The tiny architecture every training fault test uses (2 stages, 1 cell each, 8 channels).
TINY = {"stages": 2, "layers_per_stage": (1, 1), "stem_channels": 8}


def tiny_spec(shape: tuple[int, int, int] = (1, 8, 8), classes: int = 10):  # noqa: ANN201
    from nac.spec import initial_envelopenet

    return initial_envelopenet(shape, classes, **TINY)


def digits_splits():  # noqa: ANN201
    from nac.data import ingest, split_dataset

    return split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)


def _die_in_save(nth: int) -> None:
    import torch

    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] != nth:
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        print(f"dying-in-save={calls['n']}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from nac.training import TrainConfig, train

    if os.environ.get("RELIABILITY_KILL_IN_SAVE"):
        _die_in_save(int(os.environ["RELIABILITY_KILL_IN_SAVE"]))
    splits = digits_splits()
    config = TrainConfig(epochs=args.epochs, batch_size=64, seed=args.seed, threads=1,
                         stats=True, checkpoint_dir=args.checkpoint_dir)
    result = train(tiny_spec(), splits.train, splits.val, config,
                   on_epoch=lambda r: print(f"epoch={r.epoch}", flush=True))
    print(f"resumed_from={result.resumed_from}", flush=True)
    print(f"weights={weights_hash(result.model.state_dict())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
