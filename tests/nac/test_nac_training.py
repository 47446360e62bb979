"""The training loop: determinism, checkpoint/resume, statistics, evaluation, config checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nac.batches import augment
from nac.data import ingest, split_dataset
from nac.optimization import default_threads
from nac.spec import initial_envelopenet
from nac.training import TrainConfig, evaluate, train


@pytest.fixture(scope="module")
def digits():
    ds = ingest("builtin:digits")
    tr, va, te = split_dataset(ds, val_fraction=0.1, test_fraction=0.2, seed=0, augment_shift=1)
    return tr.subset(np.arange(256), split="train"), va, te, tr


@pytest.fixture(scope="module")
def tiny_spec():
    return initial_envelopenet((1, 8, 8), 10, stem_channels=8, stem_kernel=3, lrn=False,
                               layers_per_stage=(1, 1, 1))


CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.05, seed=7, threads=1, stats=True)


class _Stop(Exception):
    pass


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_learns_and_reports(digits, tiny_spec):
    _, va, _, full = digits
    seen = []
    r = train(tiny_spec, full, va, dataclasses.replace(CONFIG, epochs=3), on_epoch=seen.append)
    assert [h.epoch for h in r.history] == [1, 2, 3] and seen == r.history
    assert r.history[-1].train_loss < r.history[0].train_loss
    assert r.val_accuracy is not None and r.val_accuracy > 0.3
    assert set(r.branch_stats) == set(tiny_spec.branch_keys())
    assert all(v >= 0 for v in r.branch_stats.values())
    assert set(r.gate_stats) == set(tiny_spec.gate_keys())
    assert r.device == "cpu" and r.seconds > 0 and r.parameters > 0
    assert r.history[-1].lr == pytest.approx(0.0, abs=1e-9)  # cosine to min_lr=0


def test_same_seed_is_bitwise_reproducible(digits, tiny_spec):
    tr, _, _, _ = digits
    cfg = dataclasses.replace(CONFIG, epochs=1)
    a, b = train(tiny_spec, tr, None, cfg), train(tiny_spec, tr, None, cfg)
    assert _equal(_weights(a.model), _weights(b.model))
    c = train(tiny_spec, tr, None, dataclasses.replace(cfg, seed=8))
    assert not _equal(_weights(a.model), _weights(c.model))


def test_resume_is_bitwise_identical_and_skips_corrupt(digits, tiny_spec, tmp_path):
    tr, va, _, _ = digits
    full = train(tiny_spec, tr, va, dataclasses.replace(CONFIG, checkpoint_dir=str(tmp_path / "a")))
    assert full.resumed_from is None

    def stop_after_2(rec):
        if rec.epoch == 2:
            raise _Stop

    cfg = dataclasses.replace(CONFIG, checkpoint_dir=str(tmp_path / "b"))
    with pytest.raises(_Stop):
        train(tiny_spec, tr, va, cfg, on_epoch=stop_after_2)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ckpt-0001.pt", "ckpt-0002.pt"]
    resumed = train(tiny_spec, tr, va, cfg)
    assert resumed.resumed_from == 2
    assert _equal(_weights(full.model), _weights(resumed.model))
    assert resumed.branch_stats == pytest.approx(full.branch_stats, rel=1e-12)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]

    # a torn newest checkpoint is skipped in favour of the previous one
    cfg_c = dataclasses.replace(CONFIG, checkpoint_dir=str(tmp_path / "c"))
    with pytest.raises(_Stop):
        train(tiny_spec, tr, va, cfg_c, on_epoch=stop_after_2)
    newest = tmp_path / "c" / "ckpt-0002.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    (tmp_path / "c" / ".ckpt-killed.tmp").write_bytes(b"half a checkpoint")
    again = train(tiny_spec, tr, va, cfg_c)
    assert again.resumed_from == 1
    assert _equal(_weights(full.model), _weights(again.model))
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["ckpt-0002.pt", "ckpt-0003.pt"]

    # a finished run resumes to the end without training again
    done = train(tiny_spec, tr, va, cfg)
    assert done.resumed_from == 3 and _equal(_weights(full.model), _weights(done.model))


def test_checkpoints_of_another_run_are_refused(digits, tiny_spec, tmp_path):
    tr, _, _, _ = digits
    cfg = dataclasses.replace(CONFIG, epochs=1, checkpoint_dir=str(tmp_path))
    train(tiny_spec, tr, None, cfg)
    with pytest.raises(ValueError, match="checkpoint_dir: .* different run"):
        train(tiny_spec, tr, None, dataclasses.replace(cfg, lr=0.1))


def test_evaluate_outputs(digits, tiny_spec):
    tr, _, te, _ = digits
    r = train(tiny_spec, tr, None, dataclasses.replace(CONFIG, epochs=1, stats=False))
    ev = evaluate(r.model, te)
    assert ev.predictions.shape == (te.rows,) and ev.confusion.shape == (10, 10)
    assert ev.confusion.sum() == te.rows
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / te.rows)
    assert ev.accuracy == pytest.approx(float((ev.predictions == te.y).mean()))
    assert ev.error == pytest.approx(1 - ev.accuracy) and ev.loss > 0
    assert r.branch_stats == {}


def test_pipeline_evaluate_step_scores_like_evaluate(digits, tiny_spec):
    """The evaluate step (exported model's probabilities) and `nac.training.evaluate` (logits)
    give the same accuracy and confusion matrix, and the same loss up to float rounding."""
    from components._impl.evaluate import scores
    from nac.model import build_model

    _, _, te, _ = digits
    torch.manual_seed(3)
    model = build_model(tiny_spec).eval()
    ev = evaluate(model, te)
    with torch.no_grad():
        logits = model(torch.from_numpy(te.normalized_x().astype(np.float32)))
    s = scores(torch.softmax(logits, 1).numpy(), te.y, 10)
    assert np.array_equal(s["confusion"], ev.confusion) and s["accuracy"] == ev.accuracy
    assert s["loss"] == pytest.approx(ev.loss, rel=1e-4) and len(np.unique(ev.predictions)) > 1


def test_augment_shift_and_flip():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    g = torch.Generator().manual_seed(0)
    out = augment(x, {"random_shift": 1, "hflip": False}, g)
    assert out.shape == x.shape
    for i in range(2):  # each image is a shifted copy: its non-zero values are a sub-block
        nz = out[i, 0][out[i, 0] != 0]
        assert set(nz.tolist()) <= set(x[i, 0].flatten().tolist()) and nz.numel() >= 9
    flipped = augment(x, {"random_shift": 0, "hflip": True}, torch.Generator().manual_seed(1))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))
    assert augment(x, None, g) is x


def test_augment_matches_a_per_image_reference():
    """The one augmentation (torch, vectorised) against a plain loop over the same draws:
    shift by (dy - k, dx - k) with zero padding, then mirror the images whose draw is < 1/2."""
    x = torch.arange(5 * 2 * 6 * 5, dtype=torch.float32).reshape(5, 2, 6, 5) + 1
    k = 2
    out = augment(x, {"random_shift": k, "hflip": True}, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)  # replay the draws in the documented order
    dy = torch.randint(0, 2 * k + 1, (5,), generator=g)
    dx = torch.randint(0, 2 * k + 1, (5,), generator=g)
    flip = torch.rand(5, generator=g) < 0.5
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (k, k), (k, k)))
    for i in range(5):
        ref = padded[i, :, dy[i]:dy[i] + 6, dx[i]:dx[i] + 5]
        ref = ref[..., ::-1] if flip[i] else ref
        assert np.array_equal(out[i].numpy(), ref), i
    assert 0 < int(flip.sum()) < 5 and len(set(zip(dy.tolist(), dx.tolist(), strict=True))) > 1


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs: must be an integer >= 1"),
    ("lr", -1.0, "lr: must be a finite number >= 0"),
    ("momentum", 1.0, "momentum: must be in [0, 1)"),
    ("schedule", "step", "schedule: must be 'cosine' or 'constant'"),
    ("stat_mode", "entropy", "stat_mode: must be one of"),
    ("device", "tpu9", "device: 'tpu9' is not a torch device"),
    ("dropout", 1.2, "dropout: must be in [0, 1) or None"),
    ("grad_clip", 0.0, "grad_clip: must be > 0 or None"),
])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        TrainConfig(**{field: value})


def test_config_errors_carry_the_field_and_stat_mode_takes_the_old_name():
    from nac.errors import FieldError
    from nac.stat_mode import StatMode

    with pytest.raises(FieldError) as err:
        TrainConfig(label_smoothing=1.0)
    assert err.value.path == "label_smoothing" and err.value.problem.startswith("must be in")
    assert TrainConfig(stat_mode="mean_sq").stat_mode is StatMode.MEANSSS
    assert TrainConfig(stat_mode="variance").stat_mode is StatMode.VARIANCE
    # the checkpoint key keeps the spelling of earlier releases, so their checkpoints resume
    assert TrainConfig().fingerprint()["stat_mode"] == "mean_sq"


def test_data_shape_mismatch_is_named(digits):
    tr, _, _, _ = digits
    spec = initial_envelopenet((3, 8, 8), 10, stem_channels=8)
    with pytest.raises(ValueError, match=r"train_ds: examples have shape \[1, 8, 8\]"):
        train(spec, tr, None, TrainConfig(epochs=1))


def test_threads_auto_is_one_for_small_cpu_inputs(tiny_spec):
    cpu = torch.device("cpu")
    assert default_threads(None, tiny_spec.input_shape, cpu) == 1
    assert default_threads(3, tiny_spec.input_shape, cpu) == 3
    big = initial_envelopenet((3, 32, 32), 10, stem_channels=8)
    assert default_threads(None, big.input_shape, cpu) is None
    assert default_threads(None, tiny_spec.input_shape, torch.device("cuda")) is None


def test_requested_threads_is_explicit_then_omp_num_threads():
    """The one thread rule the trial CLI calls: an explicit count wins over the environment."""
    from nac.errors import FieldError
    from nac.optimization import requested_threads

    assert requested_threads(3, {"OMP_NUM_THREADS": "2"}) == 3
    assert requested_threads(None, {"OMP_NUM_THREADS": " 2 "}) == 2
    assert requested_threads(None, {"OMP_NUM_THREADS": "0"}) is None
    assert requested_threads(None, {}) is None
    with pytest.raises(FieldError) as err:
        requested_threads(0, {})
    assert err.value.path == "threads" and err.value.problem == "must be >= 1, got 0"
    with pytest.raises(FieldError, match="OMP_NUM_THREADS: 'x' is not an integer"):
        requested_threads(None, {"OMP_NUM_THREADS": "x"})
