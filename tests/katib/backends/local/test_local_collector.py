"""Katib StdOut collector semantics: filters, strategies, `unavailable`."""

from __future__ import annotations

from katib.backends.local.collector import MetricsCollector

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
    assert col.observation() == {"accuracy": "0.7", "loss": "0.9"}
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
