"""Model artifact: a failed overwrite keeps the old artifact; damaged ones fail clearly."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import export_faults as ef


def test_failed_overwrite_keeps_previous_artifact(tmp_path: Path) -> None:
    outcome = ef.torn_save(tmp_path)
    assert outcome.problems == []
    assert outcome.faults == outcome.recovered == 1 and outcome.lost == 0


def test_damaged_artifacts_raise_model_or_spec_errors(tmp_path: Path) -> None:
    outcome = ef.damaged_artifacts(tmp_path)
    assert outcome.problems == []
    assert outcome.bad_inputs == outcome.rejected_cleanly >= 15
