"""deploy step: InferenceService body from a Model artifact, validated, applied (or written)."""

from __future__ import annotations

from typing import Any

import yaml

from components._impl.artifacts import set_metadata
from nac.atomic import write_text_atomic


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
    if not dry_run:
        apply_inference_service(body, api=api)
        print(f"deploy: applied InferenceService {namespace}/{name}", flush=True)
    else:
        print(f"deploy: dry run, InferenceService {namespace}/{name} written to "
              f"{inference_service.path}", flush=True)
    set_metadata(inference_service, {"name": name, "namespace": namespace,
                                     "storage_uri": body["spec"]["predictor"]["containers"][0]
                                     ["env"][0]["value"], "applied": not dry_run,
                                     "infer_path": f"/v2/models/{name}/infer"})
    return name
