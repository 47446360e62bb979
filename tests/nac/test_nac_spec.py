"""Architecture spec: builder, JSON round trip, and validation messages naming the field."""

from __future__ import annotations

import json
import sys

import pytest

from nac.spec import (
    ENVELOPE_OPS,
    ArchitectureSpec,
    SpecError,
    initial_envelopenet,
    parse_architecture,
)


def _doc(**changes):
    doc = initial_envelopenet((1, 8, 8), 10).to_json()
    doc.update(changes)
    return doc


def test_initial_envelopenet_reference_layout():
    spec = initial_envelopenet((3, 32, 32), 10)
    assert spec.cells_per_stage() == [2, 2, 2]
    assert spec.branch_counts() == [12, 12, 12]
    assert [s.width for s in spec.stages] == [64, 128, 256]
    assert [s.widener.channels if s.widener else None for s in spec.stages] == [64, 128, None]
    assert all(c.ops == ENVELOPE_OPS for c in spec.cells())
    # dense skips: entry i takes entries 0..i-2 (stem excluded, widener included)
    inputs = {c.id: c.inputs for c in spec.cells()}
    assert inputs == {"c1": (), "c2": (), "c3": ("c1", "c2"), "c4": ("c1", "c2", "w1"),
                      "c5": ("c1", "c2", "w1", "c3", "c4"),
                      "c6": ("c1", "c2", "w1", "c3", "c4", "w2")}
    assert spec.branch_keys()[:2] == ["c1/1x1", "c1/3x3"]
    assert "c1>c3" in spec.gate_keys() and "w1>c5" in spec.gate_keys()


def test_json_round_trip_and_b64():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=16, layers_per_stage=(1, 2, 1))
    assert ArchitectureSpec.from_json(spec.to_json()) == spec
    assert ArchitectureSpec.from_json(spec.dumps()) == spec
    assert parse_architecture(spec.to_b64()) == spec
    assert spec.to_b64().startswith("b64:") and "=" not in spec.to_b64()
    assert json.loads(spec.dumps())["format"] == "nac-architecture"


def test_parse_architecture_from_file(tmp_path):
    spec = initial_envelopenet((1, 8, 8), 3)
    path = tmp_path / "arch.json"
    path.write_text(spec.dumps(indent=2))
    assert parse_architecture(f"@{path}") == spec
    with pytest.raises(SpecError, match="cannot read"):
        parse_architecture(f"@{tmp_path / 'missing.json'}")


def test_spec_module_has_no_torch_import():
    import importlib
    import subprocess

    code = "import sys, nac.spec, nac.restructure; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(importlib.import_module("nac").__path__[0] + "/.."))
    assert out.stdout.strip() == "False"


def _bad(mutate) -> str:
    doc = initial_envelopenet((1, 8, 8), 10).to_json()
    mutate(doc)
    with pytest.raises(SpecError) as err:
        ArchitectureSpec.from_json(doc)
    return str(err.value)


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["stages"][1]["cells"][1]["ops"].__setitem__(0, "4x4"),
     "stages[1].cells[1].ops[0]: unknown op '4x4' (expected one of 1x1, 3x3, 3x3sep"),
    (lambda d: d.__setitem__("version", 2),
     "architecture: \"version\" 2 of 'nac-architecture' is not supported; this reader knows "
     "version 1"),
    (lambda d: d.__setitem__("format", "x"),
     "architecture: \"format\" is 'x', expected 'nac-architecture'"),
    (lambda d: d.pop("num_classes"), "num_classes: missing (required)"),
    (lambda d: d.__setitem__("num_classes", 1), "num_classes: must be >= 2, got 1"),
    (lambda d: d.__setitem__("input_shape", [1, 8]), "input_shape: must be [C, H, W]"),
    (lambda d: d["input_shape"].__setitem__(2, 0), "input_shape[2]: must be >= 1, got 0"),
    (lambda d: d.__setitem__("colour", "red"), "architecture: unknown field 'colour'"),
    (lambda d: d["stem"].__setitem__("kernel", 2), "stem.kernel: must be one of (1, 3, 5, 7)"),
    (lambda d: d["stages"][0]["cells"][0].__setitem__("width", 3),
     "stages[0].cells[0].width: 3 is less than its 6 branches"),
    (lambda d: d["stages"][0]["cells"][1].__setitem__("id", "c1"),
     "stages[0].cells[1].id: id 'c1' is already used by stages[0].cells[0]"),
    (lambda d: d["stages"][1]["cells"][0]["inputs"].append("c9"),
     "stages[1].cells[0].inputs[2]: 'c9' is not an earlier cell or widener id"),
    (lambda d: d["stages"][1]["cells"][0]["inputs"].append("w1"),
     "stages[1].cells[0].inputs[2]: 'w1' is the direct predecessor"),
    (lambda d: d["stages"][0]["cells"][0]["ops"].append("1x1"),
     "stages[0].cells[0].ops: op '1x1' appears twice"),
    (lambda d: d["stages"][2].__setitem__("widener", {"id": "w9", "channels": 4}),
     "stages[2].widener: the last stage has no widener"),
    (lambda d: d["stages"][0].__setitem__("widener", None),
     "stages[0].widener: required between stages"),
    (lambda d: d.__setitem__("skip", False),
     "stages[1].cells[0].inputs: must be empty when skip is false"),
    (lambda d: d.__setitem__("branch_dropout", 1.5), "branch_dropout: must be a number in [0, 1)"),
    (lambda d: d["head"].__setitem__("dropout", "x"), "head.dropout: must be a number in [0, 1)"),
    (lambda d: d["stages"][0]["cells"][0].__setitem__("ops", []),
     "stages[0].cells[0].ops: must list at least one op"),
    (lambda d: d.__setitem__("stages", []), "stages: must hold at least one stage"),
])
def test_validation_messages_name_the_field(mutate, expected):
    assert expected in _bad(mutate)


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["stages"][1]["cells"][1]["ops"].__setitem__(0, "4x4"),
     "stages[1].cells[1].ops[0]"),
    (lambda d: d["stages"][1]["cells"][0]["inputs"].append("w1"), "stages[1].cells[0].inputs[2]"),
    (lambda d: d.__setitem__("format", "x"), "architecture"),
    (lambda d: d.pop("num_classes"), "num_classes"),
])
def test_spec_error_path_is_the_field_the_message_starts_with(mutate, path):
    doc = initial_envelopenet((1, 8, 8), 10).to_json()
    mutate(doc)
    with pytest.raises(SpecError) as err:
        ArchitectureSpec.from_json(doc)
    assert err.value.path == path and str(err.value) == f"{path}: {err.value.problem}"


def test_bad_json_text():
    with pytest.raises(SpecError, match="architecture: not valid JSON"):
        ArchitectureSpec.from_json("{nope")
    with pytest.raises(SpecError, match="b64: payload"):
        parse_architecture("b64:%%%")
