"""What NAC buys on CIFAR-10: NAC vs the initial EnvelopeNet, random nets and a hand-designed
CNN, all trained with one final recipe, >= 3 seeds, plus NAC with weight inheritance.

Data: the JPEG class folders of ../shared/data/cifar10 (train/, test/), read through the
project's own image-folder ingest (`nac.data.ingest(<folder>)`). The ingest of the whole
50,000-image train folder is timed (wall seconds, and the process's peak RSS before and after,
measured before torch is imported). Then, by default (sized to about 3,900 core-seconds,
i.e. about 33 minutes on a quiet 2-vCPU machine with 3 worker processes; measured in
docs/nac.md): 200 train images per class (160 search-train / 40 search-val; the final runs fit
on all 200), 500 official test images per class, every image downscaled 2x2 to 16x16 (box
filter), shift 1 px + horizontal flip augmentation, batch 64; search: the small-images preset
with a 16-channel stem, 3 iterations of 4 epochs (inheriting: 4 + 2 + 2); final: 15 epochs.
That is still short training for CIFAR-10 (about 40% accuracy); more with e.g.
`--train-per-class 500 --final-epochs 30` (hours here).
`--full` is the GPU setting: all 50,000 / 10,000 images at 32x32, the AMLA
construction (5 iterations of 10 epochs, 64-channel 1x1 stem with LRN, 2+2+2 cells, caps 7/6/2)
and 60 final epochs; no run of it is reported here.

    .venv/bin/python benchmarks/nac_cifar10.py [--data ../shared/data/cifar10] [--full]
        [--train-per-class 200] [--test-per-class 500] [--size 16] [--seeds 3] [--jobs 3]
        [--final-epochs 15] [--search-epochs 4] [--inherit-epochs 2] [--batch 64] [--stem 16]
        [--out DIR]

Ends with one line `RESULT {json}` (errors as fractions; core-seconds are CPU seconds of the
worker process that ran the step, so they are comparable across a busy and a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nac_compare as bench

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                          / "shared" / "data" / "cifar10"))
    bench.add_arm_arguments(p, size=16, sizes=(8, 16, 32), out="/tmp/nac_cifar10",
                            test_per_class=500)
    args = p.parse_args(argv)
    started = time.perf_counter()

    from nac.data import ingest  # no torch import: the RSS below is the ingest's

    root = Path(args.data)
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    train_all = ingest(str(root / "train"))
    ingest_s = time.perf_counter() - t0
    rss1 = _rss_mib()
    test_all = ingest(str(root / "test"))
    print(f"cifar10 from {root}: ingest of train/ ({train_all.rows} images "
          f"{list(train_all.shape)}) {ingest_s:.1f}s, peak RSS {rss1:.0f} MiB (before "
          f"{rss0:.0f} MiB; the float32 array alone is {train_all.x.nbytes / 2**20:.0f} MiB); "
          f"test/ {test_all.rows} images", flush=True)

    full = args.full
    per_class = None if full else args.train_per_class
    pool = train_all.subset(bench.stratified(train_all.y, per_class, 0))
    test = test_all.subset(bench.stratified(test_all.y, None if full else args.test_per_class,
                                            0))
    del train_all, test_all
    size = 32 if full else args.size
    pool, test = bench.downscale(pool, 32 // size), bench.downscale(test, 32 // size)
    data = bench.prepare(pool, test, val_fraction=0.2, shift=4 if full else max(1, size // 16),
                         hflip=True)
    if full:
        settings = {"iterations": 5, "layers_per_stage": (2, 2, 2),
                    "max_layers_per_stage": (7, 6, 2), "stem_channels": 64, "stem_kernel": 1,
                    "lrn": True}
        search_training = {"epochs": 10, "batch_size": 50, "lr": 0.04, "schedule": "constant",
                           "grad_clip": 5.0, "weight_decay": 3e-4, "stats": True,
                           "val_every": 1000}
        final_training = {"epochs": 60, "batch_size": 64, "lr": 0.05, "schedule": "cosine",
                          "weight_decay": 3e-4, "label_smoothing": 0.1}
        inherit_epochs, threads, jobs = 3, None, 1
    else:
        settings = {"iterations": args.iterations, "layers_per_stage": (2, 2, 1),
                    "max_layers_per_stage": (4, 4, 1), "stem_channels": args.stem,
                    "stem_kernel": 3, "lrn": False}
        search_training = {"epochs": args.search_epochs, "batch_size": args.batch, "lr": 0.05,
                           "schedule": "cosine", "grad_clip": 5.0, "weight_decay": 3e-4,
                           "stats": True, "val_every": 1000}
        final_training = {"epochs": args.final_epochs, "batch_size": args.batch, "lr": 0.05,
                          "schedule": "cosine", "weight_decay": 3e-4, "label_smoothing": 0.1}
        inherit_epochs, threads, jobs = args.inherit_epochs, 1, args.jobs
    settings["inherit_epochs"] = inherit_epochs
    cfg = {"settings": settings, "search_training": search_training,
           "final_training": final_training, "threads": threads, "latency_repeats": 20}
    tr, fit, te = data["search_train"], data["fit"], data["test"]
    print(f"search train {tr.rows}, search val {data['search_val'].rows}, final fit "
          f"{fit.rows}, test {te.rows}, images {list(fit.shape)}; seeds {args.seeds}, "
          f"{jobs} worker process(es), threads {threads}; cfg {json.dumps(cfg)}", flush=True)
    rows = bench.run_all(data, cfg, args.seeds, jobs)
    notes = (f"CIFAR-10 (JPEG folders), {fit.rows} training and {te.rows} test images at "
             f"{fit.shape[1]}x{fit.shape[2]}; final recipe {json.dumps(final_training)}; "
             "measured on a shared 2-vCPU VM.")
    result = bench.summarise(
        rows, Path(args.out), title="NAC vs baselines on CIFAR-10", notes=notes,
        extra={"ingest_train_seconds": round(ingest_s, 2), "ingest_peak_rss_mib": round(rss1),
               "ingest_rss_before_mib": round(rss0), "train_images": fit.rows,
               "test_images": te.rows, "image_size": fit.shape[1], "full": full,
               "final_epochs": final_training["epochs"]},
        started=started)
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
