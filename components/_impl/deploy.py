"""deploy step: InferenceService body from a Model artifact, validated, applied (or written).

Under kfp.local the Model artifact is a directory on this machine (a plain path URI): no
cluster's storage initializer can download it, so the step writes the InferenceService it
would apply, applies nothing, says so (and how to serve the Model here) and records
`applied: false` with the reason; the local run goes on. A cluster run's Model has an
object-store URI (minio://, s3://, gs://) and is applied.
"""

from __future__ import annotations

from typing import Any

import yaml

from components._impl.artifacts import set_metadata
from nac.atomic import write_text_atomic


def on_this_machine(uri: str) -> bool:
    """Whether an artifact URI is a local path (what kfp.local gives), not a remote store."""
    return "://" not in uri or uri.startswith("file://")


def run_deploy(*, model: Any, inference_service: Any, name: str, namespace: str, image: str,
               variant: str, service_account: str, min_replicas: int, max_replicas: int,
               dry_run: bool, api: Any = None) -> str:
    from serving.inferenceservice import (
        ServingSpec,
        apply_inference_service,
        storage_uri,
    )
    from serving.inferenceservice import (
        inference_service as build,
    )

    if not namespace:
        from katib.kubeconfig import default_namespace

        namespace = default_namespace()
    body = build(ServingSpec(name=name, namespace=namespace, storage_uri=storage_uri(model.uri),
                             image=image, variant=variant, service_account=service_account,
                             min_replicas=min_replicas, max_replicas=max_replicas))
    write_text_atomic(inference_service.path, yaml.safe_dump(body, sort_keys=False))
    skipped = ""
    if dry_run:
        skipped = "dry run"
    elif on_this_machine(model.uri):
        skipped = (f"the Model is a path on this machine ({model.uri}, a kfp.local run): no "
                   "cluster can download it")
    if not skipped:
        apply_inference_service(body, api=api)
        print(f"deploy: applied InferenceService {namespace}/{name}", flush=True)
    else:
        print(f"deploy: not applied ({skipped}); InferenceService {namespace}/{name} written "
              f"to {inference_service.path}", flush=True)
        if on_this_machine(model.uri):
            print(f"deploy: serve it here with `python -m serving --model-dir {model.path} "
                  f"--model-name {name}`, or run the pipeline on Kubeflow to deploy it",
                  flush=True)
    set_metadata(inference_service, {"name": name, "namespace": namespace,
                                     "storage_uri": body["spec"]["predictor"]["containers"][0]
                                     ["env"][0]["value"], "applied": not skipped,
                                     "not_applied": skipped,
                                     "infer_path": f"/v2/models/{name}/infer"})
    return name
