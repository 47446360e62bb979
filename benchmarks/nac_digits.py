"""NAC on builtin:digits: constructed network vs the initial EnvelopeNet vs random networks.

Data: `builtin:digits` (1x8x8, 1797 rows), stratified split 70/10/20 (seed 0; augmentation:
random shift of 1 px on train). Per seed: a NAC search with `NACSettings.small_images()` on
train/val, then three networks trained with the same final budget on train+val and scored on
the 20% test split: the constructed network, the initial EnvelopeNet, and a random network with
the constructed one's depth and per-stage branch counts (the reference's `random` algorithm).
Finally the statistics overhead: the same training with and without statistics collection
(best of 3 alternating repeats each).

    .venv/bin/python benchmarks/nac_digits.py [--quick] [--seeds 3] [--final-epochs 40]

Prints a table and ends with one line `RESULT {json}` (errors as fractions, seconds of wall
time; timings are inflated when the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

import numpy as np

from nac.baselines import random_network
from nac.construct import NACSettings, construct
from nac.data import Dataset, ingest, split_dataset
from nac.model import build_model, count_parameters
from nac.spec import ArchitectureSpec
from nac.training import TrainConfig, evaluate, train


def _merge(a: Dataset, b: Dataset) -> Dataset:
    """train + val for the final runs (same normalisation and augmentation as train)."""
    return Dataset(x=np.concatenate([a.x, b.x]), y=np.concatenate([a.y, b.y]), classes=a.classes,
                   source=a.source, split="train", normalization=a.normalization,
                   augmentation=a.augmentation)


def _final(spec: ArchitectureSpec, fit: Dataset, test: Dataset, config: TrainConfig
           ) -> dict[str, float]:
    result = train(spec, fit, None, config)
    ev = evaluate(result.model, test)
    return {"error": ev.error, "parameters": result.parameters, "seconds": result.seconds}


def _overhead(spec: ArchitectureSpec, train_ds: Dataset, config: TrainConfig) -> dict[str, float]:
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        for stats in (False, True):
            r = train(spec, train_ds, None, dataclasses.replace(config, stats=stats))
            times[stats].append(r.seconds)
    off, on = min(times[False]), min(times[True])
    return {"off": off, "on": on, "ratio": on / off}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny budgets, one seed")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--final-epochs", type=int, default=40)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per run (1 is fastest for 8x8 images, see nac.training)")
    args = p.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    final_epochs = 2 if args.quick else args.final_epochs

    started = time.perf_counter()
    ds = ingest("builtin:digits")
    tr, va, te = split_dataset(ds, val_fraction=0.1, test_fraction=0.2, seed=0, augment_shift=1)
    fit = _merge(tr, va)
    print(f"digits: train {tr.rows}, val {va.rows}, test {te.rows} (final runs fit on "
          f"train+val = {fit.rows}); threads {args.threads}", flush=True)

    preset = NACSettings.small_images()
    final_config = TrainConfig(epochs=final_epochs, batch_size=32, lr=0.05, schedule="cosine",
                               weight_decay=3e-4, label_smoothing=0.1, threads=args.threads)
    rows: list[dict] = []
    search_seconds: list[float] = []
    for seed in range(seeds):
        settings = dataclasses.replace(
            preset, training=dataclasses.replace(preset.training, seed=seed * 100,
                                                 threads=args.threads))
        if args.quick:
            settings = dataclasses.replace(settings, iterations=2, training=dataclasses.replace(
                settings.training, epochs=1))

        def progress(it, seed=seed) -> None:
            print(f"  seed {seed} iteration {it.iteration}: {it.spec.describe()} "
                  f"params={it.parameters} val_acc={it.val_accuracy:.4f} "
                  f"({it.seconds:.1f}s)", flush=True)

        res = construct(tr, va, settings, progress=progress)
        search_seconds.append(res.seconds)
        print(f"seed {seed}: search {res.seconds:.1f}s -> {res.spec.describe()}", flush=True)
        config = dataclasses.replace(final_config, seed=seed)
        nets = [("nac", res.spec), ("initial", res.initial_spec),
                ("random", random_network(res.spec, seed=1000 + seed))]
        for name, spec in nets:
            out = _final(spec, fit, te, config)
            rows.append({"model": name, "seed": seed, "cells": spec.cells_per_stage(),
                         "branches": spec.branch_counts(), "describe": spec.describe(), **out})
            print(f"  {name:8s} err={out['error']:.4f} params={out['parameters']} "
                  f"({out['seconds']:.1f}s)", flush=True)

    overhead_config = TrainConfig(epochs=1 if args.quick else 2, batch_size=32, lr=0.05,
                                  threads=args.threads, seed=0)
    overhead = _overhead(preset.initial_spec(tr.shape, tr.num_classes), tr, overhead_config)

    def errors(model: str) -> list[float]:
        return [r["error"] for r in rows if r["model"] == model]

    print()
    print(f"{'model':8s} {'seed':>4s} {'cells/stage':>12s} {'branches/stage':>15s} "
          f"{'params':>8s} {'test err':>8s} {'train s':>8s}  branches per cell")
    for r in rows:
        print(f"{r['model']:8s} {r['seed']:>4d} {str(r['cells']):>12s} "
              f"{str(r['branches']):>15s} {r['parameters']:>8d} {r['error']:>8.4f} "
              f"{r['seconds']:>8.1f}  {r['describe']}")
    print()
    for model in ("nac", "initial", "random"):
        errs = errors(model)
        params = statistics.median([r["parameters"] for r in rows if r["model"] == model])
        print(f"{model:8s} median test error {statistics.median(errs):.4f} over {len(errs)} "
              f"run(s); parameters {params:.0f}")
    print(f"search seconds per seed: {', '.join(f'{s:.1f}' for s in search_seconds)} "
          f"(max {max(search_seconds):.1f}; budget 180)")
    print(f"stats overhead: {overhead['on']:.2f}s with / {overhead['off']:.2f}s without "
          f"= {overhead['ratio']:.3f} (target < 1.10)")
    print(f"total benchmark time {time.perf_counter() - started:.0f}s"
          f"{' (quick)' if args.quick else ''}")
    param_count = count_parameters(build_model(preset.initial_spec(tr.shape, tr.num_classes)))
    result = {
        "nac_test_error": statistics.median(errors("nac")),
        "initial_test_error": statistics.median(errors("initial")),
        "random_test_error_median": statistics.median(errors("random")),
        "search_seconds": max(search_seconds),
        "stats_overhead_ratio": round(overhead["ratio"], 4),
        "seeds": seeds,
        "final_epochs": final_epochs,
        "nac_parameters": statistics.median([r["parameters"] for r in rows
                                             if r["model"] == "nac"]),
        "initial_parameters": param_count,
        "quick": args.quick,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
