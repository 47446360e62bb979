"""The local controller loop: our suggestion service over loopback gRPC, trials as subprocesses.

It follows Katib's experiment/suggestion controllers (`experiment_controller.go`,
`suggestionclient.go`, `status_util.go`):
- `ValidateAlgorithmSettings` once before anything runs; INVALID_ARGUMENT fails the run with
  the service's message.
- Each round asks for `min(parallel - running, maxTrialCount - completed - running)` new
  assignments, sending the whole trial history (running ones too; MetricsUnavailable and
  EarlyStopped-without-observation excluded) with every `GetSuggestionsRequest`.
- The Experiment ends when the objective goal is reached (running trials are killed), when
  at least `maxFailedTrialCount` trials (and at least one) failed (Failed +
  MetricsUnavailable; `status_util.go UpdateExperimentStatusCondition` tests
  `failed != 0 && failed >= maxFailedTrialCount`), or when `maxTrialCount` trials completed.
Each trial runs the primary container's `command + args` with `cwd=` its own directory, the
container env merged over ours, and `cores // parallel` threads (capped by the container's CPU
limit), so parallel trials share the machine instead of oversubscribing it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from katib.backends.local.collector import MetricsCollector
from katib.backends.local.earlystop import make_early_stopping
from katib.backends.local.file_collector import trial_collector
from katib.backends.local.process import (
    SignalGuard,
    clip,
    launch_argv,
    terminate,
    usable_cores,
)
from katib.backends.local.progress import Progress, Snapshot
from katib.backends.local.proto import experiment_proto, history
from katib.backends.local.results import (
    ResultsError,
    TrialRecord,
    read_results,
    rfc3339,
    write_results,
)
from katib.backends.local.suggestion_client import (
    Assignments,
    RunnerError,
    SuggestionClient,
    SuggestionsExhausted,
)
from katib.backends.local.template import TemplateError, render_trial
from katib.backends.local.trial_outcome import TrialExit, classify_trial, recorded_metrics
from katib.backends.local.types import LocalRunOutcome, RunConfig
from katib.constants import THREAD_ENV_VARS
from katib.types import Reason, TrialStatus, best_trial
from katib.validation import Experiment

#: Lines of a failed trial's log quoted in its message.
_TAIL_LINES = 5
#: Seconds between progress refreshes while waiting for trials.
_TICK_SECONDS = 1.0

@dataclass
class _Running:
    record: TrialRecord
    proc: subprocess.Popen[str]
    collector: MetricsCollector
    log_path: Path
    started: float
    tail: list[str] = field(default_factory=list)
    stop: TrialStatus | None = None  # EARLY_STOPPED or KILLED when the runner ended it
    stop_message: str = ""


class LocalRunner:
    """Runs one Experiment to completion (see module docstring)."""

    def __init__(self, experiment: Experiment, config: RunConfig) -> None:
        self.exp = experiment
        self.cfg = config
        self.parallel = max(1, config.parallel or experiment.parallel_trial_count)
        self.max_trials = config.max_trials or experiment.max_trial_count
        if self.max_trials is not None:
            self.parallel = min(self.parallel, self.max_trials)
        cores = config.cores or usable_cores()
        self.threads = max(1, cores // self.parallel)
        self.trials: list[TrialRecord] = []
        self.running: dict[str, _Running] = {}
        self.algorithm_settings = list(experiment.algorithm_settings)
        self.requested = 0
        self._events: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._interrupt: int | None = None
        self._early = make_early_stopping(experiment)
        self.progress = Progress(experiment.name, experiment.objective.metric,
                                 enabled=config.progress)

    # ---- public ---------------------------------------------------------------------------

    def run(self) -> LocalRunOutcome:
        resumed = read_results(self.cfg.results, self.exp)
        self.trials = list(resumed.trials)
        if resumed.algorithm_settings:
            self._merge_settings(resumed.algorithm_settings)
        self.requested = len(self.trials)
        if self._early:
            for t in self.trials:
                if t.status is TrialStatus.SUCCEEDED:
                    self._early.add_succeeded(
                        t.name, _reported(t, self.exp, Path(self.cfg.results).parent))
        self.cfg.workdir.mkdir(parents=True, exist_ok=True)
        if self.trials or resumed.dropped:
            self.progress.message(
                f"resuming from {self.cfg.results}: {len(self.trials)} completed trials kept"
                + (f", {len(resumed.dropped)} interrupted trials will run again"
                   if resumed.dropped else ""))
        self.progress.message(
            f"experiment {self.exp.name}: algorithm {self.exp.algorithm_name}, parallel "
            f"{self.parallel}, {self.threads} threads per trial, max trials "
            f"{self.max_trials or 'unlimited'}; results -> {self.cfg.results}")
        with SignalGuard(self._on_signal), SuggestionClient() as client, \
                (self._early or contextlib.nullcontext()):
            client.validate(self._experiment_proto())
            if self._early:
                self._early.validate(self._experiment_proto())
            try:
                reason, message = self._loop(client)
            except BaseException:
                self._kill_all("the runner stopped on an error")
                if self.trials:
                    self._save()
                self.progress.close()
                raise
        write_results(self.cfg.results, self.exp, self.trials, self._persisted_settings())
        best = best_trial(self.trials, self.exp.objective)
        result = LocalRunOutcome(
            name=self.exp.name, reason=reason.value, message=message, trials=list(self.trials),
            results_file=Path(self.cfg.results), best=best,
            best_objective=best.objective_value(self.exp.objective) if best else None,
            interrupted_by=self._interrupt if reason is Reason.INTERRUPTED else None)
        self.progress.message(f"{message} ({reason.value})")
        self.progress.close()
        return result

    # ---- controller loop ------------------------------------------------------------------

    def _loop(self, client: SuggestionClient) -> tuple[Reason, str]:
        while True:
            if self._interrupt is not None:
                self._kill_all("interrupted")
                name = signal.Signals(self._interrupt).name
                return Reason.INTERRUPTED, f"Experiment was interrupted by {name}"
            end = self._end_condition()
            if end is not None:
                self._kill_all(f"the experiment ended: {end[1]}")
                return end
            slots = self.parallel - len(self.running)
            if self.max_trials is not None:
                slots = min(slots, self.max_trials - self._completed() - len(self.running))
            if slots > 0:
                try:
                    batch = client.get_suggestions(
                        self._experiment_proto(), self._history(), slots,
                        self.requested + slots)
                except SuggestionsExhausted as e:
                    if not self.running:
                        return (Reason.SUGGESTION_END_REACHED,
                                f"Experiment has succeeded because suggestion service has "
                                f"reached the end: {e}")
                    batch = Assignments([], [])
                else:
                    self.requested += slots
                    if batch.algorithm_settings:
                        self._merge_settings(batch.algorithm_settings)
                    if self._early:  # Katib asks for rules after every GetSuggestions
                        self._early.refresh(self._experiment_proto(), self._history())
                for name, values in batch.trials:
                    self._start(name, values)
            self._wait_for_event()

    def _end_condition(self) -> tuple[Reason, str] | None:
        obj = self.exp.objective
        best = best_trial(self.trials, obj)
        if best is not None and obj.goal_reached(best.objective_value(obj) or 0.0):
            return (Reason.GOAL_REACHED, "Experiment has succeeded because Objective goal has "
                    f"reached ({obj.metric}={best.metrics[obj.metric]} in {best.name}, goal "
                    f"{obj.goal:g})")
        failed = sum(1 for t in self.trials if t.status.counts_as_failed)
        limit = self.exp.max_failed_trial_count
        if limit is not None and failed and failed >= limit:
            last = next((t for t in reversed(self.trials) if t.status.counts_as_failed), None)
            detail = f"; last: {last.name} {last.status.value}: {last.message}" if last else ""
            return (Reason.FAILED, "Experiment has failed because max failed count has "
                    f"reached ({failed} >= maxFailedTrialCount {limit}){detail}")
        if self.max_trials is not None and self._completed() >= self.max_trials:
            return (Reason.MAX_TRIALS_REACHED,
                    "Experiment has succeeded because max trial count has reached")
        return None

    def _completed(self) -> int:
        return sum(1 for t in self.trials if t.status.completed)

    def _wait_for_event(self) -> None:
        try:
            name = self._events.get(timeout=_TICK_SECONDS)
        except queue.Empty:
            self.progress.tick(self._snapshot())
            return
        while name is not None:
            if name in self.running:
                self._finish(self.running.pop(name))
            try:
                name = self._events.get_nowait()
            except queue.Empty:
                name = None

    # ---- trials ---------------------------------------------------------------------------

    def _start(self, name: str | None, assignments: dict[str, str]) -> None:
        name = name or self._next_name()
        if self._early:  # the rules of this trial's batch, fixed from now on (as in Katib)
            self._early.attach(name)
        trial_dir = self.cfg.workdir / name
        record = TrialRecord(name=name, assignments=assignments, start_time=rfc3339())
        try:
            command = render_trial(self.exp, name, assignments, python=self.cfg.python)
        except TemplateError as e:
            raise TemplateError(f"trial {name}: {e}") from None
        trial_dir.mkdir(parents=True, exist_ok=True)
        log_path = trial_dir / "trial.log"
        record.log = os.path.relpath(log_path, Path(self.cfg.results).parent)
        threads = self.threads
        if command.cpu is not None:  # a pod with `limits: cpu: 1` gets one core on a cluster
            threads = max(1, min(threads, int(command.cpu)))
        env = dict(os.environ)
        env.update({v: str(threads) for v in THREAD_ENV_VARS})
        env.update({"PYTHONUNBUFFERED": "1", "KATIB_TRIAL_NAME": name,
                    "KATIB_EXPERIMENT_NAME": self.exp.name})
        env.update(self.cfg.env)
        env.update(command.env)
        collector = trial_collector(self.exp, trial_dir)  # StdOut, File or TensorFlowEvent
        argv, env = collector.localize(command.argv, env)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                launch_argv(argv), cwd=trial_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                errors="replace", start_new_session=True)
        except OSError as e:
            record.status = TrialStatus.FAILED
            record.message = (f"could not start {command.argv[0]!r}: {e.strerror} (from "
                              f"{command.container_path}.command)")
            record.completion_time = rfc3339()
            self.trials.append(record)
            self._save()
            self.progress.finished(record, self._snapshot())
            return
        run = _Running(record, proc, collector, log_path, started)
        self.running[name] = run
        self.trials.append(record)
        threading.Thread(target=self._pump, args=(run,), name=f"trial-{name}",
                         daemon=True).start()
        self.progress.started(record, self._snapshot())

    def _next_name(self) -> str:
        index = len(self.trials) + 1
        taken = {t.name for t in self.trials}
        while True:
            name = f"{self.exp.name}-{index:03d}"
            if name not in taken and not (self.cfg.workdir / name).exists():
                return name
            index += 1

    def _pump(self, run: _Running) -> None:
        """Reader thread: stream the trial's output to its log, the collector and medianstop."""
        objective = self.exp.objective.metric
        assert run.proc.stdout is not None
        with open(run.log_path, "w", encoding="utf-8") as log:
            for line in run.proc.stdout:
                log.write(line)
                log.flush()
                run.tail.append(clip(line.rstrip("\n")))
                del run.tail[:-_TAIL_LINES]
                with self._lock:
                    reported = run.collector.feed(line)
                    if self._early is None or run.stop is not None:
                        continue
                    if not any(n == objective for n, _ in reported):
                        continue
                    values = run.collector.values(objective)
                    rule = self._early.should_stop(values, trial=run.record.name)
                    if rule is None:
                        continue
                    run.stop = TrialStatus.EARLY_STOPPED
                    run.stop_message = self._early.describe(rule, len(values))
                terminate(run.proc)
        run.proc.wait()
        self._events.put(run.record.name)

    def _finish(self, run: _Running) -> None:
        rec = run.record
        rec.seconds = time.monotonic() - run.started
        rec.completion_time = rfc3339()
        with self._lock:
            run.collector.finish()  # a File/TensorFlowEvent collector reads the trial's files
            observed = run.collector.observation()
            reported = run.collector.objective_reported
            values = run.collector.values(self.exp.objective.metric)
        ended = TrialExit(
            returncode=run.proc.returncode, objective_metric=self.exp.objective.metric,
            observed=observed, reported=reported, stop=run.stop, stop_message=run.stop_message,
            tail=run.tail[-_TAIL_LINES:], log_path=str(run.log_path))
        rec.status, rec.message = classify_trial(ended)
        if rec.status is TrialStatus.METRICS_UNAVAILABLE and not reported:
            rec.message = run.collector.explain(rec.message)
        rec.metrics = recorded_metrics(ended, rec.status)
        if rec.status is TrialStatus.SUCCEEDED and self._early is not None:
            with self._lock:
                self._early.add_succeeded(rec.name, values)
        if rec.status is not TrialStatus.KILLED:
            self._save()
        self.progress.finished(rec, self._snapshot())

    def _kill_all(self, why: str) -> None:
        for run in list(self.running.values()):
            run.stop = TrialStatus.KILLED
            run.stop_message = f"killed: {why}"
            terminate(run.proc)
        while self.running:
            name = self._events.get()
            if name in self.running:
                self._finish(self.running.pop(name))

    def _save(self) -> None:
        write_results(self.cfg.results, self.exp, self.trials, self._persisted_settings())

    def _snapshot(self) -> Snapshot:
        obj = self.exp.objective
        best = best_trial(self.trials, obj)
        running = []
        for run in self.running.values():
            with self._lock:
                latest = run.collector.values(obj.metric)
            running.append((run.record, f"{latest[-1]:.6g}" if latest else ""))
        return Snapshot(
            completed=self._completed(),
            failed=sum(1 for t in self.trials if t.status.counts_as_failed),
            early_stopped=sum(1 for t in self.trials
                              if t.status is TrialStatus.EARLY_STOPPED),
            max_trials=self.max_trials, best_name=best.name if best else "",
            best_value=best.objective_value(obj) if best else None, running=running)

    def _on_signal(self, signum: int) -> None:
        self._interrupt = signum
        self._events.put(None)

    # ---- suggestion protocol --------------------------------------------------------------

    def _merge_settings(self, settings: list[tuple[str, str]]) -> None:
        current = dict(self.algorithm_settings)
        current.update(settings)
        self.algorithm_settings = list(current.items())

    def _persisted_settings(self) -> list[tuple[str, str]]:
        """Settings the service added through `reply.algorithm` (Katib keeps them in status)."""
        base = dict(self.exp.algorithm_settings)
        return [(k, v) for k, v in self.algorithm_settings if base.get(k) != v]

    def _experiment_proto(self) -> Any:
        return experiment_proto(self.exp, self.algorithm_settings, parallel=self.parallel,
                                max_trials=self.max_trials)

    def _history(self) -> list[Any]:
        return history(self.trials, self._experiment_proto().spec.objective)


def _reported(t: TrialRecord, exp: Experiment, base: Path) -> list[float]:
    """Objective values of a resumed trial for medianstop: re-read its log, else its result."""
    obj = exp.objective
    log = base / t.log if t.log else None
    if log is not None and log.is_file():
        collector = trial_collector(exp, log.parent)
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                collector.feed(line)
        collector.finish()
        values = collector.values(obj.metric)
        if values:
            return values
    value = t.objective_value(obj)
    return [value] if value is not None else []


__all__ = ["LocalRunOutcome", "LocalRunner", "ResultsError", "RunConfig", "RunnerError"]
