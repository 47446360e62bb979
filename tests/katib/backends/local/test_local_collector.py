"""Katib StdOut collector semantics: filters, strategies, timestamps, `unavailable`."""

from __future__ import annotations

from katib.backends.local.collector import ZERO_TIME, MetricsCollector, text_line_stamp
from katib.trial.metric_lines import metric_line
from tests.conformance.pins import KATIB

FILE_MC = "pkg/metricscollector/v1beta1/file-metricscollector/file-metricscollector.go"
WEBHOOK = "pkg/webhook/v1beta1/pod/utils.go"
MYSQL = "pkg/db/v1beta1/mysql/mysql.go"
TRIAL_UTIL = "pkg/controller.v1beta1/trial/trial_controller_util.go"

DEFAULT = (r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)",)
NAC_FORMATS = (r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)", r"(nac-stats)=(\{\S+\})")


def _collect(lines: list[str], strategies: dict[str, str], formats=DEFAULT,
             names=("accuracy", "loss")) -> MetricsCollector:
    col = MetricsCollector(names, strategies, formats)
    for line in lines:
        col.feed(line)
    return col


def test_default_filter_and_strategies() -> None:
    lines = ["2026-01-01T00:00:00Z epoch=1 accuracy=0.5 loss = 0.9",
             "accuracy=.98 loss=0.1", "accuracy=0.7 loss=0.3", "Score=-7.53e-05 ignored"]
    col = _collect(lines, {"accuracy": "max", "loss": "min"})
    # The printed text is kept verbatim (".98"), as Katib stores strings.
    assert col.observation() == {"accuracy": ".98", "loss": "0.1"}
    col = _collect(lines, {"accuracy": "latest", "loss": "max"})
    # The first line is the only one with a timestamp: every other line is at Go's zero time,
    # so it is Katib's latest although printed first (test_latest_is_by_timestamp_...).
    assert col.observation() == {"accuracy": "0.5", "loss": "0.9"}
    assert col.values("accuracy") == [0.5, 0.98, 0.7]


def test_objective_never_printed_is_unavailable() -> None:
    col = _collect(["loss=0.3", "training done"], {"accuracy": "max", "loss": "min"})
    assert not col.objective_reported
    assert col.observation() == {"accuracy": "unavailable"}


def test_non_numeric_falls_back_to_latest() -> None:
    col = _collect(["accuracy=abc"], {"accuracy": "max", "loss": "min"})
    # The default filter matches an empty number after `=`: Katib records "" as the value.
    assert col.observation() == {"accuracy": ""}


def test_custom_metrics_format_reads_json_metric() -> None:
    stats = '{"v":1,"branches":{"c1/3x3":0.5}}'
    col = _collect([f"accuracy=0.9 nac-stats={stats}", "accuracy=0.95"],
                   {"accuracy": "max", "nac-stats": "latest"}, NAC_FORMATS,
                   names=("accuracy", "nac-stats"))
    assert col.observation() == {"accuracy": "0.95", "nac-stats": stats}


def test_lines_without_metric_names_are_skipped() -> None:
    col = _collect(["x=1 y=2"], {"accuracy": "max"}, names=("accuracy",))
    assert col.observation() == {"accuracy": "unavailable"}


def test_latest_is_by_timestamp_and_lines_without_one_are_at_zero_time() -> None:
    """Katib's StdOut `latest` is by time, not print order (kubeflow/katib@v0.19.0, pins.KATIB):
    - pkg/webhook/v1beta1/pod/utils.go wrapWorkerContainer appends `1>/var/log/katib/metrics.log
      2>&1` to the trial's command and the sidecar reads that file as TEXT
      (inject_webhook.go getMetricsCollectorArgs: `-format TEXT` for StdOut);
    - file-metricscollector.go parseLogsInTextFormat: `strings.SplitN(line, " ", 2)`, the first
      part parsed with time.RFC3339Nano is the MetricLog's TimeStamp, else
      `time.Time{}` (0001-01-01T00:00:00Z);
    - pkg/db/v1beta1/mysql/mysql.go GetObservationLog: `... ORDER BY time`;
    - pkg/controller.v1beta1/trial/trial_controller_util.go getMetrics: `if timestamp == nil ||
      !timestamp.After(currentTime)` takes the value, so the newest time wins and, on a tie,
      the later log (the later printed line: the DB rows of one time in insertion order).
    """
    for where, symbol in [(WEBHOOK, "wrapWorkerContainer"), (FILE_MC, "parseLogsInTextFormat"),
                          (MYSQL, "GetObservationLog"), (TRIAL_UTIL, "getMetrics")]:
        assert KATIB.cite(where, symbol).startswith("kubeflow/katib@v0.19.0")
    latest = {"accuracy": "latest", "loss": "latest"}
    # A newer time printed first still wins; offsets compare as instants (01:30+02:00 is
    # 23:30Z of the day before).
    col = _collect(["2026-01-01T00:00:02Z accuracy=0.7", "2026-01-01T00:00:01.5Z accuracy=0.9",
                    "2026-01-01T01:30:00+02:00 accuracy=0.1"], latest)
    assert col.observation() == {"accuracy": "0.7"}
    assert col.values("accuracy") == [0.7, 0.9, 0.1]  # early stopping still sees print order
    # Lines without a timestamp (or with one Go cannot parse) are at zero time: they never
    # beat a timestamped line, and among themselves the last printed wins.
    col = _collect(["accuracy=0.1", "2026-01-01T00:00:00Z accuracy=0.5 loss=0.4",
                    "accuracy=0.8 loss=0.2", "2026-13-01T00:00:00Z accuracy=0.6",
                    "2026-01-01T00:00:00Z"], latest)
    assert col.observation() == {"accuracy": "0.5", "loss": "0.4"}
    assert _collect(["accuracy=0.1", "accuracy=0.3 loss=1", "x accuracy=0.2"],
                    latest).observation() == {"accuracy": "0.2", "loss": "1"}
    # A tie (same time, here the same microsecond from katib.trial's metric_line): later line.
    tie = "2026-01-01T00:00:03.000001Z"
    col = _collect([f"{tie} accuracy=0.3", f"{tie} accuracy=0.4",
                    "2026-01-01T00:00:03Z accuracy=0.9"], latest)
    assert col.observation() == {"accuracy": "0.4"}
    assert text_line_stamp(metric_line("accuracy", 0.3)) > ZERO_TIME  # katib.trial's lines
    assert text_line_stamp("2026-01-01T00:00:03Z accuracy=1") > text_line_stamp("accuracy=1")
    assert text_line_stamp("accuracy=1") == text_line_stamp("2026-01-01T00:00:03Z") == ZERO_TIME
