"""tune step: a Katib hyperparameter Experiment for a fixed architecture (local or cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components._impl.artifacts import (
    log_metrics,
    read_architecture,
    read_json,
    write_json,
)
from components._impl.reports import trials_markdown
from components._impl.tune_pareto import (
    algorithm_settings_from_text,
    objective_metrics,
    pareto_page,
)
from katib import results_file
from katib.constants import MULTI_OBJECTIVE, OBJECTIVE_METRIC, RESULTS_FILE_NAME, check_backend_name
from katib.experiments import derive_name, hpo_experiment, parse_search_space
from nac.atomic import write_text_atomic


def client_for(backend: str, *, namespace: str, workdir: Path) -> Any:
    """katib.client's ExperimentClient for a step's backend name (imported when needed)."""
    from katib.client import ExperimentClient

    return ExperimentClient.for_backend(backend, namespace=namespace, workdir=workdir)


def _progress(result: Any) -> None:
    done = sum(1 for t in result.trials if t.status.completed)
    print(f"tune: Experiment {result.name} {result.status.value}: {done}/"
          f"{len(result.trials)} trials finished", flush=True)


def run_tune(*, train_data: Any, val_data: Any, architecture: Any, best_hyperparameters: Any,
             results: Any, report: Any, metrics: Any, search_space: str, max_trials: int,
             parallel_trials: int, epochs: int, algorithm: str, backend: str, seed: int,
             warm_start_source: Any, experiment_name: str, namespace: str, trial_image: str,
             data_source: str, timeout_seconds: int, pareto: Any = None,
             algorithm_settings: str = "") -> str:
    from components._image import TRAINER_IMAGE
    from nac.data import read_dataset

    check_backend_name(backend)
    if max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    spec = read_architecture(architecture.path)
    space = parse_search_space(search_space)
    train_ds = read_dataset(train_data.path)
    # Katib's own `tpe`/`random` (hyperopt) know the seed only as `random_state` and reject
    # `seed`; katib.local's service accepts exactly Katib's names for them (docs/katib.md).
    seed_name = "random_state" if algorithm in ("tpe", "random") else "seed"
    settings: dict[str, Any] = {seed_name: seed, **algorithm_settings_from_text(
        algorithm_settings)}
    client = None
    if backend == "katib":
        client = client_for(backend, namespace=namespace, workdir=Path(results.path).parent)
    if warm_start_source is not None and getattr(warm_start_source, "path", ""):
        settings["warm_start_source"] = warm_start_reference(
            Path(warm_start_source.path), backend,
            namespace=client.namespace if client is not None else "")
    name = experiment_name or derive_name("tune", spec.dumps(), train_ds.sha256, space,
                                          max_trials, epochs, seed, algorithm, settings)
    if backend == "local":
        data, val = str(train_data.path), str(val_data.path)
    else:  # trial pods cannot see KFP artifacts: they ingest the recorded source themselves.
        data, val = data_source or train_ds.source, ""
    body = hpo_experiment(
        name=name, namespace=namespace, image=trial_image or TRAINER_IMAGE, data=data,
        val_data=val, architecture_b64=spec.to_b64(), epochs=epochs, search_space=space,
        max_trials=max_trials, parallel=parallel_trials, algorithm=algorithm,
        settings=settings, seed=seed)
    if algorithm == MULTI_OBJECTIVE:  # Katib records only the metrics the Experiment names
        body["spec"]["objective"]["additionalMetricNames"] = objective_metrics(settings)
    workdir = Path(results.path).parent / f"{Path(results.path).name}.katib"
    if client is None:
        client = client_for(backend, namespace=namespace, workdir=workdir)
    print(f"tune: Experiment {name} ({backend}, algorithm {algorithm}): {max_trials} trials x "
          f"{epochs} epochs, parameters {', '.join(p['name'] for p in space)}", flush=True)
    result = client.run(body, timeout=timeout_seconds, progress=_progress)
    best = result.best
    if best is None:
        raise RuntimeError(f"Experiment {name} ended ({result.reason or result.status.value}) "
                           f"without a succeeded trial reporting {OBJECTIVE_METRIC}; see the "
                           "trial logs")
    names = [p["name"] for p in space]
    best_hp = {k: best.assignments[k] for k in names if k in best.assignments}
    write_json(best_hyperparameters.path, best_hp)
    _write_results(results.path, workdir / name, result, space)
    page, front = pareto_page(body, result.trials, title=f"Hyperparameter tuning: {name}")
    if pareto is not None:
        write_text_atomic(pareto.path, page)
    markdown = trials_markdown(
        result.trials, objective=OBJECTIVE_METRIC, best_name=best.name, parameters=names,
        title=f"Hyperparameter tuning: {name}")
    if front is not None:
        from katib.backends.local.pareto import pareto_markdown

        markdown += "\n## Pareto set\n\n" + pareto_markdown(front) + "\n"
    write_text_atomic(report.path, markdown)
    succeeded = len(result.succeeded_trials)
    values = {"best_accuracy": best.metric(OBJECTIVE_METRIC) or 0.0,
              "trials": float(len(result.trials)), "trials_succeeded": float(succeeded)}
    if front is not None:
        values["pareto_trials"] = float(len(front["trials"]))
    log_metrics(metrics, values)
    print(f"tune: best {best.name} accuracy={best.metrics.get(OBJECTIVE_METRIC)} "
          f"{json.dumps(best_hp)}", flush=True)
    return json.dumps(best_hp, separators=(",", ":"))


def warm_start_reference(path: Path, backend: str, *, namespace: str) -> str:
    """The `warm_start_source` setting for an earlier tune run's `results` artifact.

    Locally the results file itself; on a cluster the suggestion pod cannot read KFP
    artifacts, so it gets `katib://<namespace>/<experiment>` and lists that Experiment's Trials.
    """
    doc = results_file.check_document(read_json(path, "warm_start_source"),
                                      where=f"warm_start_source {path}",
                                      hint="connect a tune step's `results` output")
    if backend == "local":
        return str(path)
    return f"katib://{namespace}/{doc['experiment']}"


def _write_results(path: str, local_dir: Path, result: Any, space: list[dict]) -> None:
    """The `katib-local-results` document of this Experiment (a warm-start source later)."""
    local_file = local_dir / RESULTS_FILE_NAME
    if local_file.is_file():
        write_text_atomic(path, local_file.read_text(encoding="utf-8"))
        return
    write_json(path, results_file.document_from_result(result, space))
