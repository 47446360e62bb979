"""compress step: nac.compress on a Model artifact, numbers to metadata, Metrics and Markdown."""

from __future__ import annotations

from typing import Any

from components._impl.artifacts import log_metrics, set_metadata
from nac.atomic import write_text_atomic


def report_markdown(doc: dict[str, Any]) -> str:
    lines = ["# Compression", "", f"- selected: `{doc['selected']}` (budget "
             f"{doc['config']['accuracy_budget']}, {doc['config']['optimize_for']})",
             f"- ONNX parity: max |logit diff| {doc['parity']['max_abs_logit_diff']:.2e}, "
             f"argmax agreement {doc['parity']['argmax_agreement']:.4f}", "",
             "| variant | accuracy | KiB | p50 ms | p95 ms | rows/s | MACs |",
             "|---|---|---|---|---|---|---|"]
    for name, v in doc["variants"].items():
        lines.append(f"| {name} | {v['accuracy']:.4f} | {v['size_bytes'] / 1024:.0f} | "
                     f"{v['latency_ms_p50']:.3f} | {v['latency_ms_p95']:.3f} | "
                     f"{v['throughput_rows_s']:.0f} | {v['macs']:.0f} |")
    return "\n".join(lines) + "\n"


def run_compress(*, model: Any, train_data: Any, test_data: Any, compressed_model: Any,
                 metrics: Any, report: Any, accuracy_budget: float, optimize_for: str,
                 variants: str, prune_target_mac_ratio: float, prune_epochs: int) -> str:
    from nac.compress import CompressConfig, compress_model
    from nac.data import read_dataset

    config = CompressConfig(
        accuracy_budget=accuracy_budget, optimize_for=optimize_for,
        variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
        prune_target_mac_ratio=prune_target_mac_ratio, prune_epochs=prune_epochs)
    doc = compress_model(model.path, compressed_model.path, read_dataset(train_data.path),
                         read_dataset(test_data.path), config,
                         log=lambda msg: print(msg, flush=True))
    chosen = doc["variants"][doc["selected"]]
    flat: dict[str, Any] = {"format": "nac-model", "selected": doc["selected"],
                            "onnx_max_abs_logit_diff": doc["parity"]["max_abs_logit_diff"]}
    for name, numbers in doc["variants"].items():
        flat.update({f"{name}_{key}": value for key, value in numbers.items()})
    set_metadata(compressed_model, flat)
    log_metrics(metrics, {"accuracy": chosen["accuracy"], "size_bytes": chosen["size_bytes"],
                          "latency_ms_p50": chosen["latency_ms_p50"],
                          "throughput_rows_s": chosen["throughput_rows_s"],
                          "accuracy_drop": doc["variants"]["torch"]["accuracy"]
                          - chosen["accuracy"]})
    write_text_atomic(report.path, report_markdown(doc))
    return str(doc["selected"])
