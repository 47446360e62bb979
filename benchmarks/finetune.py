"""Fine-tuning measured: a new task with few labels, from scratch vs from a parent model.

The task split of transfer-learning benchmarks: a parent network is trained on the source
classes (0-4) of a built-in data set (one parent, every source row: the "earlier run"); the
target task is the other classes (5-9) with only `--shots` labelled rows per class and
`--test-per-class` other target rows per class as the test set. For each of 3 seeds (the
labelled rows, the test rows and the training seed), side by side in one run, on the same
architecture (the `small_images` initial EnvelopeNet, `--stem-channels` wide) and recipe (SGD
+ Nesterov, cosine, batch 32, lr 0.05):

- scratch, `--epochs` epochs (its final test accuracy is the target), and scratch with
  `--short` epochs (the equal-epochs comparison; its own full cosine schedule);
- freeze (head only, at 10x lr, frozen part in inference mode), two_stage (nac.finetune's
  defaults: a fifth of the epochs head only, then every cell at lr/2 with BN statistics
  updating; `--head-epochs`, `--unfreeze-cells`, `--stage2-lr-factor` override) and full,
  `--short` epochs each, from the parent (head re-initialised: other classes).

Epochs to target = first epoch whose test accuracy >= scratch's final accuracy (a run that
never gets there scores its epochs + 1). The parent's epochs are not counted: the parent is
the earlier run a user starts from. Gain at equal epochs = two_stage - scratch after `--short`
epochs, in accuracy points. Medians over seeds.

Choices that make the harder set (`builtin:animal-mnist`, 28x28) fit ~25 minutes on the shared
2-vCPU VM (28x28 took hours): images are average-pooled `--downsample`x (default 2: 14x14; a
benchmark-only step, the ingest/preprocess path has no resize for built-in data), the network
is the 16-channel small-images EnvelopeNet (~75k parameters), the parent trains
`--parent-epochs` (default 4) epochs on every source row, scratch gets `--epochs` 60 (100
labelled rows are 3 SGD steps per epoch; at 30 it was still near chance).

    python benchmarks/finetune.py [--source builtin:animal-mnist] [--shots 20] [--epochs 60]

Last line: RESULT {"scratch_epochs_to_target", "freeze_epochs_to_target",
"twostage_epochs_to_target", "acc_gain_equal_epochs", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nac.construct import NACSettings
from nac.data import Dataset, fit_normalization
from nac.data.ingest import ingest
from nac.data.readers.builtin import BUILTIN_DATASETS
from nac.export import save_model
from nac.finetune import FinetuneConfig, child_spec, finetune, load_parent
from nac.training import TrainConfig, train

SEEDS = (0, 1, 2)
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


def _default_source() -> str:
    """The harder built-in set when this release ships one, else digits."""
    for name in ("animal-mnist", "animal_mnist"):
        if name in BUILTIN_DATASETS:
            return f"builtin:{name}"
    return "builtin:digits"


def _subset(ds: Dataset, idx: np.ndarray, classes: tuple[int, ...], split: str,
            norm: object = None) -> Dataset:
    remap = {c: i for i, c in enumerate(classes)}
    y = np.array([remap[int(v)] for v in ds.y[idx]], dtype=np.int64)
    out = Dataset(x=ds.x[idx], y=y, classes=[ds.classes[c] for c in classes], source=ds.source,
                  split=split)
    out.normalization = norm if norm is not None else fit_normalization(out)
    return out


def _tasks(ds: Dataset, shots: int, seed: int, test_per_class: int
           ) -> tuple[Dataset, Dataset, Dataset]:
    rng = np.random.default_rng(seed)
    src = np.flatnonzero(np.isin(ds.y, SOURCE_CLASSES))
    few, rest = [], []
    for c in TARGET_CLASSES:
        rows = rng.permutation(np.flatnonzero(ds.y == c))
        few.extend(rows[:shots])
        rest.extend(rows[shots:shots + test_per_class])
    source = _subset(ds, src, SOURCE_CLASSES, "train")
    target = _subset(ds, np.array(few), TARGET_CLASSES, "train")
    test = _subset(ds, np.array(rest), TARGET_CLASSES, "test", target.normalization)
    return source, target, test


def downsample(ds: Dataset, factor: int) -> Dataset:
    """`ds` with its images average-pooled `factor` x `factor` (H and W must divide)."""
    if factor == 1:
        return ds
    n, c, h, w = ds.x.shape
    if h % factor or w % factor:
        raise SystemExit(f"--downsample {factor}: {h}x{w} images do not divide; pick a divisor")
    x = ds.x.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))
    return Dataset(x=x.astype(np.float32), y=ds.y, classes=ds.classes,
                   source=f"{ds.source}@{h // factor}x{w // factor}")


def _to_target(curve: list[float], target: float) -> int:
    for i, acc in enumerate(curve, start=1):
        if acc >= target - 1e-9:
            return i
    return len(curve) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", default=_default_source())
    ap.add_argument("--shots", type=int, default=20, help="labelled target rows per class")
    ap.add_argument("--epochs", type=int, default=60, help="scratch epochs (sets the target)")
    ap.add_argument("--short", type=int, default=10, help="fine-tuning / equal-epochs budget")
    ap.add_argument("--parent-epochs", type=int, default=4)
    ap.add_argument("--downsample", type=int, default=0, help="average-pool images by this "
                    "factor (default: 2 for images over 16 pixels wide, else 1)")
    ap.add_argument("--parent", default="", help="a parent nac-model trained on the source "
                    "classes: reused when the directory exists, else trained here and saved "
                    "there (default: trained here, in a temporary directory)")
    ap.add_argument("--long-finetune", action="store_true",
                    help="also run freeze/two_stage for --epochs epochs, so epochs to target "
                         "is measured beyond --short (else a miss scores --short + 1)")
    ap.add_argument("--stem-channels", type=int, default=16, help="network width (stem)")
    ap.add_argument("--test-per-class", type=int, default=50, help="target test rows per class")
    defaults = FinetuneConfig()
    ap.add_argument("--head-epochs", type=int, default=None, help="two_stage: head-only epochs "
                    "(default: nac.finetune's, a fifth)")
    ap.add_argument("--unfreeze-cells", type=int, default=defaults.unfreeze_cells,
                    help="two_stage: top cells trained (default: every cell)")
    ap.add_argument("--stage2-lr-factor", type=float, default=defaults.stage2_lr_factor)
    args = ap.parse_args()
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    ds = ingest(args.source)
    factor = args.downsample or (2 if ds.x.shape[-1] > 16 else 1)
    ds = downsample(ds, factor)
    settings = NACSettings.small_images(stem_channels=args.stem_channels)
    two_stage = FinetuneConfig(mode="two_stage", head_epochs=args.head_epochs,
                               unfreeze_cells=args.unfreeze_cells,
                               stage2_lr_factor=args.stage2_lr_factor)
    recipe = dict(batch_size=32, lr=0.05, schedule="cosine", threads=1)
    print(f"data {args.source}: {ds.rows} rows {list(ds.x.shape[1:])}; source classes "
          f"{SOURCE_CLASSES}, target {TARGET_CLASSES} with {args.shots} labels/class; "
          "2-vCPU VM, shared")
    per_seed = []
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        # One parent (the "earlier pipeline run"), trained on every source-class row.
        source, _, _ = _tasks(ds, args.shots, 0, args.test_per_class)
        spec = settings.initial_spec(tuple(ds.x.shape[1:]), len(SOURCE_CLASSES))
        t0 = time.perf_counter()
        reused = bool(args.parent) and Path(args.parent).is_dir()
        if reused:
            parent_dir = Path(args.parent)
        else:
            parent_run = train(spec, source, None, TrainConfig(epochs=args.parent_epochs,
                                                               seed=0, **recipe))
            parent_dir = save_model(Path(args.parent or Path(tmp) / "parent"), parent_run.model,
                                    spec, source.classes, normalization=source.normalization,
                                    hyperparameters={"data_source": ds.source})
        parent = load_parent(parent_dir)
        child = child_spec(parent, len(TARGET_CLASSES), tuple(ds.x.shape[1:]))
        print(f"parent: {parent_dir} (reused)" if reused else
              f"parent: {source.rows} rows, {args.parent_epochs} epochs, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        for seed in SEEDS:
            _, target, test = _tasks(ds, args.shots, seed, args.test_per_class)

            def curve(result: object) -> list[float]:
                return [float(h.val_accuracy) for h in result.history]

            scratch = train(child, target, test, TrainConfig(epochs=args.epochs, seed=seed,
                                                             **recipe))
            scratch_short = train(child, target, test, TrainConfig(
                epochs=args.short, seed=seed, val_every=args.short, **recipe))
            short = TrainConfig(epochs=args.short, seed=seed, **recipe)
            frozen = finetune(parent, child, target, test, short, FinetuneConfig(mode="freeze"),
                              classes=target.classes)
            two = finetune(parent, child, target, test, short, two_stage,
                           classes=target.classes)
            full = finetune(parent, child, target, test, short, FinetuneConfig(mode="full"),
                            classes=target.classes)
            frozen_curve, two_curve = curve(frozen), curve(two)
            if args.long_finetune:
                long = TrainConfig(epochs=args.epochs, seed=seed, **recipe)
                frozen_curve = curve(finetune(parent, child, target, test, long,
                                              FinetuneConfig(mode="freeze"),
                                              classes=target.classes))
                two_curve = curve(finetune(parent, child, target, test, long, two_stage,
                                           classes=target.classes))
            goal = curve(scratch)[-1]
            rec = {"seed": seed, "target": goal,
                   "scratch": _to_target(curve(scratch), goal),
                   "freeze": _to_target(frozen_curve, goal),
                   "two_stage": _to_target(two_curve, goal),
                   "full": _to_target(curve(full), goal),
                   "scratch_short": float(scratch_short.val_accuracy),
                   "freeze_short": curve(frozen)[-1], "two_stage_short": curve(two)[-1],
                   "full_short": curve(full)[-1]}
            per_seed.append(rec)
            print(f"seed {seed}: scratch {args.epochs} ep {goal:.4f} (reached at epoch "
                  f"{rec['scratch']}); at {args.short} ep: scratch {rec['scratch_short']:.4f}, "
                  f"freeze {rec['freeze_short']:.4f} (target at {rec['freeze']}), two_stage "
                  f"{rec['two_stage_short']:.4f} (target at {rec['two_stage']}), full "
                  f"{rec['full_short']:.4f} (target at {rec['full']}); curves scratch "
                  f"{[round(a, 3) for a in curve(scratch)]} two_stage "
                  f"{[round(a, 3) for a in two_curve]}", flush=True)
    med = {k: statistics.median(r[k] for r in per_seed)
           for k in ("scratch", "freeze", "two_stage", "full")}
    gain = statistics.median(100 * (r["two_stage_short"] - r["scratch_short"]) for r in per_seed)
    gain_freeze, gain_full = (statistics.median(100 * (r[f"{k}_short"] - r["scratch_short"])
                                                for r in per_seed) for k in ("freeze", "full"))
    print("\n| method | epochs to scratch's final acc (median) | acc at equal epochs (median) |")
    print("|---|---|---|")
    for name, key in (("scratch", "scratch"), ("freeze", "freeze"), ("two_stage", "two_stage"),
                      ("full", "full")):
        acc = statistics.median(r[f"{key}_short"] for r in per_seed)
        print(f"| {name} | {med[key]} | {acc:.4f} |")
    result = {
        "scratch_epochs_to_target": med["scratch"], "freeze_epochs_to_target": med["freeze"],
        "twostage_epochs_to_target": med["two_stage"], "full_epochs_to_target": med["full"],
        "epochs_ratio_twostage": round(med["scratch"] / med["two_stage"], 2),
        "acc_gain_equal_epochs": round(gain, 2), "freeze_acc_gain_equal_epochs":
            round(gain_freeze, 2), "full_acc_gain_equal_epochs": round(gain_full, 2),
        "equal_epochs": args.short, "scratch_epochs": args.epochs,
        "scratch_final_acc": round(statistics.median(r["target"] for r in per_seed), 4),
        "data": args.source, "image": list(ds.x.shape[1:]), "downsample": factor,
        "parent_reused": reused, "parent_data_source": parent.record()["data_source"],
        "shots": args.shots, "seeds": len(SEEDS),
        "long_finetune": args.long_finetune,
        "test_rows_per_class": args.test_per_class, "two_stage": {
            "head_epochs": args.head_epochs or max(1, args.short // 5),
            "unfreeze_cells": args.unfreeze_cells or "all",
            "stage2_lr_factor": args.stage2_lr_factor},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(v, 1) for v in (load_start, os.getloadavg()[0])]}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
