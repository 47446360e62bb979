"""KFP component: serve a Model with KServe (an InferenceService applied through the API)."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from kfp.dsl import Artifact, Input, Model, Output

from components._common import component


@component
def deploy(
    model: Input[Model],
    inference_service: Output[Artifact],
    name: str = "nac-model",
    namespace: str = "",
    image: str = "",
    variant: str = "auto",
    service_account: str = "",
    min_replicas: int = 1,
    max_replicas: int = 1,
    dry_run: bool = False,
) -> str:
    """Create (or update) a KServe InferenceService serving `model` with the v2 protocol.

    The predictor runs our KServe custom model server (`python -m serving`) in the trainer
    image; KServe's storage initializer downloads the Model from its artifact URI into
    /mnt/models. The body is validated against the InferenceService CRD schema before it is
    sent; a re-run replaces the spec of the existing service. The step's service account needs
    create/get/update on inferenceservices.serving.kserve.io in `namespace` (Kubeflow's
    `default-editor` has them through the kubeflow-edit aggregation); `service_account` is the
    predictor's, with the storage credentials (docs/serving.md).

    Args:
        model: `nac-model` artifact (from train or compress).
        name: InferenceService name (DNS-1035 label, at most 45 characters).
        namespace: target namespace; empty = the step's own namespace.
        image: serving image; empty = the versioned trainer image.
        variant: `auto` (what compress selected, else torch), torch, fp32, fp16, int8, pruned.
        service_account: predictor ServiceAccount holding the storage credentials.
        min_replicas: minimum predictor replicas (0 allows scale to zero with Knative).
        max_replicas: maximum predictor replicas.
        dry_run: only write the body to `inference_service` (no API call).

    Returns:
        The InferenceService name.
    """
    from components._impl.deploy import run_deploy

    return run_deploy(model=model, inference_service=inference_service, name=name,
                      namespace=namespace, image=image, variant=variant,
                      service_account=service_account, min_replicas=min_replicas,
                      max_replicas=max_replicas, dry_run=dry_run)
