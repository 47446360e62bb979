"""The whole pipeline through kfp.local (SubprocessRunner, use_venv=False) with tiny budgets,
then batch prediction with the Model it produced, both through the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pipelines.cli import main
from tests.pipelines.local_run import shared_run


def _result(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1 and out.rstrip().endswith(lines[0])
    return json.loads(lines[0][len("RESULT "):])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return shared_run(tmp_path_factory)


@pytest.mark.slow
def test_run_local_leaves_process_state_as_it_found_it(local_run):
    """run_local scopes its os.environ, warnings-filter and stdout changes to the call."""
    before, after = local_run.state
    assert local_run.exit_code == 0 and before["environ"] and before["warnings.filters"]
    assert after["environ"] == before["environ"]
    assert after["warnings.filters"] == before["warnings.filters"]
    assert after["stdout"] is before["stdout"]


@pytest.mark.slow
def test_run_local_then_predict(local_run, capsys, tmp_path):
    root = local_run.root
    assert local_run.exit_code == 0
    out = local_run.out
    result = _result(out)
    assert set(result) == {"test_error", "wall_seconds", "model_dir"}
    assert 0.0 <= result["test_error"] < 0.9  # two epochs of a tiny net: better than chance
    model_dir = root / "model"
    assert result["model_dir"] == str(model_dir)
    assert sorted(p.name for p in model_dir.iterdir()) == ["architecture.json", "meta.json",
                                                           "weights.pt"]
    # Where every artifact landed, and the final metrics, are printed.
    for step, output in [("ingest", "dataset"), ("preprocess", "test"),
                         ("nac-search", "architecture"), ("nac-search", "report"),
                         ("tune", "best_hyperparameters"), ("tune", "report"),
                         ("train", "model"), ("evaluate", "classification_metrics")]:
        assert any(step in line and output in line and str(root) in line
                   for line in out.splitlines()), (step, output)
    assert "final metrics (evaluate" in out and "accuracy" in out
    run_dir = next((root / "runs").glob("nac-automl-*"))
    report = (run_dir / "nac-search" / "report").read_text()
    assert "<svg" in report and "Per iteration" in report

    # Batch prediction on a labelled CSV written from digits.
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = tmp_path / "digits.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"p{i}" for i in range(64)] + ["label"])
        for x, y in zip(digits.data[:50], digits.target[:50], strict=True):
            w.writerow([*(int(v) for v in x), int(y)])
    preds = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(model_dir), "--source", str(data),
                 "--image-shape", "1x8x8", "--output", str(preds)]) == 0
    pred = _result(capsys.readouterr().out)
    assert pred["rows"] == 50 and 0.0 <= pred["accuracy"] <= 1.0
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == 50 and set(rows[0]) == {"row", "prediction", "probability", "label"}
    acc = np.mean([r["prediction"] == r["label"] for r in rows])
    assert acc == pytest.approx(pred["accuracy"])

    # Unlabelled rows: no accuracy, predictions only.
    bare = tmp_path / "bare.csv"
    with bare.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"p{i}" for i in range(64)])
        for x in digits.data[:7]:
            w.writerow([int(v) for v in x])
    assert main(["predict", "--model", str(model_dir), "--source", str(bare),
                 "--output", str(tmp_path / "bare-preds.csv")]) == 0
    assert _result(capsys.readouterr().out) == {"rows": 7}
