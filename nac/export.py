"""The Model artifact (`nac-model`, version 1; docs/contracts.md §7): save, load, predict.

A directory holding `weights.pt` (a plain state_dict, so `torch.load(weights_only=True)` reads
it without unpickling code), `architecture.json` (the spec the builder turns back into the
network) and `meta.json` (classes, normalisation, input shape, hyperparameters, metrics).
Written atomically: a temporary sibling directory renamed into place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nac.atomic import atomic_directory
from nac.documents import check_header

__all__ = [
    "ARCHITECTURE_FILE",
    "FORMAT",
    "META_FILE",
    "VERSION",
    "WEIGHTS_FILE",
    "ModelError",
    "ModelMeta",
    "load_model",
    "predict",
    "save_model",
]

#: Value of meta.json "format".
FORMAT = "nac-model"
#: Value of meta.json "version"; load_model refuses any other.
VERSION = 1
WEIGHTS_FILE = "weights.pt"
ARCHITECTURE_FILE = "architecture.json"
META_FILE = "meta.json"


class ModelError(ValueError):
    """A Model artifact is missing, of another format, or does not match its data."""


@dataclass(frozen=True)
class ModelMeta:
    """What meta.json records besides the weights and the architecture."""

    classes: list[str]
    input_shape: tuple[int, int, int]
    normalization: dict[str, list[float]] | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "classes": list(self.classes),
                "normalization": self.normalization, "input_shape": list(self.input_shape),
                "hyperparameters": dict(self.hyperparameters), "metrics": dict(self.metrics)}


def _normalization_json(normalization: Any) -> dict[str, list[float]] | None:
    if normalization is None:
        return None
    if hasattr(normalization, "to_json"):
        return normalization.to_json()
    if isinstance(normalization, dict) and set(normalization) == {"mean", "std"}:
        return {"mean": [float(v) for v in normalization["mean"]],
                "std": [float(v) for v in normalization["std"]]}
    raise ModelError(f"normalization must be a nac.data.Normalization, "
                     f'{{"mean": [...], "std": [...]}} or None, got {normalization!r}')


def save_model(
    directory: str | os.PathLike[str],
    model: Any,
    spec: Any,
    classes: list[str],
    normalization: Any = None,
    hyperparameters: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write a `nac-model` artifact at `directory` atomically; return its path.

    `model` is the torch module built from `spec` (an ArchitectureSpec); its state_dict is
    saved on the CPU so the artifact loads on machines without a GPU.
    """
    import torch

    classes = [str(c) for c in classes]
    if len(classes) != spec.num_classes:
        raise ModelError(f"classes has {len(classes)} names but the architecture has "
                         f"{spec.num_classes} outputs; pass the dataset's class names")
    meta = ModelMeta(classes=classes, input_shape=tuple(spec.input_shape),
                     normalization=_normalization_json(normalization),
                     hyperparameters=dict(hyperparameters or {}),
                     metrics={k: float(v) for k, v in (metrics or {}).items()})
    target = Path(directory)
    with atomic_directory(target) as tmp:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, tmp / WEIGHTS_FILE)
        (tmp / ARCHITECTURE_FILE).write_text(spec.dumps(indent=2) + "\n", encoding="utf-8")
        (tmp / META_FILE).write_text(json.dumps(meta.to_json(), indent=2) + "\n",
                                     encoding="utf-8")
    return target


def read_meta(directory: str | os.PathLike[str]) -> ModelMeta:
    """Parse and check meta.json (format, version, fields)."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise ModelError(f"{directory} is not a model artifact: {META_FILE} is missing; give "
                         "the directory the train step wrote (or `run --local --output-dir`)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON ({e})") from None
    check_header(doc, FORMAT, VERSION, where=str(path), error=ModelError,
                 hint="give the directory the train step wrote (or `run --local --output-dir`)")
    for key in ("classes", "input_shape"):
        if key not in doc:
            raise ModelError(f'{path}: "{key}" is missing')
    return ModelMeta(classes=[str(c) for c in doc["classes"]],
                     input_shape=tuple(int(v) for v in doc["input_shape"]),  # type: ignore[arg-type]
                     normalization=doc.get("normalization"),
                     hyperparameters=dict(doc.get("hyperparameters") or {}),
                     metrics=dict(doc.get("metrics") or {}))


def load_model(directory: str | os.PathLike[str], *, device: str = "cpu") -> tuple[Any, ModelMeta]:
    """Rebuild the network from architecture.json and load weights.pt (weights_only=True).

    Returns `(model in eval mode, meta)`; `meta.spec` is not stored, read it with
    `load_spec(directory)`.
    """
    import torch

    from nac.model import build_model

    meta = read_meta(directory)
    spec = load_spec(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{directory}: {WEIGHTS_FILE} is missing; the artifact is incomplete")
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated/garbled/foreign file: one clear error
        raise ModelError(f"{weights} is not a readable state_dict ({type(e).__name__}: "
                         f"{str(e)[:200]}); the artifact is damaged, re-export it") from None
    if not isinstance(state, dict):
        raise ModelError(f"{weights} holds a {type(state).__name__}, not a state_dict; "
                         "re-export the artifact")
    model = build_model(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"{weights} does not fit {ARCHITECTURE_FILE} ({e}); the artifact "
                         "mixes files of different models") from None
    model.to(device).eval()
    return model, meta


def load_spec(directory: str | os.PathLike[str]) -> Any:
    from nac.spec import ArchitectureSpec

    path = Path(directory) / ARCHITECTURE_FILE
    if not path.is_file():
        raise ModelError(f"{directory}: {ARCHITECTURE_FILE} is missing")
    return ArchitectureSpec.from_json(path.read_text(encoding="utf-8"))


def predict(model: Any, meta: ModelMeta, x: np.ndarray, *, batch_size: int = 256,
            device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, K) for raw x (N, C, H, W), applying the model's normalisation."""
    import torch

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(meta.input_shape):
        raise ModelError(f"input has shape {tuple(x.shape[1:])} per example but the model "
                         f"expects {tuple(meta.input_shape)}; pass --image-shape "
                         f"{'x'.join(str(v) for v in meta.input_shape)}")
    if meta.normalization is not None:
        from nac.data.format import Normalization

        x = Normalization.from_json(meta.normalization).apply(x)
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(x[i:i + batch_size]).to(device))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    if not out:
        return np.zeros((0, len(meta.classes)), dtype=np.float32)
    return np.concatenate(out, axis=0)
