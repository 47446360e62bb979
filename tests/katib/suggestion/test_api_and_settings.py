"""Wire compatibility with Katib v0.19 and the typed settings parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from katib.api import api_pb2
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.settings import Setting, SettingsTable

ROOT = Path(__file__).resolve().parents[3]

# (message, field, number) from Katib v0.19.0 pkg/apis/manager/v1beta1/api.proto.
KATIB_V019_FIELDS = [
    ("GetSuggestionsRequest", "experiment", 1), ("GetSuggestionsRequest", "trials", 2),
    ("GetSuggestionsRequest", "current_request_number", 4),
    ("GetSuggestionsRequest", "total_request_number", 5),
    ("ExperimentSpec", "parameter_specs", 1), ("ExperimentSpec", "objective", 2),
    ("ExperimentSpec", "algorithm", 3), ("ExperimentSpec", "early_stopping", 4),
    ("ExperimentSpec", "parallel_trial_count", 5), ("ExperimentSpec", "max_trial_count", 6),
    ("ExperimentSpec", "nas_config", 7), ("FeasibleSpace", "max", 1), ("FeasibleSpace", "min", 2),
    ("FeasibleSpace", "list", 3), ("FeasibleSpace", "step", 4),
    ("FeasibleSpace", "distribution", 5), ("TrialSpec", "objective", 2),
    ("TrialSpec", "parameter_assignments", 3), ("TrialSpec", "labels", 4),
    ("TrialStatus", "condition", 3), ("TrialStatus", "observation", 4),
    ("GraphConfig", "num_layers", 1), ("GraphConfig", "input_sizes", 2),
    ("GraphConfig", "output_sizes", 3), ("GetSuggestionsReply", "parameter_assignments", 1),
    ("GetSuggestionsReply", "algorithm", 2), ("GetSuggestionsReply", "early_stopping_rules", 3),
    ("EarlyStoppingRule", "start_step", 4),
]


@pytest.mark.parametrize(("message", "field", "number"), KATIB_V019_FIELDS)
def test_field_numbers_match_katib_v019(message: str, field: str, number: int) -> None:
    assert api_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name[field].number == number


def test_enums_match_katib_v019() -> None:
    assert api_pb2.TrialStatus.TrialConditionType.Value("EARLYSTOPPED") == 6
    assert api_pb2.TrialStatus.TrialConditionType.Value("UNKNOWN") == 7
    assert api_pb2.Distribution.Value("LOG_NORMAL") == 4
    assert api_pb2.ParameterType.Value("CATEGORICAL") == 4
    assert api_pb2.DESCRIPTOR.package == "api.v1.beta1"
    reply = api_pb2.GetSuggestionsReply.ParameterAssignments.DESCRIPTOR
    assert reply.fields_by_name["trial_name"].number == 2
    assert reply.fields_by_name["labels"].number == 3


def test_generate_reproduces_the_committed_stubs(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from katib.api.generate import generate; "
              "generate(Path(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, check=True,
                   timeout=120)
    for name in ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (ROOT / "katib/api" / name).read_text(), name
    assert "from . import api_pb2 as" in (tmp_path / "api_pb2_grpc.py").read_text()


TABLE = SettingsTable("algo", (
    Setting("n", "int", 3, "count", minimum=1, maximum=9, aliases=("count",)),
    Setting("x", "float", None, "scale", minimum=0.0),
    Setting("flags", "bool_list", (True, False), "per stage"),
    Setting("sizes", "int_list", (2, 2), "per stage", minimum=1),
    Setting("mode", "choice", "a", "mode", choices=("a", "b")),
))


def test_parse_fills_defaults_and_types() -> None:
    assert TABLE.parse({}) == {"n": 3, "x": None, "flags": (True, False), "sizes": (2, 2),
                               "mode": "a"}
    got = TABLE.parse([("count", "5"), ("x", "0.5"), ("flags", "false, true,1"),
                       ("sizes", "7,6,2"), ("mode", "B"), ("n", "")])
    assert got == {"n": 5, "x": 0.5, "flags": (False, True, True), "sizes": (7, 6, 2),
                   "mode": "b"}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("n", "10", "algorithm setting n='10' is invalid (above the maximum 9); allowed: integer "
                "in [1, 9]"),
    ("n", "2.5", "algorithm setting n='2.5' is invalid"),
    ("x", "inf", "algorithm setting x='inf' is invalid (not a finite number)"),
    ("flags", "true,maybe", "algorithm setting flags='true,maybe' is invalid (expected true or "
                            "false)"),
    ("sizes", "2,,2", "algorithm setting sizes='2,,2' is invalid (empty element)"),
    ("mode", "c", "allowed: one of a, b"),
    ("other", "1", "unknown algorithm setting 'other' for algorithm 'algo'; known settings: "
                   "flags, mode, n, sizes, x"),
])
def test_bad_values_name_setting_value_and_range(name: str, value: str, message: str) -> None:
    with pytest.raises(SuggestionInputError) as e:
        TABLE.parse({name: value})
    assert message in str(e.value)


def test_markdown_lists_every_setting() -> None:
    md = TABLE.markdown()
    for name in ("`n` (alias: count)", "`x`", "`flags`", "`sizes`", "`mode`"):
        assert name in md
