"""The nac-stats metric: encode/decode and the StdOut filter of contracts.md §4."""

from __future__ import annotations

import re

import pytest

from katib import nac_stats

# The two metricsFormat filters the Experiment declares (contracts.md §4).
NUMERIC = re.compile(r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)")
STATS = re.compile(r"(nac-stats)=(\{\S+\})")


def test_round_trip_through_katibs_stdout_filter() -> None:
    stats = nac_stats.NACStats({"c1/3x3": 0.25, "c1/5x5sep": 1e-7}, {"c0>c2": -0.5})
    line = nac_stats.line(stats)
    assert " " not in line
    match = STATS.fullmatch(line)
    assert match and match.group(1) == "nac-stats"
    assert nac_stats.decode(match.group(2)) == stats
    # the numeric filter finds nothing in it (no `name=number` inside compact JSON)
    assert NUMERIC.findall(line) == []
    assert NUMERIC.findall("accuracy=0.97") == [("accuracy", "0.97")]


def test_variance_mode_is_labelled() -> None:
    text = nac_stats.encode({"c1/1x1": 2.0}, stat="variance")
    assert nac_stats.decode(text).stat == "variance"
    assert "stat" not in nac_stats.encode({"c1/1x1": 2.0})


@pytest.mark.parametrize(("text", "message"), [
    ("unavailable", "not JSON"),
    ('{"v":2,"branches":{}}', "field 'v' is 2"),
    ('{"v":1}', "field 'branches' is missing"),
    ('{"v":1,"branches":{"a":"x"}}', "branches['a'] must be a number"),
    ('{"v":1,"branches":{},"stat":"median"}', "field 'stat' is 'median'"),
])
def test_decode_rejects_with_named_field(text: str, message: str) -> None:
    with pytest.raises(nac_stats.NACStatsError, match=re.escape(message)):
        nac_stats.decode(text)


def test_encode_refuses_non_finite() -> None:
    with pytest.raises(nac_stats.NACStatsError, match="must be finite"):
        nac_stats.encode({"c1/1x1": float("nan")})


def test_average_is_per_key_mean() -> None:
    a = nac_stats.NACStats({"k": 1.0, "only_a": 5.0}, {"g": 2.0})
    b = nac_stats.NACStats({"k": 3.0}, {"g": 4.0})
    assert nac_stats.average([a, b]) == ({"k": 2.0, "only_a": 5.0}, {"g": 3.0})
