"""CLI behaviour that needs no pipeline run: argument errors, submit, compile."""

from __future__ import annotations

from types import SimpleNamespace

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


def test_submit_creates_a_run_and_prints_its_url(tmp_path, capsys, monkeypatch):
    calls = []

    class FakeClient:
        def __init__(self, host, namespace):
            calls.append(("init", host, namespace))

        def create_run_from_pipeline_package(self, path, **kw):
            calls.append(("run", path, kw))
            return SimpleNamespace(run_id="1234-abcd")

    import kfp

    monkeypatch.setattr(kfp, "Client", FakeClient)
    package = tmp_path / "p.yaml"
    runner.compile_pipeline(package)
    assert main(["submit", "--host", "http://kfp.example:8080/", "--experiment", "automl",
                 "--package", str(package), "--param", "train_epochs=5"]) == 0
    assert "run URL: http://kfp.example:8080/#/runs/details/1234-abcd" in capsys.readouterr().out
    assert calls[0] == ("init", "http://kfp.example:8080/", "kubeflow")
    kind, path, kw = calls[1]
    assert path == str(package)
    assert kw["experiment_name"] == "automl" and kw["arguments"] == {"train_epochs": 5}


def test_submit_without_a_compiled_package_says_how_to_make_one(tmp_path, capsys):
    assert main(["submit", "--host", "http://x", "--package", str(tmp_path / "no.yaml")]) == 2
    assert "run `python -m pipelines compile` first" in capsys.readouterr().err


def test_compile_writes_a_loadable_pipeline(tmp_path, capsys):
    out = tmp_path / "sub" / "p.yaml"
    assert main(["compile", "--output", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert docs[0]["pipelineInfo"]["name"] == "nac-automl" and "platforms" in docs[1]
    assert [p.name for p in out.parent.iterdir()] == ["p.yaml"]  # no temp file left


@pytest.mark.parametrize("argv", [["run"], ["predict", "--model", "m"]])
def test_missing_required_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
