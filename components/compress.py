"""KFP component: compress a Model (ONNX, FP16, INT8, pruning) and keep the fastest in budget."""

# No `from __future__ import annotations`: KFP reads the Input[...]/Output[...] annotations
# at decoration time and cannot resolve postponed (string) annotations.

from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components._common import component


@component
def compress(
    model: Input[Model],
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    compressed_model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    accuracy_budget: float = 0.005,
    optimize_for: str = "latency",
    variants: str = "fp32,fp16,int8,pruned",
    prune_target_mac_ratio: float = 0.55,
    prune_epochs: int = 15,
) -> str:
    """Build every compressed variant of a `nac-model`, measure them here, keep the fastest.

    Variants: ONNX FP32 (parity-checked against torch), FP16, static INT8 (calibrated on
    train_data, per-channel) and a structurally pruned network with a short fine-tune. Each is
    measured on test_data on the machine the step runs on (accuracy, bytes, batch-1 latency,
    throughput); every number goes to the output's metadata and `compression.json`. The
    output is still a `nac-model` (serve it with `deploy` or `python -m serving`).

    Args:
        model: `nac-model` artifact (from train).
        train_data: train split: INT8 calibration and the pruned network's fine-tune.
        test_data: test split the variants are measured on.
        accuracy_budget: largest accepted accuracy drop versus the torch model, as a fraction
            (0.005 = 0.5 points).
        optimize_for: "latency" (batch-1 p50) or "throughput" (rows/s).
        variants: comma-separated subset of fp32, fp16, int8, pruned.
        prune_target_mac_ratio: MACs of the pruned network relative to the original.
        prune_epochs: fine-tune epochs after pruning.

    Returns:
        The selected variant ("torch", "fp32", "fp16", "int8" or "pruned").
    """
    from components._impl.compress import run_compress

    return run_compress(model=model, train_data=train_data, test_data=test_data,
                        compressed_model=compressed_model, metrics=metrics, report=report,
                        accuracy_budget=accuracy_budget, optimize_for=optimize_for,
                        variants=variants, prune_target_mac_ratio=prune_target_mac_ratio,
                        prune_epochs=prune_epochs)
