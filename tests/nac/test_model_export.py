"""Model artifact (contracts.md §7): atomic save, weights_only load, predict with normalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nac.data import Normalization
from nac.export import ModelError, load_model, predict, read_meta, save_model
from nac.model import build_model
from nac.spec import initial_envelopenet


def _spec():
    return initial_envelopenet((1, 8, 8), 3, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, envelope=("1x1", "3x3", "3x3sep"))


def _saved(tmp_path):
    torch.manual_seed(0)
    spec = _spec()
    model = build_model(spec).eval()
    norm = Normalization(mean=(4.0,), std=(2.0,))
    out = save_model(tmp_path / "model", model, spec, ["a", "b", "c"], normalization=norm,
                     hyperparameters={"lr": 0.1}, metrics={"val_accuracy": 0.5})
    return model, out


def test_round_trip_reproduces_outputs_with_weights_only(tmp_path):
    model, out = _saved(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["architecture.json", "meta.json",
                                                     "weights.pt"]
    state = torch.load(out / "weights.pt", weights_only=True)  # plain tensors, no code
    assert set(state) == set(model.state_dict())
    loaded, meta = load_model(out)
    assert meta.classes == ["a", "b", "c"] and meta.input_shape == (1, 8, 8)
    assert meta.hyperparameters == {"lr": 0.1} and meta.metrics == {"val_accuracy": 0.5}
    x = np.random.default_rng(0).uniform(0, 16, size=(5, 1, 8, 8)).astype(np.float32)
    probs = predict(loaded, meta, x)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy((x - 4.0) / 2.0)), dim=1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    assert json.loads((out / "meta.json").read_text())["format"] == "nac-model"


def test_weights_with_pickled_code_are_refused(tmp_path):
    _, out = _saved(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, out / "weights.pt")
    with pytest.raises(ModelError, match="weights.pt is not a readable state_dict.*Unpickling"):
        load_model(out)


def test_truncated_weights_are_refused_naming_the_file(tmp_path):
    _, out = _saved(tmp_path)
    data = (out / "weights.pt").read_bytes()
    (out / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="weights.pt is not a readable state_dict"):
        load_model(out)


def test_unknown_version_is_refused_naming_the_field(tmp_path):
    _, out = _saved(tmp_path)
    meta = json.loads((out / "meta.json").read_text())
    meta["version"] = 2
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match='"version" 2 of .nac-model. is not supported'):
        read_meta(out)


def test_class_count_mismatch_leaves_no_artifact(tmp_path):
    spec = _spec()
    with pytest.raises(ModelError, match="classes has 2 names"):
        save_model(tmp_path / "model", build_model(spec), spec, ["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_wrong_input_shape_names_the_fix(tmp_path):
    _, out = _saved(tmp_path)
    model, meta = load_model(out)
    with pytest.raises(ModelError, match="--image-shape 1x8x8"):
        predict(model, meta, np.zeros((2, 1, 4, 16), dtype=np.float32))
