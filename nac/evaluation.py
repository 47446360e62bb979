"""Scoring a classifier: predictions -> accuracy and confusion matrix, in one place.

`nac.training.evaluate` (benchmarks, the construction driver) runs a model over a dataset and
scores its predictions here; the pipeline's `evaluate` step (components/_impl/evaluate.py)
scores the exported model's probabilities with the same `confusion_and_accuracy`, so a
benchmark's test error and the pipeline's are computed by one rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nac.batches import to_tensors

__all__ = ["EvalResult", "confusion_and_accuracy", "evaluate", "evaluate_tensors"]


@dataclass
class EvalResult:
    accuracy: float
    loss: float
    predictions: np.ndarray  # (N,) int64 predicted class indices
    confusion: np.ndarray  # (K, K) int64, rows = true class, columns = predicted

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


def confusion_and_accuracy(truth: np.ndarray, predicted: np.ndarray,
                           num_classes: int) -> tuple[np.ndarray, float]:
    """(K x K int64 confusion matrix, rows = true class; accuracy, 0.0 for no rows)."""
    truth = np.asarray(truth, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    accuracy = float((predicted == truth).sum()) / len(truth) if len(truth) else 0.0
    return confusion, accuracy


def evaluate(model: nn.Module, dataset: Any, *, batch_size: int = 512) -> EvalResult:
    """Accuracy, mean cross-entropy, predictions and confusion matrix of `model` on `dataset`.

    Uses the dataset's stored normalisation; the model is put in eval mode (and restored).
    """
    return evaluate_tensors(model, *to_tensors(dataset, torch.device("cpu")),
                            batch_size=batch_size)


@torch.no_grad()
def evaluate_tensors(model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, *,
                     batch_size: int) -> EvalResult:
    """`evaluate` on CPU tensors from `to_tensors` (built once per run by the training loops);
    batches are copied to the model's device one at a time."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        channels_last = bool(getattr(model, "channels_last", False))
        num_classes = int(getattr(getattr(model, "spec", None), "num_classes", 0)) or \
            int(y_all.max()) + 1
        preds, loss_sum = [], 0.0
        for start in range(0, len(y_all), batch_size):
            xb = x_all[start:start + batch_size].to(device)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_all[start:start + batch_size].to(device)
            logits = model(xb).float()
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            preds.append(logits.argmax(1).cpu())
        pred = torch.cat(preds).numpy().astype(np.int64) if preds else np.zeros(0, np.int64)
        confusion, accuracy = confusion_and_accuracy(y_all.numpy(), pred, num_classes)
        return EvalResult(accuracy=accuracy, loss=loss_sum / max(1, len(pred)),
                          predictions=pred, confusion=confusion)
    finally:
        model.train(was_training)
