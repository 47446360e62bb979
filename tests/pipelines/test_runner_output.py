"""The local run's console output: kfp's executor-input dumps dropped, reports printed."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pipelines.runner import ExecutorInputFilter, print_reports


def test_executor_input_dump_is_dropped_and_step_lines_pass() -> None:
    dump = json.dumps({"inputs": {"parameterValues": {"seed": 0}}, "outputs": {"a": {}}},
                      indent=4)
    indented = "\n".join("    " + line for line in dump.splitlines())
    log = ("    [KFP Executor 2026 INFO]: Looking for component `ingest`\n"
           "    [KFP Executor 2026 INFO]: Got executor_input:\n"
           f"{indented}\n"
           "    nac_search: iteration 0: stage0 6+6 val_accuracy=0.96\n"
           "    [KFP Executor 2026 INFO]: Wrote executor output file\n")
    out = io.StringIO()
    filt = ExecutorInputFilter(out)
    for chunk in (log[:37], log[37:120], log[120:]):  # arbitrary write boundaries
        filt.write(chunk)
    filt.flush()
    text = out.getvalue()
    assert "parameterValues" not in text and "Got executor_input" not in text
    assert "nac_search: iteration 0: stage0 6+6 val_accuracy=0.96\n" in text
    assert "Looking for component" in text and "Wrote executor output file" in text


def test_print_reports_prints_markdown_and_points_at_html(tmp_path: Path, capsys) -> None:
    md = tmp_path / "ingest" / "report"
    md.parent.mkdir()
    md.write_text("# Ingest\n\n| class | rows |\n", encoding="utf-8")
    html = tmp_path / "nac-search" / "report"
    html.parent.mkdir()
    html.write_text("<html><body>grew</body></html>", encoding="utf-8")
    data = tmp_path / "ingest" / "dataset"
    data.mkdir()
    print_reports([("ingest", "report", md), ("nac-search", "report", html),
                   ("ingest", "dataset", data)])
    out = capsys.readouterr().out
    assert "----- ingest report -----\n# Ingest" in out
    assert f"nac-search report: HTML report at {html}" in out
    assert "<html>" not in out and "dataset" not in out
