"""evaluate step: Model + test Dataset -> Metrics, ClassificationMetrics, Markdown report."""

from __future__ import annotations

from typing import Any

import numpy as np

from components._impl.artifacts import log_metrics, write_json
from nac.atomic import write_text_atomic


def scores(probs: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, confusion matrix and per-class precision/recall.

    Accuracy and the confusion matrix are `nac.evaluation`'s, as for `nac.training.evaluate`.
    """
    from nac.evaluation import confusion_and_accuracy

    confusion, accuracy = confusion_and_accuracy(y, probs.argmax(axis=1), num_classes)
    eps = 1e-12
    loss = float(-np.mean(np.log(probs[np.arange(len(y)), y] + eps))) if len(y) else 0.0
    tp = np.diag(confusion).astype(float)
    precision = np.divide(tp, confusion.sum(axis=0), out=np.zeros_like(tp),
                          where=confusion.sum(axis=0) > 0)
    recall = np.divide(tp, confusion.sum(axis=1), out=np.zeros_like(tp),
                       where=confusion.sum(axis=1) > 0)
    return {"accuracy": accuracy, "loss": loss, "confusion": confusion,
            "precision": precision, "recall": recall, "rows": int(len(y))}


def report_markdown(s: dict[str, Any], classes: list[str], model_meta: Any) -> str:
    lines = ["# Evaluation on the test split", "",
             f"- rows: **{s['rows']}**",
             f"- accuracy: **{s['accuracy']:.4f}** (error {1 - s['accuracy']:.4f})",
             f"- mean cross-entropy loss: {s['loss']:.4f}", ""]
    if model_meta.hyperparameters:
        lines += ["Hyperparameters: " + ", ".join(
            f"`{k}={v}`" for k, v in sorted(model_meta.hyperparameters.items())), ""]
    lines += ["## Per class", "", "| class | rows | precision | recall |", "|---|---|---|---|"]
    support = s["confusion"].sum(axis=1)
    for i, name in enumerate(classes):
        lines.append(f"| {name} | {int(support[i])} | {s['precision'][i]:.3f} | "
                     f"{s['recall'][i]:.3f} |")
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for i, name in enumerate(classes):
        lines.append(f"| **{name}** | " + " | ".join(str(int(v)) for v in s["confusion"][i])
                     + " |")
    return "\n".join(lines) + "\n"


def run_evaluate(*, model: Any, test_data: Any, metrics: Any, classification_metrics: Any,
                 report: Any) -> float:
    from nac.data import read_dataset
    from nac.export import ModelError, load_model, predict

    net, meta = load_model(model.path)
    ds = read_dataset(test_data.path)
    if list(ds.classes) != list(meta.classes):
        raise ModelError(f"test_data classes {ds.classes} differ from the model's "
                         f"{meta.classes}; evaluate on a split of the data the model was "
                         "trained on")
    probs = predict(net, meta, ds.x)
    s = scores(probs, ds.y, len(meta.classes))
    values = {"accuracy": s["accuracy"], "error": 1.0 - s["accuracy"], "loss": s["loss"],
              "rows": s["rows"]}
    for i, name in enumerate(meta.classes):
        values[f"recall_{name}"] = float(s["recall"][i])
        values[f"precision_{name}"] = float(s["precision"][i])
    log_metrics(metrics, values)
    classification_metrics.log_confusion_matrix(
        list(meta.classes), [[int(v) for v in row] for row in s["confusion"]])
    write_json(classification_metrics.path, dict(classification_metrics.metadata))
    write_text_atomic(report.path, report_markdown(s, list(meta.classes), meta))
    print(f"evaluate: accuracy={s['accuracy']:.4f} error={1 - s['accuracy']:.4f} "
          f"loss={s['loss']:.4f} rows={s['rows']}", flush=True)
    return 1.0 - s["accuracy"]
