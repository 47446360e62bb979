"""Katib's TensorFlowEvent metrics collector for a local trial.

Semantics from Katib v0.19.0 pkg/metricscollector/v1beta1/tfevent-metricscollector/
tfevent_loader.py (`TFEventFileParser.parse_summary`, `_should_consider`,
`MetricsCollector.parse_file`) and cmd/metricscollector/v1beta1/tfevent-metricscollector/main.py:
- once the trial has ended (Katib's sidecar waits for the main process; it has no early
  stopping), every file under `fileSystemPath.path` (kind Directory) is loaded with
  tensorboard's EventAccumulator, the reader Katib uses; a file it cannot load is skipped;
- a tag counts for metric `m` when it starts with the last `/`-part of `m` and the event
  file's directory ends with `m`'s directory part (`test/accuracy` reads tag `accuracy` from
  files under `.../test`), else (a plain `accuracy`) with any directory;
- TF2 tensor summaries (`tf.summary.scalar`) are read first, then old-style scalars
  (`simple_value`, what torch.utils.tensorboard writes); values as Katib formats them
  (`str(make_ndarray(tensor))`, `str(scalar.value)`), stamped with the event's wall time to the
  second (Katib's rfc3339 string), so `latest` is the newest, the later one on a tie.

tensorboard (the `tfevent` extra) is imported only when an Experiment uses this collector.
"""

from __future__ import annotations

import os
from pathlib import Path

from katib.backends.local.file_collector import _LocalFiles


def should_consider(tag: str, metric_name: str, tfefile: str) -> bool:
    """Katib's `_should_consider`, verbatim in meaning."""
    parent = os.path.dirname(metric_name) if len(metric_name.split("/")) >= 2 \
        else os.path.dirname(tfefile)
    return tag.startswith(metric_name.split("/")[-1]) and \
        os.path.dirname(tfefile).endswith(parent)


class TfEventCollector(_LocalFiles):
    """Reads the event files under the trial's directory once it ends (see module docstring)."""

    def feed(self, line: str) -> list[tuple[str, str]]:
        return []  # Katib's tfevent collector reports only at the end

    def finish(self) -> None:
        self._reset()
        self.error = ""
        self.skipped: list[str] = []
        try:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            from tensorboard.backend.event_processing.tag_types import SCALARS, TENSORS
            from tensorboard.util.tensor_util import make_ndarray
        except ImportError:
            self.error = ("the TensorFlowEvent collector needs tensorboard: pip install "
                          "'kubeflow-nac-automl[tfevent]'")
            return
        if not self.local.is_dir():
            self.error = (f"the event directory {self.source.path} (here {self.local}) was never "
                          "created; the trial must write its tfevents files there")
            return
        for root, _, files in sorted(os.walk(self.local)):
            for name in sorted(files):
                path = str(Path(root) / name)
                try:
                    acc = EventAccumulator(path, size_guidance={SCALARS: 0, TENSORS: 0})
                    acc.Reload()
                    tags = acc.Tags()
                    for tag in tags[TENSORS]:
                        for m in self.metric_names:
                            if should_consider(tag, m, path):
                                for t in acc.Tensors(tag):
                                    self.record(m, str(make_ndarray(t.tensor_proto)),
                                                (int(t.wall_time), 0))
                    for tag in tags[SCALARS]:
                        for m in self.metric_names:
                            if should_consider(tag, m, path):
                                for s in acc.Scalars(tag):
                                    self.record(m, str(s.value), (int(s.wall_time), 0))
                except Exception as e:  # Katib logs and skips a file it cannot load
                    self.skipped.append(f"{path}: {e}")

    def explain(self, message: str) -> str:
        if self.error:
            return self.error
        names = ", ".join(sorted({f.name for f in self.local.rglob("*") if f.is_file()})) \
            if self.local.is_dir() else ""
        return (f"objective metric {self.objective!r} was not in any event file under "
                f"{self.source.path} (here {self.local}; files: {names or 'none'}); write it "
                f"with tf.summary.scalar('{self.objective}', ...) or SummaryWriter.add_scalar")
