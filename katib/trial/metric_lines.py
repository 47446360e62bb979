"""Metric lines as Katib's StdOut collector reads them: ``<RFC 3339 time> <name>=<value>``.

Katib v0.19.0's file metrics collector (pkg/metricscollector/v1beta1/file-metricscollector/
file-metricscollector.go, parseLogsInTextFormat) splits each metric line once on a space and
parses the first part with Go's ``time.RFC3339Nano``; without that prefix every metric is
stored at ``0001-01-01T00:00:00Z`` and the Katib UI's curves collapse to one point. The
filters still match the rest of the line, so ``katib.local``'s collector (which applies the
same regexes to the whole line) reads these lines unchanged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: Leading timestamp of a metric line (UTC, microseconds, ``Z``: valid RFC3339Nano).
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")


def timestamp(now: datetime | None = None) -> str:
    """``2026-12-01T11:10:01.123456Z`` for `now` (default: the current time)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def metric_line(name: str, value: object, now: datetime | None = None) -> str:
    """One metric line, without the newline."""
    return f"{timestamp(now)} {name}={value}"


def strip_timestamp(line: str) -> str:
    """`line` without its leading timestamp (lines without one are returned unchanged)."""
    return TIMESTAMP.sub("", line, count=1)
