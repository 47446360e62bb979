"""Shared body of the NAC comparison benchmarks (nac_cifar10.py, nac_animals.py).

Per seed, in one worker process each (core-seconds are that process's CPU time, so they do not
depend on how busy the machine is): a NAC search from scratch (AMLA's schedule), a NAC search
with weight inheritance (nac.inherit), then six networks trained with one final recipe on the
same images and scored on the same test images:

    nac          the network the scratch search built
    nac_inherit  the network the inheriting search built
    initial      the initial EnvelopeNet
    random       random ops and placement at nac's depth and per-stage branch counts
    random_eq    another random network of nac's depth, widths scaled to nac's parameters
    handdesigned a VGG-style CNN (3x3 conv-BN-ReLU cells), widths scaled to nac's parameters

Prints a table per arm (median and min..max over seeds of test error, parameters, MACs, CPU
latency per image, training core-seconds), writes a Pareto report (nac.pareto) and the per-run
rows as JSON, and ends with `RESULT {json}`.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from nac.data import Dataset
from nac.data.augment import augmentation_settings
from nac.data.preprocess import fit_normalization

ARMS = ("nac", "nac_inherit", "initial", "random", "random_eq", "handdesigned")


def add_arm_arguments(p: Any, *, size: int, sizes: tuple[int, ...], out: str,
                      test_per_class: int) -> None:
    """The options every comparison benchmark shares (sizing, seeds, recipe, output).

    Defaults: the size measured in docs/nac.md (2,000 training images, 15 final epochs, 4-epoch
    truncated search runs, 2-epoch inheriting ones, batch 64, a 16-channel stem): about 3,900
    core-seconds, so about 33 minutes on a quiet 2-vCPU machine with 3 worker processes."""
    p.add_argument("--full", action="store_true", help="GPU scale (see the module docstring)")
    p.add_argument("--train-per-class", type=int, default=200)
    p.add_argument("--test-per-class", type=int, default=test_per_class)
    p.add_argument("--size", type=int, default=size, choices=sizes)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=3, help="worker processes (one seed each)")
    p.add_argument("--final-epochs", type=int, default=15)
    p.add_argument("--search-epochs", type=int, default=4)
    p.add_argument("--inherit-epochs", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--stem", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=out)


def stratified(y: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Up to `per_class` row indices of every class (all when None), shuffled with `seed`."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        picked.append(idx if per_class is None else idx[:per_class])
    out = np.concatenate(picked)
    rng.shuffle(out)
    return out


def downscale(ds: Dataset, factor: int) -> Dataset:
    """Average-pool by `factor` (an exact box-filter resize; 32x32 -> 16x16 for factor 2)."""
    if factor == 1:
        return ds
    n, c, h, w = ds.x.shape
    x = ds.x[:, :, :h - h % factor, :w - w % factor]
    x = x.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))
    return dataclasses.replace(ds, x=x.astype(np.float32))


def prepare(pool: Dataset, test: Dataset, *, val_fraction: float, shift: int, hflip: bool
            ) -> dict[str, Dataset]:
    """search train / search val / final fit (= both) / test, normalised on search train."""
    order = stratified(pool.y, None, 1)
    n_val = {c: int(round(val_fraction * int((pool.y == c).sum()))) for c in np.unique(pool.y)}
    taken: dict[int, int] = {}
    val_idx, tr_idx = [], []
    for i in order:
        c = int(pool.y[i])
        if taken.get(c, 0) < n_val[c]:
            val_idx.append(i)
            taken[c] = taken.get(c, 0) + 1
        else:
            tr_idx.append(i)
    aug = augmentation_settings(pool.shape, shift, hflip)
    search_train = pool.subset(np.array(tr_idx), split="train")
    norm = fit_normalization(search_train)
    search_train = search_train.with_normalization(norm).with_augmentation(aug)
    search_val = pool.subset(np.array(val_idx), split="val").with_normalization(norm)
    fit = pool.subset(order, split="train").with_normalization(norm).with_augmentation(aug)
    return {"search_train": search_train, "search_val": search_val, "fit": fit,
            "test": dataclasses.replace(test, split="test", normalization=norm)}


def _cpu() -> float:
    return time.process_time()


def run_seed(seed: int, data: dict[str, Dataset], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Both searches and the six final trainings of one seed (runs in a worker process)."""
    import torch

    from nac.baselines import handdesigned_cnn, match_parameters, random_network
    from nac.construct import NACSettings, construct
    from nac.cost import cpu_latency_ms, spec_cost
    from nac.training import TrainConfig, evaluate, train

    torch.set_num_threads(cfg["threads"])
    tr, va, fit, te = data["search_train"], data["search_val"], data["fit"], data["test"]
    settings = NACSettings(**cfg["settings"])
    settings = dataclasses.replace(settings, training=dataclasses.replace(
        TrainConfig(**cfg["search_training"]), seed=seed * 100, threads=cfg["threads"]))
    # Warm-up (untimed): the first training in a process pays one-off costs (lazy imports,
    # oneDNN kernel generation) that would otherwise be charged to whichever arm runs first.
    train(settings.initial_spec(tuple(tr.shape), tr.num_classes),
          tr.subset(np.arange(min(100, tr.rows))), None,
          dataclasses.replace(settings.training, epochs=1, stats=True))
    rows: list[dict[str, Any]] = []
    searches = {}
    for arm, inherit in (("nac", False), ("nac_inherit", True)):
        s = dataclasses.replace(settings, inherit_weights=inherit)
        c0, w0 = _cpu(), time.perf_counter()

        def progress(it, arm=arm) -> None:
            print(f"[seed {seed}] {arm} iteration {it.iteration}: {it.spec.describe()} "
                  f"params={it.parameters} epochs={it.epochs} val_acc={it.val_accuracy:.4f} "
                  f"inherited={it.inherited_fraction} ({it.seconds:.0f}s)", flush=True)

        res = construct(tr, va, s, progress=progress)
        searches[arm] = res
        rows.append({"kind": "search", "arm": arm, "seed": seed,
                     "core_seconds": _cpu() - c0, "wall_seconds": time.perf_counter() - w0,
                     "sample_epochs": sum(it.epochs for it in res.trace) * tr.rows,
                     "trace": [{"iteration": it.iteration, "parameters": it.parameters,
                                "val_error": None if it.val_accuracy is None
                                else 1 - it.val_accuracy, "epochs": it.epochs,
                                "describe": it.spec.describe(),
                                "inherited_fraction": it.inherited_fraction}
                               for it in res.trace]})
    nac_spec = searches["nac"].spec
    nac_params = spec_cost(nac_spec)[0]
    shape, k = tuple(fit.shape), fit.num_classes
    specs = {
        "nac": nac_spec,
        "nac_inherit": searches["nac_inherit"].spec,
        "initial": searches["nac"].initial_spec,
        "random": random_network(nac_spec, seed=1000 + seed),
        "random_eq": match_parameters(random_network(nac_spec, seed=2000 + seed), nac_params),
        "handdesigned": match_parameters(handdesigned_cnn(shape, k), nac_params),
    }
    final = dataclasses.replace(TrainConfig(**cfg["final_training"]), seed=seed,
                                threads=cfg["threads"])
    for arm, spec in specs.items():
        c0, w0 = _cpu(), time.perf_counter()
        result = train(spec, fit, None, final)
        core = _cpu() - c0
        ev = evaluate(result.model, te)
        params, macs = spec_cost(spec)
        latency = cpu_latency_ms(result.model, repeats=cfg["latency_repeats"])
        rows.append({"kind": "final", "arm": arm, "seed": seed, "error": ev.error,
                     "parameters": params, "macs": macs, "latency_ms": latency,
                     "core_seconds": core, "wall_seconds": time.perf_counter() - w0,
                     "sample_epochs": final.epochs * fit.rows, "describe": spec.describe(),
                     "cells": spec.cells_per_stage(), "spec": spec.to_json()})
        print(f"[seed {seed}] final {arm:12s} err={ev.error:.4f} params={params} macs={macs} "
              f"lat={latency:.2f}ms core={core:.0f}s", flush=True)
    return rows


def _med(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarise(rows: list[dict[str, Any]], out_dir: Path, title: str, notes: str,
              extra: dict[str, Any], started: float) -> dict[str, Any]:
    """Print the tables, write pareto.html and runs.json, return the RESULT document."""
    from nac.pareto import ParetoPoint, write_pareto_html

    finals = [r for r in rows if r["kind"] == "final"]
    searches = [r for r in rows if r["kind"] == "search"]

    def col(arm: str, key: str, kind: str = "final") -> list[float]:
        return [r[key] for r in rows if r["kind"] == kind and r["arm"] == arm]

    print()
    print(f"{'arm':12s} {'test error median (min..max)':>30s} {'params':>9s} {'MACs':>11s} "
          f"{'lat ms':>7s} {'train core-s':>12s}")
    for arm in ARMS:
        errs = col(arm, "error")
        if not errs:
            continue
        print(f"{arm:12s} {_med(errs):>12.4f} ({min(errs):.4f}..{max(errs):.4f})      "
              f"{_med(col(arm, 'parameters')):>9.0f} {_med(col(arm, 'macs')):>11.0f} "
              f"{_med(col(arm, 'latency_ms')):>7.2f} {_med(col(arm, 'core_seconds')):>12.1f}")
    print()
    for r in searches:
        print(f"search {r['arm']:12s} seed {r['seed']}: {r['core_seconds']:.0f} core-s, "
              f"{r['sample_epochs']} sample-epochs; "
              + " -> ".join(f"{t['describe']} ({t['epochs']} ep)" for t in r["trace"]))
    for r in finals:
        print(f"final  {r['arm']:12s} seed {r['seed']}: err {r['error']:.4f} params "
              f"{r['parameters']} cells {r['cells']} {r['describe']}")
    points = [ParetoPoint(arm=r["arm"], label=f"seed {r['seed']}", error=r["error"],
                          parameters=r["parameters"], latency_ms=r["latency_ms"],
                          macs=r["macs"]) for r in finals]
    points += [ParetoPoint(arm=f"search {s['arm']} (val error, truncated)",
                           label=f"seed {s['seed']} it {t['iteration']}",
                           error=t["val_error"], parameters=t["parameters"])
               for s in searches for t in s["trace"] if t["val_error"] is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    pareto = write_pareto_html(points, out_dir / "pareto.html", title=title, notes=notes)
    (out_dir / "runs.json").write_text(json.dumps(rows, indent=1, default=str))
    final_core = _med(col("nac", "core_seconds"))
    search_core = _med(col("nac", "core_seconds", "search"))
    inherit_core = _med(col("nac_inherit", "core_seconds", "search"))
    result = {
        "nac_test_error": _med(col("nac", "error")),
        "inherit_test_error": _med(col("nac_inherit", "error")),
        "initial_test_error": _med(col("initial", "error")),
        "random_test_error_median": _med(col("random", "error")),
        "random_equal_params_test_error_median": _med(col("random_eq", "error")),
        "handdesigned_test_error": _med(col("handdesigned", "error")),
        "nac_params": _med(col("nac", "parameters")),
        "inherit_params": _med(col("nac_inherit", "parameters")),
        "initial_params": _med(col("initial", "parameters")),
        "random_params_median": _med(col("random", "parameters")),
        "random_equal_params_median": _med(col("random_eq", "parameters")),
        "handdesigned_params": _med(col("handdesigned", "parameters")),
        "nac_macs": _med(col("nac", "macs")),
        "nac_latency_ms": _med(col("nac", "latency_ms")),
        "search_core_seconds": search_core,
        "inherit_search_core_seconds": inherit_core,
        "final_train_core_seconds": final_core,
        "search_over_final": search_core / final_core,
        "inherit_search_over_final": inherit_core / final_core,
        "search_sample_epochs": _med(col("nac", "sample_epochs", "search")),
        "inherit_search_sample_epochs": _med(col("nac_inherit", "sample_epochs", "search")),
        "final_sample_epochs": _med(col("nac", "sample_epochs")),
        "seeds": len({r["seed"] for r in finals}),
        "pareto_html": str(pareto),
        **extra,
        "wall_seconds": time.perf_counter() - started,
    }
    return result


def run_all(data: dict[str, Dataset], cfg: dict[str, Any], seeds: int, jobs: int
            ) -> list[dict[str, Any]]:
    """run_seed for every seed, `jobs` worker processes at a time (spawned: no forked torch)."""
    if jobs <= 1:
        return [r for s in range(seeds) for r in run_seed(s, data, cfg)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(jobs, seeds)) as pool:
        parts = pool.starmap(run_seed, [(s, data, cfg) for s in range(seeds)])
    return [r for part in parts for r in part]
