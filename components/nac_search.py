"""KFP component: NAC (EnvelopeNet) architecture search -> architecture spec artifact."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from typing import Optional

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def nac_search(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    architecture: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    settings: str = "{}",
    backend: str = "local",
    seed: int = 0,
    experiment_name: str = "",
    namespace: str = "",
    trial_image: str = "",
    data_source: str = "",
    timeout_seconds: int = 86400,
    max_parameters: int = 0,
    parent_model: Optional[Input[Model]] = None,  # noqa: UP045 - KFP reads typing.Optional
) -> str:
    """Search a network architecture with NAC (Neural Architecture Construction, EnvelopeNets).

    Starts from an EnvelopeNet, trains it briefly while measuring each branch's mean squared
    activation, prunes the weakest branches and appends cells, for a fixed number of
    iterations. Outputs the constructed `nac-architecture` JSON spec, an HTML report showing
    how the network grew and the statistics per iteration, and search Metrics.

    Args:
        train_data: train split (`nac-dataset` artifact) used to train candidate networks.
        val_data: validation split used to score them.
        settings: JSON object overriding the small-images NAC preset (e.g.
            `{"iterations": 3, "epochs": 2}`); unknown keys are rejected.
        backend: `local` runs the construction in this step; `katib` creates a Katib NAS
            Experiment with algorithm `nac` and reads the constructed spec from its trials.
        seed: random seed of the construction.
        experiment_name: Katib Experiment name (katib backend); default derived from the
            data hash so a retried step re-attaches to the same Experiment.
        namespace: Kubernetes namespace for the Experiment (katib backend).
        trial_image: image of the trial pods (katib backend); default the trainer image.
        data_source: data URI the trial pods ingest (katib backend); default the train
            artifact's recorded source.
        timeout_seconds: how long to wait for the Katib Experiment.
        max_parameters: parameter budget of the constructed network (0 = none; local
            backend): construction never trains or returns a network above it (settings also
            take `max_macs`, and `inherit_weights` for the cheaper search of nac.inherit).
        parent_model: optional earlier `nac-model` to start from (local backend): its
            architecture is the first network and its weights the first iteration's start,
            inherited along every restructuring (nac.construct). docs/serving.md.

    Returns:
        The architecture spec as compact JSON text.
    """
    from components._impl.search import run_search

    return run_search(
        train_data=train_data, val_data=val_data, architecture=architecture, report=report,
        metrics=metrics, settings=settings, backend=backend, seed=seed,
        experiment_name=experiment_name, namespace=namespace, trial_image=trial_image,
        data_source=data_source, timeout_seconds=timeout_seconds,
        max_parameters=max_parameters, parent_model=parent_model)
