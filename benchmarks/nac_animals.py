"""What NAC buys on Animal-MNIST (`builtin:animal-mnist`): the CIFAR-10 comparison
(benchmarks/nac_compare.py) on the offline second data set.

Data: 9,716 de-duplicated 28x28 silhouettes (nac.data.readers.animal_mnist), split per class
into a fixed test pool (20%) and a training pool; by default (sized like nac_cifar10.py's
defaults) 200 training and 190 test images per class (the test pool holds about 194),
downscaled 2x2 to 14x14, shift 1 px augmentation (no flips: silhouettes face one way); the
same search and final settings as nac_cifar10.py's defaults.
`--full` uses every image at 28x28 and the GPU-scale settings of
nac_cifar10.py --full.

    .venv/bin/python benchmarks/nac_animals.py [--train-per-class 200] [--test-per-class 190]
        [--size 14] [--seeds 3] [--jobs 3] [--final-epochs 15] [--batch 64] [--out DIR] [--full]

Ends with one line `RESULT {json}` with the same keys as nac_cifar10.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nac_compare as bench

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_arm_arguments(p, size=14, sizes=(7, 14, 28), out="/tmp/nac_animals",
                            test_per_class=190)
    args = p.parse_args(argv)
    started = time.perf_counter()

    from nac.data import ingest

    ds = ingest("builtin:animal-mnist")
    order = bench.stratified(ds.y, None, 0)
    test_idx, pool_idx, seen = [], [], {}
    for i in order:  # first 20% of every class (in a seeded order) is the test pool
        c = int(ds.y[i])
        seen[c] = seen.get(c, 0) + 1
        (test_idx if seen[c] <= int(0.2 * np.sum(ds.y == c)) else pool_idx).append(i)
    full = args.full
    test_pool, train_pool = ds.subset(np.array(test_idx)), ds.subset(np.array(pool_idx))
    pool = train_pool.subset(bench.stratified(train_pool.y,
                                              None if full else args.train_per_class, 0))
    test = test_pool.subset(bench.stratified(test_pool.y,
                                             None if full else args.test_per_class, 0))
    size = 28 if full else args.size
    pool, test = bench.downscale(pool, 28 // size), bench.downscale(test, 28 // size)
    data = bench.prepare(pool, test, val_fraction=0.2, shift=2 if full else 1, hflip=False)
    if full:
        settings = {"iterations": 5, "layers_per_stage": (2, 2, 2),
                    "max_layers_per_stage": (7, 6, 2), "stem_channels": 64, "stem_kernel": 1,
                    "lrn": True, "inherit_epochs": 3}
        search_training = {"epochs": 10, "batch_size": 50, "lr": 0.04, "schedule": "constant",
                           "grad_clip": 5.0, "weight_decay": 3e-4, "stats": True,
                           "val_every": 1000}
        final_training = {"epochs": 60, "batch_size": 64, "lr": 0.05, "schedule": "cosine",
                          "weight_decay": 3e-4, "label_smoothing": 0.1}
        threads, jobs = None, 1
    else:
        settings = {"iterations": args.iterations, "layers_per_stage": (2, 2, 1),
                    "max_layers_per_stage": (4, 4, 1), "stem_channels": args.stem,
                    "stem_kernel": 3, "lrn": False, "inherit_epochs": args.inherit_epochs}
        search_training = {"epochs": args.search_epochs, "batch_size": args.batch, "lr": 0.05,
                           "schedule": "cosine", "grad_clip": 5.0, "weight_decay": 3e-4,
                           "stats": True, "val_every": 1000}
        final_training = {"epochs": args.final_epochs, "batch_size": args.batch, "lr": 0.05,
                          "schedule": "cosine", "weight_decay": 3e-4, "label_smoothing": 0.1}
        threads, jobs = 1, args.jobs
    cfg = {"settings": settings, "search_training": search_training,
           "final_training": final_training, "threads": threads, "latency_repeats": 20}
    fit, te = data["fit"], data["test"]
    print(f"animal-mnist ({ds.rows} rows after de-duplication): search train "
          f"{data['search_train'].rows}, search val {data['search_val'].rows}, final fit "
          f"{fit.rows}, test {te.rows}, images {list(fit.shape)}; seeds {args.seeds}, {jobs} "
          f"worker process(es); cfg {json.dumps(cfg)}", flush=True)
    rows = bench.run_all(data, cfg, args.seeds, jobs)
    notes = (f"Animal-MNIST, {fit.rows} training and {te.rows} test images at "
             f"{fit.shape[1]}x{fit.shape[2]}; final recipe {json.dumps(final_training)}; "
             "measured on a shared 2-vCPU VM.")
    result = bench.summarise(rows, Path(args.out), title="NAC vs baselines on Animal-MNIST",
                             notes=notes, started=started,
                             extra={"train_images": fit.rows, "test_images": te.rows,
                                    "image_size": fit.shape[1], "full": full,
                                    "final_epochs": final_training["epochs"]})
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
