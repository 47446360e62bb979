"""tune through the local Katib runner: real suggestion service, trial CLI subprocesses."""

from __future__ import annotations

import json

import pytest
from kfp import dsl

from components.tune import tune
from nac.data import ingest, split_dataset, write_dataset
from nac.spec import initial_envelopenet


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-data")
    s = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)
    write_dataset(s.train, root / "train")
    write_dataset(s.val, root / "val")
    spec = initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3"))
    (root / "arch.json").write_text(spec.dumps())
    return root


def _run(tmp_path, data, name, max_trials=2, **kw):
    out = {k: tmp_path / name / k for k in ("best", "results", "report.md", "metrics",
                                             "pareto.html")}
    best = dsl.Artifact(uri=str(out["best"]))
    results = dsl.Artifact(uri=str(out["results"]))
    report = dsl.Markdown(uri=str(out["report.md"]))
    metrics = dsl.Metrics(uri=str(out["metrics"]))
    text = tune.python_func(
        train_data=dsl.Dataset(uri=str(data / "train")),
        val_data=dsl.Dataset(uri=str(data / "val")),
        architecture=dsl.Artifact(uri=str(data / "arch.json")), best_hyperparameters=best,
        results=results, report=report, metrics=metrics,
        pareto=dsl.HTML(uri=str(out["pareto.html"])),
        search_space=kw.pop("search_space", json.dumps([
            {"name": "lr", "parameterType": "double",
             "feasibleSpace": {"min": "0.05", "max": "0.2"}}])),
        max_trials=max_trials, parallel_trials=1, epochs=1, **kw)
    return text, out, metrics


def test_tune_runs_trials_and_outputs_best_and_warm_start_source(tmp_path, data, monkeypatch):
    from katib.backends.local import backend

    sent = []
    real = backend.run_experiment

    def spy(experiment, **kw):
        sent.append(experiment.document)
        return real(experiment, **kw)

    monkeypatch.setattr(backend, "run_experiment", spy)
    text, out, metrics = _run(tmp_path, data, "first", algorithm="warm-start", backend="local",
                              seed=0, warm_start_source=None, experiment_name="",
                              namespace="", trial_image="", data_source="",
                              timeout_seconds=600)
    best = json.loads(out["best"].read_text())
    assert json.loads(text) == best and set(best) == {"lr"}
    assert 0.05 <= float(best["lr"]) <= 0.2
    results = json.loads(out["results"].read_text())
    assert results["format"] == "katib-local-results"
    assert [t["status"] for t in results["trials"]] == ["Succeeded", "Succeeded"]
    report = out["report.md"].read_text()
    assert report.count("| Succeeded |") == 2 and "**(best)**" in report
    assert metrics.metadata["trials_succeeded"] == 2

    # The first run's results seed a second Experiment (warm start).
    text2, out2, _ = _run(tmp_path, data, "second", max_trials=1, algorithm="warm-start",
                          backend="local",
                          seed=1, warm_start_source=dsl.Artifact(uri=str(out["results"])),
                          experiment_name="", namespace="", trial_image="", data_source="",
                          timeout_seconds=600)
    second = json.loads(out2["results"].read_text())
    assert second["experiment"] != results["experiment"]
    settings = {s["name"]: s["value"] for s in sent[-1]["spec"]["algorithm"]["algorithmSettings"]}
    assert settings["warm_start_source"] == str(out["results"])
    assert "warm_start_source" not in {
        s["name"] for s in sent[0]["spec"]["algorithm"]["algorithmSettings"]}


def test_unknown_backend_is_refused(tmp_path, data):
    with pytest.raises(ValueError, match="backend 'cluster' is not supported; use one of "
                                         "local, katib"):
        _run(tmp_path, data, "bad", algorithm="warm-start", backend="cluster", seed=0,
             warm_start_source=None, experiment_name="", namespace="", trial_image="",
             data_source="", timeout_seconds=60)
