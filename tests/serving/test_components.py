"""The `train` (with parent_model), `compress` and `deploy` components, called as functions."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from kfp import compiler, dsl

from components.compress import compress
from components.deploy import deploy
from components.train import train
from nac.export import save_model
from nac.model import build_model
from nac.spec import initial_envelopenet
from tests.components.digits_artifacts import digits_artifacts


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    return digits_artifacts(tmp_path_factory.mktemp("data"))


def _spec(classes: int = 10):
    return initial_envelopenet((1, 8, 8), classes, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))


@pytest.mark.slow
def test_train_from_parent_records_it_then_compress_keeps_numbers(tmp_path, splits):
    paths, s = splits
    parent_dir = save_model(tmp_path / "parent", build_model(_spec()), _spec(),
                            s.train.classes, normalization=s.train.normalization,
                            hyperparameters={"data_source": "builtin:digits"})
    arch = tmp_path / "architecture"
    arch.write_text(_spec(3).dumps())  # ignored: the parent's architecture is used
    hp = tmp_path / "hp"
    hp.write_text(json.dumps({"lr": "0.05"}))
    model = dsl.Model(uri=str(tmp_path / "model"))
    train.python_func(
        train_data=paths["train"], val_data=paths["val"], architecture=dsl.Artifact(
            uri=str(arch)), hyperparameters=dsl.Artifact(uri=str(hp)), model=model,
        metrics=dsl.Metrics(uri=str(tmp_path / "m")), training_log=dsl.Markdown(
            uri=str(tmp_path / "log.md")), epochs=2, include_val=False, seed=0,
        checkpoint_dir=str(tmp_path / "ckpt"), run_id="r",
        parent_model=dsl.Model(uri=str(parent_dir)), finetune_mode="full")
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    hyper = meta["hyperparameters"]
    assert len(hyper["parent_sha256"]) == 64 and hyper["parent_data_source"] == "builtin:digits"
    assert hyper["parent_classes"] == s.train.classes and hyper["finetune_mode"] == "full"
    assert model.metadata["parent_sha256"] == hyper["parent_sha256"]
    assert meta["normalization"] == s.train.normalization.to_json()

    out = dsl.Model(uri=str(tmp_path / "compressed"))
    selected = compress.python_func(
        model=model, train_data=paths["train"], test_data=paths["test"], compressed_model=out,
        metrics=dsl.Metrics(uri=str(tmp_path / "cm")), report=dsl.Markdown(
            uri=str(tmp_path / "c.md")), variants="fp32,int8", prune_epochs=0)
    assert selected in ("torch", "fp32", "int8") and out.metadata["selected"] == selected
    numeric = {k: v for k, v in out.metadata.items() if isinstance(v, float)}
    assert "int8_latency_ms_p50" in numeric and all(math.isfinite(v) for v in numeric.values())
    assert "| int8 |" in (tmp_path / "c.md").read_text()


def test_components_compile_with_optional_parent_and_deploy_inputs(tmp_path):
    for component in (train, compress, deploy):
        path = tmp_path / f"{component.name}.yaml"
        compiler.Compiler().compile(component, str(path))
        doc = yaml.safe_load(path.read_text())
        assert doc["deploymentSpec"]["executors"], component.name
    spec = yaml.safe_load((tmp_path / "train.yaml").read_text())
    assert spec["root"]["inputDefinitions"]["artifacts"]["parent_model"]["isOptional"] is True


def test_trainer_image_installs_what_compress_serve_and_deploy_need():
    """The predictor runs `python -m serving` and the compress step nac.compress in the trainer
    image: its lock pins the whole `serve` extra within its specifiers, and the Dockerfile
    copies the serving package and imports both at build time."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from tests.deploy.test_images import requirement_pins

    root = Path(__file__).resolve().parents[2]
    pins = requirement_pins(root / "images" / "trainer" / "requirements.txt")
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["serve"]
    for spec in map(Requirement, extra):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec} missing: run images/lock_requirements.py"
        assert spec.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    dockerfile = (root / "images" / "trainer" / "Dockerfile").read_text()
    assert "COPY serving/ /opt/nac/src/serving/" in dockerfile
    assert "import onnxruntime, torch_pruning, kserve, serving.model, nac.compress" in dockerfile
