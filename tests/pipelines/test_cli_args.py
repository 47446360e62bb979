"""CLI behaviour that needs no pipeline run: argument errors, submit, compile."""

from __future__ import annotations

import pytest
import yaml

from pipelines import runner
from pipelines.cli import main


def test_unknown_pipeline_parameter_is_named(capsys):
    assert main(["run", "--local", "--param", "train_epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown pipeline parameter 'train_epoch'" in err and "train_epochs" in err


def test_parameter_of_the_wrong_type_is_named(capsys):
    assert main(["run", "--local", "--param", "tune_trials=many"]) == 2
    assert "tune_trials='many' is not a valid Integer" in capsys.readouterr().err


def test_params_are_converted_to_pipeline_types():
    assert runner.coerce_params({"tune_trials": "3", "val_fraction": "0.2", "source": "x"}) == {
        "tune_trials": 3, "val_fraction": 0.2, "source": "x"}


def test_predict_on_a_directory_that_is_not_a_model(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path), "--source", "builtin:digits"]) == 2
    err = capsys.readouterr().err
    assert "is not a model artifact: meta.json is missing" in err
    assert not (tmp_path / "predictions.csv").exists()


def test_submit_without_a_compiled_package_says_how_to_make_one(tmp_path, capsys):
    assert main(["submit", "--host", "http://x", "--package", str(tmp_path / "no.yaml")]) == 2
    assert "run `python -m pipelines compile` first" in capsys.readouterr().err


def test_compile_writes_a_loadable_pipeline(tmp_path, capsys):
    out = tmp_path / "sub" / "p.yaml"
    assert main(["compile", "--output", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert docs[0]["pipelineInfo"]["name"] == "nac-automl" and "platforms" in docs[1]
    assert [p.name for p in out.parent.iterdir()] == ["p.yaml"]  # no temp file left


@pytest.mark.parametrize("argv", [["submit"], ["predict", "--model", "m"]])
def test_missing_required_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
