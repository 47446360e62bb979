"""Smoke run of benchmarks/nac_digits.py --quick: table plus a RESULT line with every key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_nac_digits_quick():
    out = subprocess.run([sys.executable, "benchmarks/nac_digits.py", "--quick"], cwd=ROOT,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True,
                         text=True, timeout=600, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("RESULT ")
    result = json.loads(lines[-1][len("RESULT "):])
    for key in ("nac_test_error", "initial_test_error", "random_test_error_median",
                "search_seconds", "stats_overhead_ratio"):
        assert isinstance(result[key], float), key
    assert 0 <= result["nac_test_error"] <= 1 and result["search_seconds"] > 0
    assert result["stats_overhead_ratio"] > 0
    assert any(line.startswith("nac ") for line in lines)
    assert any(line.startswith("random ") for line in lines)
