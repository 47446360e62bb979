"""A tiny trial that writes its metrics where Katib's File / TensorFlowEvent collectors read them.

--format text: lines `<RFC3339> {metricName: accuracy, metricValue: 0.5}` (the shape of Katib's
file-metrics-collector example filter); json: hypertune-style lines `{"accuracy": "0.5",
"timestamp": <epoch s>}`; tfevent: event files under <path>/train and <path>/test written with
tensorboard's own writer (test: TF2 tensor summaries, train: old-style simple_value scalars,
with different values so a test can tell which directory was read); stdout: `loss=<v>` lines.
One value per --values entry (--sleep between them), each step also printed to stdout.
--marker FILE / --bad-after N: once N trials have started before this one, report 0.05 and,
from the third report on, sleep 30 s per step (a trial early stopping must end).
--loss-from-lr: the value is lr * 10 / epochs (hyperband: smaller lr, more epochs are better).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime


def _tfevent_writer(logdir: str):  # noqa: ANN202 - tensorboard types are optional here
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    os.makedirs(logdir, exist_ok=True)
    return EventFileWriter(logdir)


def _tf_event(step: int, tag: str, value: float, tensor: bool):  # noqa: ANN202
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    if tensor:  # what tf.summary.scalar writes in TF2
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        v = summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, float_val=[value]))
    else:  # what torch.utils.tensorboard's add_scalar writes
        v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    return event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[v]))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--format", choices=["text", "json", "tfevent", "stdout"], required=True)
    p.add_argument("--path", default="")
    p.add_argument("--values", default="0.5")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--marker", default="")
    p.add_argument("--bad-after", type=int, default=-1)
    p.add_argument("--lr", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--loss-from-lr", action="store_true")
    args = p.parse_args()
    earlier = 0
    if args.marker:
        if os.path.exists(args.marker):
            with open(args.marker) as f:
                earlier = sum(1 for _ in f)
        with open(args.marker, "a") as f:
            f.write(f"{os.getpid()}\n")
    values = [float(v) for v in args.values.split(",")]
    sleep, bad = args.sleep, 0 <= args.bad_after <= earlier
    if bad:
        values = [0.05] * 20
    if args.loss_from_lr:
        values = [args.lr * 10 / args.epochs]
    writers = {}
    if args.format == "tfevent":
        writers = {d: _tfevent_writer(os.path.join(args.path, d)) for d in ("train", "test")}
    elif args.format in ("text", "json"):
        os.makedirs(os.path.dirname(args.path), exist_ok=True)
    for step, value in enumerate(values):
        if args.format == "text":
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            line = f"{stamp} {{metricName: accuracy, metricValue: {value}}}"
        elif args.format == "json":
            line = json.dumps({"accuracy": str(value), "loss": str(1 - value),
                               "timestamp": time.time()})
        if args.format in ("text", "json"):
            with open(args.path, "a") as f:
                f.write(line + "\n")
        elif args.format == "tfevent":
            writers["test"].add_event(_tf_event(step, "accuracy", value, tensor=True))
            writers["train"].add_event(_tf_event(step, "accuracy", value / 2, tensor=False))
            for w in writers.values():
                w.flush()
        else:
            print(f"loss={value}", flush=True)
        print(f"step {step} written", flush=True)
        if sleep or (bad and step >= 2):
            time.sleep(30.0 if bad else sleep)
    for w in writers.values():
        w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
