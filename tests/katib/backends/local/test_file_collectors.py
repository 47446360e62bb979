"""The File (TEXT, JSON) and TensorFlowEvent collectors with Katib's semantics, on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from katib.backends.local.collector import ZERO_TIME, rfc3339_key
from katib.backends.local.file_collector import (
    FileMetricsCollector,
    json_time_key,
    localize_paths,
)
from katib.backends.local.tfevent_collector import TfEventCollector, should_consider
from katib.validation import ExperimentError, parse_experiment
from katib.validation_rules import MetricsSource, metrics_source
from tests.conformance.pins import KATIB
from tests.katib.backends.local.experiments import hpo

TRIAL = str(Path(__file__).with_name("metrics_file_trial.py"))
FILE_MC = "pkg/metricscollector/v1beta1/file-metricscollector/file-metricscollector.go"
TFEVENT_MC = "pkg/metricscollector/v1beta1/tfevent-metricscollector/tfevent_loader.py"
#: The filter of Katib's examples/v1beta1/metrics-collector/file-metrics-collector.yaml.
EXAMPLE_FILTER = r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"


def _file(tmp_path: Path, lines: list[str], fmt: str, formats=(EXAMPLE_FILTER,),
          strategies=None) -> FileMetricsCollector:
    local = tmp_path / "katib" / "m.log"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("\n".join(lines) + "\n")
    col = FileMetricsCollector(("accuracy", "loss"), strategies or {"accuracy": "latest",
                                                                    "loss": "min"},
                               formats, MetricsSource("File", "/katib/m.log", "File", fmt),
                               tmp_path)
    col.finish()
    return col


def test_text_lines_use_the_filter_and_their_timestamps(tmp_path: Path) -> None:
    """kubeflow/katib@v0.19.0 (pins.KATIB)
    pkg/metricscollector/v1beta1/file-metricscollector/file-metricscollector.go
    parseLogsInTextFormat; latest by timestamp, the later line on a tie:
    pkg/controller.v1beta1/trial/trial_controller_util.go getMetrics."""
    assert KATIB.cite(FILE_MC, "parseLogsInTextFormat").startswith("kubeflow/katib@v0.19.0")
    col = _file(tmp_path, [
        "2026-01-01T00:00:02Z {metricName: accuracy, metricValue: 0.7}",
        "2026-01-01T00:00:01.5Z {metricName: accuracy, metricValue: 0.9}",  # older: not latest
        "epoch 3 {metricName: loss, metricValue: 0.25} {metricName: loss, metricValue: 0.5}",
        "accuracy=0.99 is not in the example's format",
    ], "TEXT")
    assert col.observation() == {"accuracy": "0.7", "loss": "0.25"}
    assert col.values("accuracy") == [0.7, 0.9]
    assert rfc3339_key("2026-01-01T00:00:01.5Z")[1] == 500_000_000
    assert rfc3339_key("not-a-time") is None


def test_json_lines_read_string_values_and_the_timestamp_key(tmp_path: Path) -> None:
    """kubeflow/katib@v0.19.0 file-metricscollector.go (FILE_MC) parseLogsInJsonFormat reads
    `jsonObj[m].(string)`: a number value is not a metric; parseTimestamp for the time."""
    col = _file(tmp_path, [
        json.dumps({"accuracy": "0.8", "loss": "0.4", "timestamp": 1700000002.0}),
        json.dumps({"accuracy": "0.6", "timestamp": "2023-11-14T22:13:21Z"}),  # older
        json.dumps({"accuracy": 0.99, "loss": 0.01}),  # numbers: ignored, as Katib does
        "",
    ], "JSON")
    assert col.observation() == {"accuracy": "0.8", "loss": "0.4"}
    assert col.values("accuracy") == [0.8, 0.6]
    # Katib's float arithmetic: the decimal digits are a count of nanoseconds.
    assert json_time_key(1.5) == (1, 5) and json_time_key(1700000000) == (1700000000, 0)
    assert json_time_key(True) is None and json_time_key({"a": 1}) is None


def test_json_that_is_not_json_lines_records_nothing_and_says_where(tmp_path: Path) -> None:
    """kubeflow/katib@v0.19.0 file-metricscollector.go (FILE_MC) parseLogsInJsonFormat: a line
    that is not JSON fails the whole collection."""
    col = _file(tmp_path, [json.dumps({"accuracy": "0.8"}), "accuracy=0.9"], "JSON")
    assert not col.objective_reported and col.observation() == {"accuracy": "unavailable"}
    assert "line 2" in col.explain("") and "not JSON lines" in col.explain("")


def test_missing_file_and_missing_metric_are_explained(tmp_path: Path) -> None:
    col = FileMetricsCollector(("accuracy",), {}, (EXAMPLE_FILTER,),
                               MetricsSource("File", "/katib/m.log", "File", "TEXT"), tmp_path)
    col.finish()
    assert "the metrics file /katib/m.log" in col.explain("") and "never written" in \
        col.explain("")
    col = _file(tmp_path, ["{metricName: loss, metricValue: 0.3}"], "TEXT")
    assert "objective metric 'accuracy' never appeared in the metrics file /katib/m.log" in \
        col.explain("")


def test_polling_reads_only_complete_lines(tmp_path: Path) -> None:
    """While the trial runs (the sidecar's watchMetricsFile) only whole lines count."""
    local = tmp_path / "katib" / "m.log"
    local.parent.mkdir(parents=True)
    col = FileMetricsCollector(("accuracy",), {}, (EXAMPLE_FILTER,),
                               MetricsSource("File", "/katib/m.log", "File", "TEXT"), tmp_path)
    assert col.feed("no file yet") == []
    local.write_text("{metricName: accuracy, metricValue: 0.5}\n{metricName: accur")
    assert col.feed("step 1") == [("accuracy", "0.5")]
    with open(local, "a") as f:
        f.write("acy, metricValue: 0.6}\n")
    assert col.feed("step 2") == [("accuracy", "0.6")]
    assert col.values("accuracy") == [0.5, 0.6]


def test_container_paths_are_rewritten_into_the_trial_directory(tmp_path: Path) -> None:
    """Katib mounts a volume at the path's directory in each pod (pod/utils.go getMountPath);
    locally each trial gets its own copy of that directory."""
    argv, env = localize_paths(
        ["python3", "/opt/train.py", "--log-path=/katib/mnist.log", "/katib", "/katibx/a",
         "--data=/var/data"], {"LOGS": "/katib/", "HOME": "/home/u"}, "/katib", tmp_path / "t1")
    assert argv == ["python3", "/opt/train.py", f"--log-path={tmp_path}/t1/katib/mnist.log",
                    f"{tmp_path}/t1/katib", "/katibx/a", "--data=/var/data"]
    assert env == {"LOGS": f"{tmp_path}/t1/katib/", "HOME": "/home/u"}
    # A Directory path: its parent in the command (the TFJob example's --log-path) too.
    argv, _ = localize_paths(["--log-path=/logs/"], {}, "/logs/test", tmp_path / "t2")
    assert argv == [f"--log-path={tmp_path}/t2/logs/"]


def test_validation_follows_katibs_webhook_on_the_defaulted_spec() -> None:
    """kubeflow/katib@v0.19.0 pkg/webhook/v1beta1/experiment/validator/validator.go
    validateMetricsCollector, on the spec defaulted by
    pkg/apis/controller/experiments/v1beta1/experiment_defaults.go setDefaultMetricsCollector."""
    assert metrics_source({"collector": {"kind": "File"}}) == MetricsSource(
        "File", "/var/log/katib/metrics.log", "File", "TEXT")
    assert metrics_source({"collector": {"kind": "TensorFlowEvent"}}) == MetricsSource(
        "TensorFlowEvent", "/var/log/katib/tfevent/", "Directory", "")
    cases = [
        ({"kind": "File"}, {"fileSystemPath": {"path": "rel/m.log", "kind": "File"}},
         "fileSystemPath.path: file path where metrics file exists is required"),
        ({"kind": "File"}, {"fileSystemPath": {"path": "/m.json", "format": "JSON"},
                            "filter": {"metricsFormat": ["(a)=(b)"]}},
         "source.filter: filter must be nil when format of metrics file is json"),
        ({"kind": "File"}, {"fileSystemPath": {"path": "/m.log", "format": "YAML"}},
         "fileSystemPath.format: format of metrics file is required"),
        ({"kind": "TensorFlowEvent"}, {"fileSystemPath": {"path": "/logs", "kind": "File"}},
         "directory path where tensorflow event files exist is required"),
        ({"kind": "TensorFlowEvent"}, {"fileSystemPath": {"path": "/logs", "format": "TEXT"}},
         "fileSystemPath.format: must be empty for TensorFlowEvent"),
        ({"kind": "PrometheusMetric"}, {}, "'PrometheusMetric' is not supported locally"),
        ({"kind": "Bogus"}, {}, "invalid metrics collector kind 'Bogus'"),
    ]
    for collector, source, expected in cases:
        doc = hpo(metricsCollectorSpec={"collector": collector, "source": source})
        with pytest.raises(ExperimentError) as info:
            parse_experiment(doc)
        assert expected in str(info.value), (collector, source)
    parse_experiment(hpo(metricsCollectorSpec={"collector": {"kind": "File"}}))  # defaulted


def test_tfevent_metric_names_follow_katibs_directory_rule(tmp_path: Path) -> None:
    """kubeflow/katib@v0.19.0 tfevent_loader.py (TFEVENT_MC) _should_consider and
    TFEventFileParser.parse_summary: real event files written by tensorboard's writer (test/:
    TF2 tensor summaries, train/: simple_value scalars at half)."""
    assert should_consider("accuracy", "test/accuracy", "/l/test/events.out")
    assert not should_consider("accuracy", "test/accuracy", "/l/train/events.out")
    assert should_consider("accuracy_top1", "accuracy", "/l/train/events.out")  # a prefix
    subprocess.run([sys.executable, TRIAL, "--format", "tfevent", "--path",
                    str(tmp_path / "logs"), "--values", "0.5,0.75"], check=True,
                   capture_output=True)

    def read(names: tuple[str, ...], path: str = "/logs") -> TfEventCollector:
        col = TfEventCollector(names, {n: "max" for n in names}, (),
                               MetricsSource("TensorFlowEvent", path, "Directory", ""), tmp_path)
        col.finish()
        assert col.error == "" and col.skipped == []
        return col

    col = read(("test/accuracy", "train/accuracy"))
    assert col.values("test/accuracy") == [0.5, 0.75]
    assert col.values("train/accuracy") == [0.25, 0.375]
    assert col.observation() == {"test/accuracy": "0.75", "train/accuracy": "0.375"}
    assert read(("accuracy",), "/logs/test").values("accuracy") == [0.5, 0.75]
    missing = read(("loss",), "/logs/test")
    assert not missing.objective_reported and "events.out.tfevents" in missing.explain("")
    assert ZERO_TIME[0] < 0  # Go's zero time, before any event's wall time


def test_each_trial_starts_with_a_fresh_volume_inside_its_directory(tmp_path: Path) -> None:
    """Like a new pod's emptyDir: a file a previous run of the same trial name left is gone,
    the directory exists, and `..` in the path cannot leave the trial directory."""
    stale = tmp_path / "katib" / "m.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("{metricName: accuracy, metricValue: 0.99}\n")
    col = FileMetricsCollector(("accuracy",), {}, (EXAMPLE_FILTER,),
                               MetricsSource("File", "/katib/m.log", "File", "TEXT"), tmp_path)
    argv, _ = col.localize(["--path=/katib/m.log"], {})
    assert argv == [f"--path={stale}"] and not stale.exists() and stale.parent.is_dir()
    col.finish()
    assert not col.objective_reported and "never written" in col.explain("")
    escape = FileMetricsCollector(("accuracy",), {}, (), MetricsSource(
        "File", "/../../m.log", "File", "TEXT"), tmp_path / "t")
    assert escape.local == tmp_path / "t" / "m.log"
