"""nac_search step: NAC construction here (local) or as a Katib NAS Experiment (katib)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from components._impl.artifacts import log_metrics, set_metadata
from components._impl.reports import search_html
from components._impl.tune import client_for
from katib import nac_stats
from katib.constants import NAC_STATS_METRIC, OBJECTIVE_METRIC, check_backend_name
from katib.experiments import derive_name, nas_experiment_for
from nac.atomic import write_text_atomic


def parse_settings(text: str) -> dict[str, Any]:
    if not text or not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"settings is not valid JSON ({e}); give an object like "
                         '{"iterations": 3}') from None
    if not isinstance(doc, dict):
        raise ValueError(f"settings must be a JSON object, got {type(doc).__name__}")
    return doc


def nac_settings(overrides: dict[str, Any], seed: int) -> Any:
    """The small-images preset with `overrides` applied (unknown names rejected).

    `training` takes a JSON object of TrainConfig fields for the truncated runs; `seed`
    seeds those runs (iteration t uses seed + t).
    """
    from nac.construct import NACSettings
    from nac.training import TrainConfig

    preset = NACSettings.small_images()
    fields = {f.name for f in dataclasses.fields(preset)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"settings: unknown NAC setting(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(fields))}")
    values = dict(overrides)
    training = values.pop("training", None) or {}
    if not isinstance(training, dict):
        raise ValueError('settings.training must be an object of training fields, e.g. '
                         '{"epochs": 4}')
    known_training = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = sorted(set(training) - known_training)
    if bad:
        raise ValueError(f"settings.training: unknown field(s) {', '.join(bad)}; known: "
                         f"{', '.join(sorted(known_training))}")
    values["training"] = dataclasses.replace(preset.training, **{"seed": seed, **training})
    for name, value in values.items():  # JSON lists -> the tuples frozen settings use
        if isinstance(value, list):
            values[name] = tuple(value)
    return dataclasses.replace(preset, **values)


def _branches_per_cell(spec: Any) -> list[list[int]]:
    return [list(cells) for cells in spec.branches_per_cell()]


def trace_rows(trace: list[Any]) -> list[dict[str, Any]]:
    """Per-iteration rows for the report from the construction trace (IterationRecords)."""
    return [{
        "iteration": it.iteration,
        "branches_per_cell": [list(cells) for cells in it.branches_per_cell],
        "parameters": it.parameters,
        "val_accuracy": it.val_accuracy,
        "seconds": it.seconds,
        "stats": dict(it.branch_stats),
        "pruned": sorted(k for keys in it.pruned.values() for k in keys),
    } for it in trace]


def _local(train_data: Any, val_data: Any, settings: dict[str, Any],
           seed: int, parent_model: Any = None) -> tuple[Any, list[dict[str, Any]]]:
    from nac.construct import construct
    from nac.data import read_dataset
    from nac.finetune import load_parent

    train_ds = read_dataset(train_data.path)
    val_ds = read_dataset(val_data.path)
    config = nac_settings(settings, seed)

    def progress(it: Any) -> None:
        acc = it.val_accuracy
        print(f"nac_search: iteration {it.iteration}: {it.spec.describe()}"
              f"{'' if acc is None else f' val_accuracy={acc:.4f}'} "
              f"({it.seconds:.1f}s)", flush=True)

    parent = load_parent(parent_model.path) if parent_model is not None else None
    result = construct(train_ds, val_ds, config, progress=progress, parent=parent)
    rows = trace_rows(list(result.trace))
    rows.append({"iteration": f"{len(rows)} (constructed)",
                 "branches_per_cell": _branches_per_cell(result.spec), "parameters": None,
                 "val_accuracy": None, "seconds": None, "stats": {}, "pruned": []})
    return result.spec, rows


def nas_body(train_ds: Any, settings: Any, seed: int, *, name: str, namespace: str,
             trial_image: str, data: str) -> dict[str, Any]:
    """The `nac` NAS Experiment searching like `settings` (a NACSettings) would locally
    (katib/experiments.py: same first network, restructuring and truncated-run recipe)."""
    from components._image import TRAINER_IMAGE

    return nas_experiment_for(
        settings, seed=seed,
        name=name or derive_name("nac", train_ds.sha256, settings.to_json(), seed),
        namespace=namespace, image=trial_image or TRAINER_IMAGE, data=data,
        input_shape=list(train_ds.shape), num_classes=train_ds.num_classes)


def search_with_experiment(client: Any, body: dict[str, Any], *,
                           timeout_seconds: float) -> tuple[Any, list[dict[str, Any]]]:
    """Run a `nac` Experiment with `client` and read the constructed spec back."""
    from nac.spec import parse_architecture

    result = client.run(body, timeout=timeout_seconds, progress=lambda r: print(
        f"nac_search: Experiment {r.name} {r.status.value}, {len(r.trials)} trials",
        flush=True))
    settings = {s["name"]: s["value"] for s in body["spec"]["algorithm"]["algorithmSettings"]}
    return spec_from_trials(result.trials, parse_architecture,
                            iterations=int(settings["iterations"]))


def spec_from_trials(trials: list[Any], parse: Any, *, iterations: int | None = None
                     ) -> tuple[Any, list[dict[str, Any]]]:
    """The constructed spec and per-iteration rows.

    With `iterations` (the Experiment's setting) the spec is iteration `iterations`'s, and an
    Experiment that stopped or ended before it is an error (katib/nac_schedule.py); without,
    the highest iteration's.
    """
    by_iteration: dict[int, list[Any]] = {}
    for t in trials:
        if "architecture" in t.assignments and "iteration" in t.assignments:
            by_iteration.setdefault(int(t.assignments["iteration"]), []).append(t)
    if not by_iteration:
        raise RuntimeError("the NAS Experiment has no trials with architecture and iteration "
                           "assignments; is its algorithm `nac`?")
    rows = []
    for iteration in sorted(by_iteration):
        group = by_iteration[iteration]
        spec = parse(group[0].assignments["architecture"])
        accs = [t.metric(OBJECTIVE_METRIC) for t in group if t.metric(OBJECTIVE_METRIC) is not None]
        decoded = []  # the replicas' statistics, averaged as the `nac` suggestion does
        for t in group:
            raw = t.metrics.get(NAC_STATS_METRIC)
            if raw:
                try:
                    decoded.append(nac_stats.decode(raw))
                except nac_stats.NACStatsError:
                    pass  # a malformed report is shown as no statistics, not a failed step
        stats = nac_stats.average(decoded)[0] if decoded else {}
        rows.append({"iteration": iteration, "branches_per_cell": _branches_per_cell(spec),
                     "parameters": None, "seconds": None, "stats": stats,
                     "val_accuracy": sum(accs) / len(accs) if accs else None})
    if iterations is not None:
        from katib.nac_schedule import constructed_architecture

        try:
            spec = parse(constructed_architecture(trials, iterations))
        except LookupError as e:
            raise RuntimeError(f"the NAS Experiment has no constructed network: {e}") from None
    return spec, rows  # the constructed network (else the highest iteration's architecture)


def run_search(*, train_data: Any, val_data: Any, architecture: Any, report: Any,
               metrics: Any, settings: str, backend: str, seed: int, experiment_name: str,
               namespace: str, trial_image: str, data_source: str,
               timeout_seconds: int, max_parameters: int = 0, parent_model: Any = None) -> str:
    check_backend_name(backend)
    if parent_model is not None and backend != "local":
        raise ValueError("parent_model: starting the search from a parent Model is done by the "
                         "local construction only; use backend='local' or leave it unset")
    overrides = parse_settings(settings)
    if max_parameters:  # the budget option (nac.construct); 0 keeps the settings' value
        if backend != "local":
            raise ValueError("max_parameters: a parameter budget is applied by the local "
                             "construction only; use backend='local' or set it to 0")
        overrides["max_parameters"] = int(max_parameters)
    if backend == "local":
        spec, rows = _local(train_data, val_data, overrides, seed, parent_model)
    else:
        from nac.data import read_dataset

        train_ds = read_dataset(train_data.path)
        body = nas_body(train_ds, nac_settings(overrides, seed), seed, name=experiment_name,
                        namespace=namespace,
                        trial_image=trial_image, data=data_source or train_ds.source)
        client = client_for("katib", namespace=namespace, workdir=Path(architecture.path).parent)
        spec, rows = search_with_experiment(client, body, timeout_seconds=timeout_seconds)
    write_text_atomic(architecture.path, spec.dumps(indent=2) + "\n")
    set_metadata(architecture, {"format": "nac-architecture", "describe": spec.describe()})
    from nac.model import build_model, count_parameters

    parameters = count_parameters(build_model(spec))
    last_acc = next((r["val_accuracy"] for r in reversed(rows)
                     if r.get("val_accuracy") is not None), None)
    seconds = sum(r["seconds"] or 0.0 for r in rows)
    trained = sum(1 for r in rows if r.get("val_accuracy") is not None or r.get("stats"))
    summary = {"backend": backend, "iterations trained": trained, "parameters": parameters,
               "final network": spec.describe(), "search seconds": f"{seconds:.1f}"}
    if last_acc is not None:
        summary["last val accuracy"] = float(last_acc)
    page = search_html(rows, final=spec.describe(), summary=summary)
    from nac.pareto import pareto_section, search_points

    page = page.replace("</body>", pareto_section(search_points(rows)) + "</body>", 1)
    write_text_atomic(report.path, page)
    values = {"parameters": float(parameters), "iterations": float(trained),
              "cells": float(len(spec.cells())), "branches": float(sum(spec.branch_counts())),
              "search_seconds": float(seconds)}
    if last_acc is not None:
        values["val_accuracy"] = float(last_acc)
    log_metrics(metrics, values)
    print(f"nac_search: constructed {spec.describe()} ({parameters} parameters)", flush=True)
    return spec.dumps()
