"""Fuzzed CSV/NPZ sources and damaged artifacts: DataError or a valid artifact, never debris."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import data_fuzz as df

EXAMPLES = 150


def test_fuzzed_ingest_is_dataerror_or_valid_artifact(tmp_path: Path) -> None:
    outcome = df.fuzz_ingest(tmp_path, examples=EXAMPLES, seed=0)
    assert outcome.problems == [], outcome.problems[:5]
    assert outcome.bad_inputs == EXAMPLES == outcome.rejected_cleanly and outcome.lost == 0
    results = outcome.extra["results"]
    assert results.get("DataError", 0) > 0 and results.get("accepted", 0) > 0, results


def test_fuzzed_preprocess_is_dataerror_or_valid_splits(tmp_path: Path) -> None:
    outcome = df.fuzz_preprocess(tmp_path, examples=EXAMPLES, seed=0)
    assert outcome.problems == [], outcome.problems[:5]
    assert outcome.bad_inputs == EXAMPLES == outcome.rejected_cleanly and outcome.lost == 0
    results = outcome.extra["results"]
    assert results.get("DataError", 0) > 0 and results.get("accepted", 0) > 0, results
