"""Serve a `nac-model` (or its compressed variant) with KServe's model server (v2 protocol).

    python -m serving --model-dir local_outputs/model --http-port 8080
    curl localhost:8080/v2/health/ready
    curl -d '{"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32",
              "data": [...64 values...]}]}' localhost:8080/v2/models/nac/infer

On a cluster the same server runs in an InferenceService (manifests/serving/, the `deploy`
component). Details: docs/serving.md.
"""

__all__ = ["NACModel", "load_predictor"]


def __getattr__(name: str):  # kserve is imported only when a model is actually served
    if name in __all__:
        from serving import model

        return getattr(model, name)
    raise AttributeError(name)
