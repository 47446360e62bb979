"""KFP component: Katib hyperparameter tuning of a fixed architecture."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from components._common import component


@component
def tune(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    architecture: Input[Artifact],
    best_hyperparameters: Output[Artifact],
    results: Output[Artifact],
    report: Output[Markdown],
    metrics: Output[Metrics],
    pareto: Output[HTML],
    search_space: str = "",
    max_trials: int = 5,
    parallel_trials: int = 1,
    epochs: int = 4,
    algorithm: str = "warm-start",
    backend: str = "local",
    seed: int = 0,
    warm_start_source: Input[Artifact] = None,
    experiment_name: str = "",
    namespace: str = "",
    trial_image: str = "",
    data_source: str = "",
    timeout_seconds: int = 86400,
    algorithm_settings: str = "",
) -> str:
    """Tune training hyperparameters of an architecture with a Katib Experiment.

    Each trial trains the architecture with `python -m katib.trial` and reports validation
    accuracy; the best trial's assignments become the output. Outputs the best hyperparameters
    (JSON object), the `katib-local-results` document of all trials (usable as the next run's
    warm-start source), a Markdown table of every trial, Metrics, and an HTML page that, for
    `algorithm="multi-objective"`, pictures the Pareto front and lists the Pareto set (the same
    set the results file records).

    Args:
        train_data: train split (`nac-dataset` artifact).
        val_data: validation split scored by each trial.
        architecture: `nac-architecture` spec to tune (from nac_search).
        search_space: JSON list of Katib parameter specs (`[{"name": "lr", "parameterType":
            "double", "feasibleSpace": {"min": "0.01", "max": "0.2", "distribution":
            "logUniform"}}]`); empty = lr, weight_decay and batch_size defaults.
        max_trials: trials to run (Katib maxTrialCount).
        parallel_trials: trials at once (Katib parallelTrialCount).
        epochs: training epochs per trial.
        algorithm: Katib algorithm name (`warm-start` is ours; `random`, `tpe` ... on a cluster).
        backend: `local` runs the Experiment with katib.local on this machine; `katib`
            creates it in the cluster through the Kubernetes API.
        seed: seed for trials and the algorithm.
        warm_start_source: an earlier run's `results` output; its trials seed the search.
        experiment_name: Katib Experiment name; default derived from the inputs so a retried
            step re-attaches.
        namespace: Kubernetes namespace (katib backend).
        trial_image: image of the trial pods (katib backend); default the trainer image.
        data_source: data URI trial pods ingest (katib backend); default the recorded source.
        timeout_seconds: how long to wait for the Experiment.
        algorithm_settings: JSON object of extra Katib algorithm settings, e.g.
            `{"objectives": "accuracy:max,loss:min", "constraints": "loss<=1"}` with
            `algorithm="multi-objective"`; the metrics they name are added to
            additionalMetricNames (the trial reports epoch, loss and accuracy).

    Returns:
        The best hyperparameters as compact JSON text.
    """
    from components._impl.tune import run_tune

    return run_tune(
        train_data=train_data, val_data=val_data, architecture=architecture,
        best_hyperparameters=best_hyperparameters, results=results, report=report,
        metrics=metrics, search_space=search_space, max_trials=max_trials,
        parallel_trials=parallel_trials, epochs=epochs, algorithm=algorithm, backend=backend,
        seed=seed, warm_start_source=warm_start_source, experiment_name=experiment_name,
        namespace=namespace, trial_image=trial_image, data_source=data_source,
        timeout_seconds=timeout_seconds, pareto=pareto, algorithm_settings=algorithm_settings)
