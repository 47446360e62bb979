"""The train / evaluate / search / tune step bodies called directly (`python_func`), real torch."""

from __future__ import annotations

import json

import pytest
from kfp import dsl

from components._impl.search import nac_settings, spec_from_trials
from components._impl.train import parse_hyperparameters
from components._impl.tune import warm_start_reference
from components.evaluate import evaluate
from components.train import train
from katib.backends import TrialResult
from nac.spec import initial_envelopenet, parse_architecture
from tests.components.digits_artifacts import digits_artifacts


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    return digits_artifacts(tmp_path_factory.mktemp("data"))[0]


def _tiny_spec():
    return initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                               stem_channels=16, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))


def test_train_then_evaluate_writes_model_metrics_and_reports(tmp_path, splits):
    arch = tmp_path / "architecture"
    arch.write_text(_tiny_spec().dumps())
    hp = tmp_path / "hp"
    hp.write_text(json.dumps({"lr": "0.1", "batch_size": "64"}))
    model = dsl.Model(uri=str(tmp_path / "model"))
    metrics = dsl.Metrics(uri=str(tmp_path / "train_metrics"))
    log = dsl.Markdown(uri=str(tmp_path / "log.md"))
    val_acc = train.python_func(
        train_data=splits["train"], val_data=splits["val"],
        architecture=dsl.Artifact(uri=str(arch)), hyperparameters=dsl.Artifact(uri=str(hp)),
        model=model, metrics=metrics, training_log=log, epochs=3, include_val=False, seed=0,
        checkpoint_dir=str(tmp_path / "ckpt"), run_id="run/1")
    assert 0.2 < val_acc <= 1.0  # 3 epochs of a tiny net: well above chance (0.1)
    assert (tmp_path / "ckpt" / "run_1" / "train").is_dir()  # run id sanitised, per run
    assert json.loads((tmp_path / "train_metrics").read_text())["val_accuracy"] == val_acc
    assert "| 3 |" in (tmp_path / "log.md").read_text()
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["hyperparameters"]["lr"] == 0.1 and meta["hyperparameters"]["batch_size"] == 64
    assert meta["normalization"] is not None

    m = dsl.Metrics(uri=str(tmp_path / "eval_metrics"))
    cm = dsl.ClassificationMetrics(uri=str(tmp_path / "cm"))
    report = dsl.Markdown(uri=str(tmp_path / "eval.md"))
    error = evaluate.python_func(model=dsl.Model(uri=str(tmp_path / "model")),
                                 test_data=splits["test"], metrics=m,
                                 classification_metrics=cm, report=report)
    assert 0.0 <= error < 0.8
    assert m.metadata["error"] == pytest.approx(error)
    rows = m.metadata["rows"]
    assert rows > 300  # the 20% test split of 1797 digits
    matrix = cm.metadata["confusionMatrix"]
    assert [a["displayName"] for a in matrix["annotationSpecs"]] == [str(i) for i in range(10)]
    assert sum(sum(r["row"]) for r in matrix["rows"]) == rows
    assert json.loads((tmp_path / "cm").read_text()) == cm.metadata  # cache workaround file
    assert "Confusion matrix" in (tmp_path / "eval.md").read_text()


def test_hyperparameters_are_typed_and_checked():
    assert parse_hyperparameters({"lr": "0.05", "batch_size": "32.0"}) == {"lr": 0.05,
                                                                          "batch_size": 32}
    with pytest.raises(ValueError, match="'optimizer' is not a training hyperparameter"):
        parse_hyperparameters({"optimizer": "adam"})
    with pytest.raises(ValueError, match="lr='fast' is not a number"):
        parse_hyperparameters({"lr": "fast"})


def test_nac_settings_apply_overrides_and_reject_unknown_names():
    s = nac_settings({"iterations": 2, "training": {"epochs": 1}}, seed=7)
    assert s.iterations == 2 and s.training.epochs == 1 and s.training.seed == 7
    with pytest.raises(ValueError, match="unknown NAC setting.*iteratoins"):
        nac_settings({"iteratoins": 2}, seed=0)
    with pytest.raises(ValueError, match="settings.training: unknown field.*epoch"):
        nac_settings({"training": {"epoch": 1}}, seed=0)


def test_katib_search_reads_the_highest_iteration_spec_back():
    a = _tiny_spec()
    b = initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(2, 1),
                            stem_channels=16, envelope=("1x1", "3x3"))
    stats = json.dumps({"v": 1, "branches": {"c1/1x1": 0.5}, "gates": {}})
    trials = [
        TrialResult("s-i0-r0", {"architecture": a.to_b64(), "iteration": "0", "seed": "0"},
                    {"accuracy": "0.9", "nac-stats": stats}, "Succeeded"),
        TrialResult("s-i1-r0", {"architecture": b.to_b64(), "iteration": "1", "seed": "1"},
                    {"accuracy": "0.95"}, "Succeeded"),
    ]
    final, rows = spec_from_trials(trials, parse_architecture)
    assert final == b
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[0]["stats"] == {"c1/1x1": 0.5} and rows[1]["val_accuracy"] == 0.95


def test_warm_start_reference_is_the_file_locally_and_the_experiment_on_a_cluster(tmp_path):
    results = tmp_path / "results"
    results.write_text(json.dumps({"format": "katib-local-results", "version": 1,
                                   "experiment": "tune-abc", "trials": []}))
    assert warm_start_reference(results, "local", namespace="") == str(results)
    assert warm_start_reference(results, "katib", namespace="team-a") == "katib://team-a/tune-abc"
    (tmp_path / "other").write_text(json.dumps({"format": "nac-model"}))
    with pytest.raises(ValueError, match="expected 'katib-local-results'"):
        warm_start_reference(tmp_path / "other", "local", namespace="")
