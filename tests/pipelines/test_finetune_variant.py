"""The fine-tuning variant from the CLI: `compile --finetune` (checked-in golden file) and the
`run --parent-model` arguments that are refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.cli import COMPILED, COMPILED_FINETUNE, main
from tests.pipelines.test_compiled_pipeline import _strip_versions


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("finetune") / "automl-finetune.yaml"
    assert main(["compile", "--finetune", "--output", str(out)]) == 0
    return list(yaml.safe_load_all(out.read_text()))


def test_checked_in_finetune_yaml_is_current(compiled):
    golden = list(yaml.safe_load_all(COMPILED_FINETUNE.read_text()))
    assert _strip_versions(golden) == _strip_versions(compiled), (
        "pipelines/automl-finetune.yaml is stale: run `python -m pipelines compile --finetune` "
        "(or `make compile`) and commit it")


def test_finetune_variant_is_the_default_pipeline_plus_the_parent(compiled, tmp_path):
    """Same steps and parameters as the default pipeline, plus the importer feeding train's
    parent_model and the two run parameters."""
    assert main(["compile", "--output", str(tmp_path / "default.yaml")]) == 0
    default = next(yaml.safe_load_all((tmp_path / "default.yaml").read_text()))
    doc = compiled[0]
    params = doc["root"]["inputDefinitions"]["parameters"]
    default_params = default["root"]["inputDefinitions"]["parameters"]
    assert set(params) - set(default_params) == {"parent_model_uri", "finetune_mode"}
    assert {k: v for k, v in params.items() if k in default_params} == default_params
    assert "defaultValue" not in params["parent_model_uri"]  # required
    tasks, default_tasks = doc["root"]["dag"]["tasks"], default["root"]["dag"]["tasks"]
    assert set(tasks) - set(default_tasks) == {"importer"}
    assert tasks["train"]["inputs"]["artifacts"]["parent_model"] == {
        "taskOutputArtifact": {"outputArtifactKey": "artifact", "producerTask": "importer"}}
    for name in default_tasks:  # every other step is compiled exactly as in the default
        if name != "train":
            assert tasks[name] == default_tasks[name], name


def test_compile_finetune_defaults_to_its_own_file_not_the_checked_in_one(monkeypatch, tmp_path):
    from pipelines import runner

    written = []
    monkeypatch.setattr(runner, "compile_pipeline",
                        lambda output, options, finetune: written.append((output, finetune))
                        or Path(output))
    assert main(["compile", "--finetune"]) == 0 and main(["compile"]) == 0
    assert written == [(COMPILED_FINETUNE, True), (COMPILED, False)]


def _tiny_model(path: Path) -> Path:
    from nac.export import save_model
    from nac.model import build_model
    from nac.spec import initial_envelopenet

    spec = initial_envelopenet((1, 8, 8), 3, stages=1, layers_per_stage=(1,), stem_channels=4,
                               stem_kernel=3, lrn=False, envelope=("1x1",))
    return save_model(path, build_model(spec), spec, ["a", "b", "c"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--finetune-mode", "freeze"], "--finetune-mode needs --parent-model DIR"),
    (["--param", "finetune_mode=freeze"], "exists only in the fine-tuning variant"),
    (["--param", "parent_model_uri={tmp}/missing"], "no such directory"),
    (["--parent-model", "{tmp}/missing"], "no such directory"),
    (["--parent-model", "{tmp}"], "meta.json is missing"),
    (["--parent-model", "{model}", "--param", "finetune_mode=head"],
     "finetune_mode 'head': choose one of"),
    (["--parent-model", "{model}", "--output-dir", "{model}"], "is the parent Model"),
])
def test_bad_finetune_run_arguments_are_refused_before_running(tmp_path, capsys, argv, message):
    model = _tiny_model(tmp_path / "parent") if any("{model}" in a for a in argv) else None
    argv = [a.format(tmp=tmp_path, model=model) for a in argv]
    root = tmp_path / "runs"
    assert main(["run", "--local", "--pipeline-root", str(root), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not root.exists()  # refused before kfp.local started
