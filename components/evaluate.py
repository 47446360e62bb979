"""KFP component: evaluate a Model artifact on the test split."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from kfp.dsl import ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from components._common import component


@component
def evaluate(
    model: Input[Model],
    test_data: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[Markdown],
) -> float:
    """Evaluate a trained `nac-model` on held-out data.

    Applies the model's own normalisation, then reports accuracy, error, loss and per-class
    precision/recall as Metrics, the confusion matrix as ClassificationMetrics (rendered by
    the KFP UI) and a Markdown report.

    Args:
        model: `nac-model` artifact (from train).
        test_data: test split (`nac-dataset` artifact) with the model's classes.

    Returns:
        Test error (1 - accuracy).
    """
    from components._impl.evaluate import run_evaluate

    return run_evaluate(model=model, test_data=test_data, metrics=metrics,
                        classification_metrics=classification_metrics, report=report)
