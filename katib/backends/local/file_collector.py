"""Katib's File metrics collector (TEXT and JSON) for a local trial, and the collector factory.

Semantics from Katib v0.19.0 pkg/metricscollector/v1beta1/file-metricscollector
(`CollectObservationLog`, `parseLogsInTextFormat`, `parseLogsInJsonFormat`, `parseTimestamp`)
and its sidecar cmd/metricscollector/v1beta1/file-metricscollector/main.go:
- the file is read whole when the trial ends; that read alone decides the observation;
- TEXT: a line counts only if it contains a metric name; the filters (`metricsFormat`, else the
  default) are applied with find-all; a line starting with an RFC3339 timestamp and a space
  carries that time, other lines time zero;
- JSON: every non-empty line must be a JSON object (one that is not fails the collection: no
  observation at all); a metric counts only when its value is a *string* (`{"accuracy":
  "0.97"}`, as the hypertune logger writes); time from the `timestamp` key (an RFC3339 string
  or epoch seconds);
- per metric, `latest` is the value with the newest timestamp (later line on a tie).
While the trial runs the file is also polled (on each line the trial prints) so medianstop and
asha can stop it, as Katib's sidecar tails the file when stop rules are set.

Where the file is: Katib mounts an emptyDir at the path's directory in each trial pod. Here the
container path is rewritten into the trial's own directory, `<workdir>/<trial>/<path without the
leading />`, in the trial's command and env too, so parallel trials never share a file and
nothing is written outside the work directory (docs/local-runner.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from katib import constants as c
from katib.backends.local.collector import (
    ZERO_TIME,
    MetricsCollector,
    rfc3339_key,
    text_line_stamp,
)
from katib.validation import Experiment
from katib.validation_rules import MetricsSource, metrics_source

#: An absolute path inside an argument or env value (after `=`, `:` or at the start).
_ABS_PATH = re.compile(r"(?:^|(?<=[=:,]))/[^\s=:,;'\"]*")


def json_time_key(value: Any) -> tuple[int, int] | None:
    """Katib's parseTimestamp: an RFC3339Nano string, or epoch seconds as a JSON number whose
    decimal digits are read as an integer count of nanoseconds (1.5 -> 1 s + 5 ns: Katib's
    arithmetic, kept so `latest` picks what the cluster picks)."""
    if isinstance(value, str):
        return rfc3339_key(value) if value else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    text = format(Decimal(repr(float(value))), "f")  # Go: FormatFloat(f, 'f', -1, 64)
    whole, _, frac = text.partition(".")
    return int(whole), int(frac or "0")


def localize_paths(argv: Sequence[str], env: Mapping[str, str], mount: str, root: Path
                   ) -> tuple[list[str], dict[str, str]]:
    """Rewrite absolute paths at, under or above (but not `/`) the container directory
    `mount` into `root` (the trial's directory), in every argument and env value."""
    mount = mount.rstrip("/") or "/"

    def swap(match: re.Match[str]) -> str:
        path = match.group(0)
        bare = path.rstrip("/")
        related = bare == mount or bare.startswith(mount + "/") or (
            bare and mount.startswith(bare + "/"))
        if not related:
            return path
        local = str(root / bare.lstrip("/"))
        return local + "/" if path.endswith("/") else local

    return ([_ABS_PATH.sub(swap, a) for a in argv],
            {k: _ABS_PATH.sub(swap, v) for k, v in env.items()})


class _LocalFiles(MetricsCollector):
    """A collector that reads what the trial writes under a container path (File, TFEvent)."""

    def __init__(self, names: Sequence[str], strategies: Mapping[str, str],
                 formats: Sequence[str], source: MetricsSource, trial_dir: Path) -> None:
        super().__init__(names, strategies, formats)
        self.source = source
        # Normalised, so no `..` can leave the trial directory (and "//" is "/").
        self.path = "/" + os.path.normpath("/" + source.path).lstrip("/")
        self.local = Path(trial_dir) / self.path.lstrip("/")
        self.trial_dir = Path(trial_dir)
        self.error = ""

    @property
    def mount(self) -> str:
        """The directory Katib mounts in the pod (getMountPath: the file's directory)."""
        if self.source.path_kind == "File":
            return os.path.dirname(self.path)
        return self.path

    def localize(self, argv: list[str], env: dict[str, str]
                 ) -> tuple[list[str], dict[str, str]]:
        """Point the trial at its own copy of the mount, fresh as a new pod's volume: what an
        earlier run of a trial of the same name left there is removed first."""
        if self.local.is_dir() and self.source.path_kind != "File":
            shutil.rmtree(self.local)
        elif self.local.is_file():
            self.local.unlink()
        (self.trial_dir / self.mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
        return localize_paths(argv, env, self.mount, self.trial_dir)

    def _reset(self) -> None:
        self._series = {}


class FileMetricsCollector(_LocalFiles):
    """Katib's File collector: TEXT or JSON lines in one file (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offset = 0  # bytes of complete lines already polled

    def feed(self, line: str) -> list[tuple[str, str]]:
        """A printed line is not a metric here; it is the cue to poll the file."""
        return self._poll()

    def finish(self) -> None:
        """Katib's CollectObservationLog: the whole file, read once the trial has ended."""
        self._reset()
        self.error = ""
        try:
            text = self.local.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            self.error = (f"the metrics file {self.source.path} (here {self.local}) was never "
                          "written; the trial must write its metrics there")
            return
        except OSError as e:
            self.error = f"cannot read the metrics file {self.local}: {e.strerror}"
            return
        try:
            self._parse(text.split("\n"))
        except ValueError as e:
            self._reset()
            self.error = str(e)

    def explain(self, message: str) -> str:
        if self.error:
            return self.error
        example = ('{"' + self.objective + '": "0.97", "timestamp": 1700000000.5} (values as '
                   'strings, as Katib reads them)') if self.source.format == "JSON" else \
            f"'{self.objective}=0.97' (matching spec.metricsCollectorSpec.source.filter)"
        return (f"objective metric {self.objective!r} never appeared in the metrics file "
                f"{self.source.path} (here {self.local}); write lines such as {example}")

    def _poll(self) -> list[tuple[str, str]]:
        try:
            with open(self.local, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        lines = chunk[:end].decode("utf-8", errors="replace").split("\n")
        try:
            return self._parse(lines)
        except ValueError:
            return []  # the final read reports it

    def _parse(self, lines: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for number, line in enumerate(lines, 1):
            if self.source.format == "JSON":
                found += self._json_line(line, number)
                continue
            found += self.parse_text(line, text_line_stamp(line))
        return found

    def _json_line(self, line: str, number: int) -> list[tuple[str, str]]:
        if not line:
            return []
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            obj, problem = None, str(e)
        else:
            problem = "not a JSON object"
        if not isinstance(obj, dict):
            raise ValueError(f"the metrics file {self.source.path} (here {self.local}) is not "
                             f"JSON lines: line {number}: {problem} (Katib's collector fails "
                             "on it and records no observation)")
        stamp = json_time_key(obj.get(c.TIMESTAMP_JSON_KEY)) or ZERO_TIME
        found = []
        for name in self.metric_names:
            value = obj.get(name)
            if isinstance(value, str):
                self.record(name, value, stamp)
                found.append((name, value))
        return found


def trial_collector(experiment: Experiment, trial_dir: Path) -> MetricsCollector:
    """The collector the Experiment's metricsCollectorSpec names, for one trial."""
    obj = experiment.objective
    spec = (experiment.document.get("spec") or {}) if experiment.document else {}
    source = metrics_source(spec.get("metricsCollectorSpec"))
    args = (obj.metric_names, obj.strategies, experiment.metrics_formats)
    if source.kind == "File":
        return FileMetricsCollector(*args, source, trial_dir)
    if source.kind == "TensorFlowEvent":
        from katib.backends.local.tfevent_collector import TfEventCollector

        return TfEventCollector(*args, source, trial_dir)
    return MetricsCollector(*args)


__all__ = ["FileMetricsCollector", "json_time_key", "localize_paths", "trial_collector"]
