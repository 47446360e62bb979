"""Reuse and serving through real kfp.local runs of the pipeline (tiny budgets, the CLI):

(a) `--param compress=true --param deploy=true`: the compress step's Model holds every
    variant's numbers and keeps one within the accuracy budget; the deploy step, which
    cannot reach a cluster from kfp.local, writes the InferenceService and applies nothing;
(b) `--parent-model`: the fine-tuning variant from the Model of the session's first run
    (tests/pipelines/local_run.py), recorded in the child Model.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from pipelines.cli import main
from tests.pipelines.local_run import TINY, shared_run


def _run(root: Path, *extra: str) -> tuple[int, str, Path]:
    args = ["run", "--local", "--pipeline-root", str(root / "runs"),
            "--output-dir", str(root / "model"), *extra]
    for name, value in TINY.items():
        args += ["--param", f"{name}={value}"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    runs = list((root / "runs").glob("nac-automl-*"))
    assert code == 0 and len(runs) == 1, out.getvalue()[-3000:]
    return code, out.getvalue(), runs[0]


def _metadata(task_dir: Path, output: str) -> dict:
    """The KFP artifact metadata a step wrote (executor_output.json, as the UI shows it)."""
    doc = json.loads((task_dir / "executor_output.json").read_text())
    return doc["artifacts"][output]["artifacts"][0]["metadata"]


@pytest.mark.slow
def test_compress_and_deploy_steps_in_a_local_run(tmp_path):
    _, out, run_dir = _run(tmp_path, "--param", "compress=true", "--param", "deploy=true",
                           "--param", "accuracy_budget=0.02")
    compressed = run_dir / "compress" / "compressed_model"
    doc = json.loads((compressed / "compression.json").read_text())
    assert set(doc["variants"]) == {"torch", "fp32", "fp16", "int8", "pruned"}
    for name, numbers in doc["variants"].items():
        assert {"accuracy", "size_bytes", "latency_ms_p50", "latency_ms_p95",
                "throughput_rows_s", "macs"} <= set(numbers), name
        assert numbers["latency_ms_p50"] > 0 and numbers["size_bytes"] > 0, name
    assert doc["config"]["accuracy_budget"] == 0.02  # the run parameter reached the step
    kept = doc["variants"][doc["selected"]]
    assert kept["accuracy"] >= doc["variants"]["torch"]["accuracy"] - 0.02
    if doc["selected"] != "torch":
        assert (compressed / doc["selected_file"]).is_file()
    assert doc["variants"]["pruned"]["macs"] < doc["variants"]["torch"]["macs"]
    meta = _metadata(run_dir / "compress", "compressed_model")
    assert meta["selected"] == doc["selected"]
    assert meta["int8_size_bytes"] == doc["variants"]["int8"]["size_bytes"]
    assert f"| {doc['selected']} |" in (run_dir / "compress" / "report").read_text()
    # --output-dir gets the compressed Model (what deploy serves), not the trained one
    copied = tmp_path / "model"
    assert (copied / "compression.json").read_text() == (compressed / "compression.json"
                                                         ).read_text()
    assert sorted(p.name for p in (copied / "onnx").iterdir()) == sorted(
        p.name for p in (compressed / "onnx").iterdir())

    # deploy ran on the compressed Model and, with no cluster that could pull a local path,
    # wrote the InferenceService it would apply and applied nothing.
    deployed = sorted(p.name for p in run_dir.iterdir() if p.name.startswith("deploy"))
    assert deployed == ["deploy"], deployed  # the compressed branch only
    from serving.inferenceservice import validate_inference_service

    body = validate_inference_service(yaml.safe_load(
        (run_dir / "deploy" / "inference_service").read_text()))
    assert body["spec"]["predictor"]["containers"][0]["env"][0]["value"] == str(compressed)
    info = _metadata(run_dir / "deploy", "inference_service")
    assert info["applied"] is False and "path on this machine" in info["not_applied"]
    assert "deploy: not applied" in out and "python -m serving --model-dir" in out
    assert out.rstrip().splitlines()[-1].startswith("RESULT ")


@pytest.mark.slow
def test_finetune_variant_from_the_model_of_an_earlier_run(tmp_path_factory, tmp_path):
    parent = shared_run(tmp_path_factory).root / "model"  # run A: the session's default run
    _, out, run_dir = _run(tmp_path, "--parent-model", str(parent), "--finetune-mode", "freeze")
    child = tmp_path / "model"
    result = json.loads(out.rstrip().splitlines()[-1][len("RESULT "):])
    assert result["model_dir"] == str(child)
    parent_meta = json.loads((parent / "meta.json").read_text())
    hyper = json.loads((child / "meta.json").read_text())["hyperparameters"]
    sha = hashlib.sha256((parent / "weights.pt").read_bytes()).hexdigest()
    assert hyper["parent_sha256"] == sha and hyper["finetune_mode"] == "freeze"
    assert hyper["parent_data_source"] == parent_meta["hyperparameters"]["data_source"] != ""
    assert hyper["parent_classes"] == parent_meta["classes"]
    assert _metadata(run_dir / "train", "model")["parent_sha256"] == sha
    # The parent's architecture is trained (not the new search's), and `freeze` kept every
    # weight but the head's: the child really started from the parent.
    assert (child / "architecture.json").read_text() == (parent / "architecture.json").read_text()
    before = torch.load(parent / "weights.pt", weights_only=True)
    after = torch.load(child / "weights.pt", weights_only=True)
    body = [k for k in before if not k.startswith("head.")]
    assert body and all(torch.equal(before[k], after[k]) for k in body)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("head."))
