"""nac.compress: ONNX parity, INT8/FP16 size, pruning MACs, selection, artifact contents."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from nac.compress import COMPRESSION_FILE, CompressConfig, compress_model, read_compression, select
from nac.compress.onnx_variants import export_onnx, ort_session, parity
from nac.compress.prune import count_macs, prepare_for_pruning, prune_and_finetune
from nac.data import Dataset, fit_normalization
from nac.export import load_model, predict, save_model
from nac.spec import initial_envelopenet
from nac.training import TrainConfig, train


def _data(rows: int = 96, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    x = (rng.normal(size=(rows, 1, 8, 8)) * 2 + 5 + 3 * y[:, None, None, None]).astype(
        np.float32)
    ds = Dataset(x=x, y=y, classes=["a", "b", "c"], source="test:synthetic", split="train")
    ds.normalization = fit_normalization(ds)
    return ds


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    spec = initial_envelopenet((1, 8, 8), 3, stages=2, layers_per_stage=(1, 1),
                               stem_channels=16, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))
    ds = _data()
    result = train(spec, ds, None, TrainConfig(epochs=3, batch_size=16, threads=1))
    out = save_model(tmp_path_factory.mktemp("m") / "model", result.model, spec, ds.classes,
                     normalization=ds.normalization)
    return out, ds


def test_onnx_export_matches_torch_logits(trained, tmp_path):
    model_dir, ds = trained
    model, _ = load_model(model_dir)
    path = export_onnx(model, (1, 8, 8), tmp_path / "m.onnx")
    check = parity(model, ort_session(path), ds.normalized_x())
    assert check["argmax_agreement"] == 1.0 and check["max_abs_logit_diff"] <= 1e-4


def test_pruning_cuts_macs_keeps_outputs_shape_and_prepared_copy_is_exact(trained):
    model_dir, ds = trained
    model, _ = load_model(model_dir)
    x = torch.from_numpy(ds.normalized_x()[:8])
    prepared = prepare_for_pruning(model)
    assert torch.allclose(prepared(x), model(x), atol=1e-5)  # BN/gate rewrite is exact
    result = prune_and_finetune(model, ds, None, target_mac_ratio=0.5, epochs=1)
    assert result.mac_ratio <= 0.5 and result.macs_after == count_macs(result.model,
                                                                       (1, 8, 8))[0]
    assert result.model(x).shape == (8, 3)
    with pytest.raises(ValueError, match="target_mac_ratio"):
        prune_and_finetune(model, ds, None, target_mac_ratio=1.5)
    with pytest.raises(ValueError, match="prune steps"):
        prune_and_finetune(model, ds, None, steps=0)


def test_iterative_pruning_spreads_the_fine_tune_over_its_cuts(trained, monkeypatch):
    """Each cut ranks the channels of the network the previous fine-tune left; the epochs are
    spread over the cuts (5 over 3: 1, 2, 2) and every cut moves towards the target."""
    import nac.compress.prune as prune_module

    model_dir, ds = trained
    model, _ = load_model(model_dir)
    seen: list[tuple[int, int]] = []  # (epochs of this fine-tune, MACs of the net it gets)
    real_train = prune_module.train

    def recording_train(spec, train_ds, val_ds, config, *, init):
        net = init(None)
        seen.append((config.epochs, count_macs(net, (1, 8, 8))[0]))
        return real_train(spec, train_ds, val_ds, config, init=lambda _b: net)

    monkeypatch.setattr(prune_module, "train", recording_train)
    result = prune_and_finetune(model, ds, None, target_mac_ratio=0.5, epochs=5, steps=3)
    assert [e for e, _ in seen] == [1, 2, 2]
    macs = [m for _, m in seen]
    assert macs == sorted(macs, reverse=True) and len(set(macs)) == 3
    assert macs[0] < result.macs_before and result.mac_ratio <= 0.5


@pytest.mark.slow
def test_compress_model_writes_every_variant_and_finite_numbers(trained, tmp_path):
    model_dir, ds = trained
    out = tmp_path / "compressed"
    doc = compress_model(model_dir, out, ds, ds, CompressConfig(
        prune_epochs=1, latency_iters=10, calibration_rows=64), log=lambda *_: None)
    assert set(doc["variants"]) == {"torch", "fp32", "fp16", "int8", "pruned"}
    for name, numbers in doc["variants"].items():
        assert all(isinstance(v, float) and math.isfinite(v) for v in numbers.values()), name
    v = doc["variants"]
    assert v["int8"]["size_bytes"] < 0.6 * v["fp32"]["size_bytes"]  # tiny net: names weigh
    assert v["fp16"]["size_bytes"] < 0.6 * v["fp32"]["size_bytes"]
    assert v["pruned"]["macs"] < v["fp32"]["macs"]
    assert doc["selected"] == select(v, 0.005, "latency")
    assert json.loads((out / COMPRESSION_FILE).read_text()) == read_compression(out)
    assert sorted(p.name for p in (out / "onnx").iterdir()) == [
        "fp16.onnx", "fp32.onnx", "int8.onnx", "pruned.onnx"]
    model, meta = load_model(out)  # still a plain nac-model for predict/load_model
    assert predict(model, meta, ds.x[:4]).shape == (4, 3)


def test_selection_respects_the_accuracy_budget():
    base = {"accuracy": 0.99, "latency_ms_p50": 5.0, "throughput_rows_s": 100.0}
    variants = {"torch": base,
                "int8": {**base, "accuracy": 0.95, "latency_ms_p50": 1.0, "parity_ok": 1.0},
                "fp32": {**base, "latency_ms_p50": 2.0, "throughput_rows_s": 300.0,
                         "parity_ok": 1.0},
                "pruned": {**base, "accuracy": 0.988, "latency_ms_p50": 1.5,
                           "throughput_rows_s": 200.0, "parity_ok": 0.0}}
    assert select(variants, 0.005, "latency") == "fp32"  # int8 too inaccurate, pruned no parity
    assert select(variants, 0.05, "latency") == "int8"
    assert select(variants, 0.005, "throughput") == "fp32"


def test_bad_compress_settings_and_data_are_refused(trained, tmp_path):
    model_dir, ds = trained
    with pytest.raises(ValueError, match="accuracy_budget"):
        CompressConfig(accuracy_budget=5)
    with pytest.raises(ValueError, match="variants"):
        CompressConfig(variants=("int4",))
    other = Dataset(x=ds.x, y=ds.y, classes=["x", "y", "z"], source="s")
    with pytest.raises(ValueError, match="classes"):
        compress_model(model_dir, tmp_path / "out", other, ds)
    assert not (tmp_path / "out").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / COMPRESSION_FILE).write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="nac-compression"):
        read_compression(tmp_path / "bad")

