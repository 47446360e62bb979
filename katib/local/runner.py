"""The local controller loop: our suggestion service over loopback gRPC, trials as subprocesses.

It follows Katib's experiment/suggestion controllers (`experiment_controller.go`,
`suggestionclient.go`, `status_util.go`):
- `ValidateAlgorithmSettings` once before anything runs; INVALID_ARGUMENT fails the run with
  the service's message.
- Each round asks for `min(parallel - running, maxTrialCount - completed - running)` new
  assignments, sending the whole trial history (running ones too; MetricsUnavailable and
  EarlyStopped-without-observation excluded) with every `GetSuggestionsRequest`.
- The Experiment ends when the objective goal is reached (running trials are killed), when
  more than `maxFailedTrialCount` trials failed (Failed + MetricsUnavailable), or when
  `maxTrialCount` trials completed.
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
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from katib.local import constants as c
from katib.local.collector import MetricsCollector
from katib.local.earlystop import make_early_stopping
from katib.local.experiment import Experiment, ExperimentError
from katib.local.progress import Progress, Snapshot
from katib.local.results import (
    ResultsError,
    TrialRecord,
    best_trial,
    read_results,
    rfc3339,
    write_results,
)
from katib.local.template import TemplateError, render_trial
from katib.suggestion.metrics import parse_metric

#: Lines of a failed trial's log quoted in its message.
_TAIL_LINES = 5
#: Seconds between progress refreshes while waiting for trials.
_TICK_SECONDS = 1.0
#: Deadline of each suggestion RPC (Katib's controller uses 60 s).
_RPC_TIMEOUT = 60.0
_PARAMETER_TYPES = {"double": 1, "int": 2, "discrete": 3, "categorical": 4}
_DISTRIBUTIONS = {"uniform": 1, "logUniform": 2, "normal": 3, "logNormal": 4}


class RunnerError(RuntimeError):
    """The run could not continue (suggestion service refused, template broken, ...)."""


@dataclass
class RunConfig:
    """How to run locally; every field has a sensible default."""

    results: Path
    workdir: Path
    parallel: int | None = None
    max_trials: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    python: str | None = None
    progress: bool = True
    cores: int | None = None


@dataclass(frozen=True)
class ExperimentResult:
    """How the run ended (Katib's reason and message) and what it found."""

    name: str
    reason: str
    message: str
    trials: list[TrialRecord]
    results_file: Path
    best: TrialRecord | None
    best_objective: float | None

    @property
    def succeeded(self) -> bool:
        return self.reason in {r.value for r in c.Reason if r.succeeded}

    def count(self, *statuses: c.TrialStatus) -> int:
        return sum(1 for t in self.trials if t.status in statuses)

    def summary(self) -> dict[str, Any]:
        """The `RESULT {json}` payload of `python -m katib.local run`."""
        return {
            "best_objective": self.best_objective,
            "best_assignments": dict(self.best.assignments) if self.best else None,
            "trials_succeeded": self.count(c.TrialStatus.SUCCEEDED),
            "trials_failed": self.count(c.TrialStatus.FAILED, c.TrialStatus.METRICS_UNAVAILABLE),
            "trials_early_stopped": self.count(c.TrialStatus.EARLY_STOPPED),
            "reason": self.reason,
            "results_file": str(self.results_file),
        }


@dataclass
class _Running:
    record: TrialRecord
    proc: subprocess.Popen[str]
    collector: MetricsCollector
    log_path: Path
    started: float
    tail: list[str] = field(default_factory=list)
    stop: c.TrialStatus | None = None  # EARLY_STOPPED or KILLED when the runner ended it
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
        cores = config.cores or _usable_cores()
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

    def run(self) -> ExperimentResult:
        resumed = read_results(self.cfg.results, self.exp)
        self.trials = list(resumed.trials)
        if resumed.algorithm_settings:
            self._merge_settings(resumed.algorithm_settings)
        self.requested = len(self.trials)
        if self._early:
            for t in self.trials:
                if t.status is c.TrialStatus.SUCCEEDED:
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
        with _SignalGuard(self._on_signal), _SuggestionClient() as client, \
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
        result = ExperimentResult(
            name=self.exp.name, reason=reason.value, message=message, trials=list(self.trials),
            results_file=Path(self.cfg.results), best=best,
            best_objective=best.objective_value(self.exp.objective) if best else None)
        self.progress.message(f"{message} ({reason.value})")
        self.progress.close()
        return result

    # ---- controller loop ------------------------------------------------------------------

    def _loop(self, client: _SuggestionClient) -> tuple[c.Reason, str]:
        while True:
            if self._interrupt is not None:
                self._kill_all("interrupted")
                name = signal.Signals(self._interrupt).name
                return c.Reason.INTERRUPTED, f"Experiment was interrupted by {name}"
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
                except _SuggestionsExhausted as e:
                    if not self.running:
                        return (c.Reason.SUGGESTION_END_REACHED,
                                f"Experiment has succeeded because suggestion service has "
                                f"reached the end: {e}")
                    batch = _Assignments([], [])
                else:
                    self.requested += slots
                    if batch.algorithm_settings:
                        self._merge_settings(batch.algorithm_settings)
                    if self._early:  # Katib asks for rules after every GetSuggestions
                        self._early.refresh(self._experiment_proto(), self._history())
                for name, values in batch.trials:
                    self._start(name, values)
            self._wait_for_event()

    def _end_condition(self) -> tuple[c.Reason, str] | None:
        obj = self.exp.objective
        best = best_trial(self.trials, obj)
        if best is not None and obj.goal_reached(best.objective_value(obj) or 0.0):
            return (c.Reason.GOAL_REACHED, "Experiment has succeeded because Objective goal has "
                    f"reached ({obj.metric}={best.metrics[obj.metric]} in {best.name}, goal "
                    f"{obj.goal:g})")
        failed = sum(1 for t in self.trials if t.status.counts_as_failed)
        limit = self.exp.max_failed_trial_count
        if limit is not None and failed > limit:
            last = next((t for t in reversed(self.trials) if t.status.counts_as_failed), None)
            detail = f"; last: {last.name} {last.status.value}: {last.message}" if last else ""
            return (c.Reason.FAILED, "Experiment has failed because max failed count has "
                    f"reached ({failed} > maxFailedTrialCount {limit}){detail}")
        if self.max_trials is not None and self._completed() >= self.max_trials:
            return (c.Reason.MAX_TRIALS_REACHED,
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
        env.update({v: str(threads) for v in c.THREAD_ENV_VARS})
        env.update({"PYTHONUNBUFFERED": "1", "KATIB_TRIAL_NAME": name,
                    "KATIB_EXPERIMENT_NAME": self.exp.name})
        env.update(self.cfg.env)
        env.update(command.env)
        collector = MetricsCollector(self.exp.objective.metric_names,
                                     self.exp.objective.strategies, self.exp.metrics_formats)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                _launch_argv(command.argv), cwd=trial_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                errors="replace", start_new_session=True)
        except OSError as e:
            record.status = c.TrialStatus.FAILED
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
                run.tail.append(_clip(line.rstrip("\n")))
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
                    run.stop = c.TrialStatus.EARLY_STOPPED
                    run.stop_message = self._early.describe(rule, len(values))
                _terminate(run.proc)
        run.proc.wait()
        self._events.put(run.record.name)

    def _finish(self, run: _Running) -> None:
        rec = run.record
        rec.seconds = time.monotonic() - run.started
        rec.completion_time = rfc3339()
        with self._lock:
            observed = run.collector.observation()
            reported = run.collector.objective_reported
            values = run.collector.values(self.exp.objective.metric)
        code = run.proc.returncode
        obj = self.exp.objective.metric
        if run.stop is not None:
            rec.status, rec.message = run.stop, run.stop_message
            rec.metrics = observed if reported else {}
        elif code != 0:
            rec.status = c.TrialStatus.FAILED
            rec.metrics = observed if reported else {}
            rec.message = f"{_exit_text(code)}; last output:\n" + "\n".join(run.tail[-_TAIL_LINES:])
        elif not reported:
            rec.status = c.TrialStatus.METRICS_UNAVAILABLE
            rec.metrics = observed
            rec.message = (f"objective metric {obj!r} was never printed; print lines such as "
                           f"'{obj}=0.97' (or fix spec.metricsCollectorSpec.source.filter."
                           f"metricsFormat); see {run.log_path}")
        elif parse_metric(observed.get(obj, "")) is None:
            rec.status = c.TrialStatus.METRICS_UNAVAILABLE
            rec.metrics = observed
            rec.message = f"objective metric {obj!r} is not a number: {observed.get(obj)!r}"
        else:
            rec.status = c.TrialStatus.SUCCEEDED
            rec.metrics = observed
            if self._early is not None:
                with self._lock:
                    self._early.add_succeeded(rec.name, values)
        if rec.status is not c.TrialStatus.KILLED:
            self._save()
        self.progress.finished(rec, self._snapshot())

    def _kill_all(self, why: str) -> None:
        for run in list(self.running.values()):
            run.stop = c.TrialStatus.KILLED
            run.stop_message = f"killed: {why}"
            _terminate(run.proc)
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
                              if t.status is c.TrialStatus.EARLY_STOPPED),
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
        from katib.api import api_pb2 as pb

        exp, obj = self.exp, self.exp.objective
        spec = pb.ExperimentSpec(
            objective=pb.ObjectiveSpec(
                type=pb.MAXIMIZE if obj.type == "maximize" else pb.MINIMIZE,
                objective_metric_name=obj.metric,
                additional_metric_names=list(obj.additional_metrics)),
            algorithm=pb.AlgorithmSpec(
                algorithm_name=exp.algorithm_name,
                algorithm_settings=[pb.AlgorithmSetting(name=n, value=v)
                                    for n, v in self.algorithm_settings]),
            parallel_trial_count=self.parallel,
            max_trial_count=self.max_trials or 0)
        if obj.goal is not None:
            spec.objective.goal = obj.goal
        if exp.early_stopping_algorithm:
            spec.early_stopping.algorithm_name = exp.early_stopping_algorithm
            for n, v in exp.early_stopping_settings:
                spec.early_stopping.algorithm_settings.add(name=n, value=v)
        for p in exp.parameters:
            spec.parameter_specs.parameters.append(_parameter_proto(pb, p))
        if exp.nas_config:
            graph = exp.nas_config.get("graphConfig") or {}
            spec.nas_config.graph_config.num_layers = int(graph.get("numLayers") or 0)
            spec.nas_config.graph_config.input_sizes.extend(graph.get("inputSizes") or [])
            spec.nas_config.graph_config.output_sizes.extend(graph.get("outputSizes") or [])
            for op in exp.nas_config.get("operations") or []:
                o = spec.nas_config.operations.operation.add(
                    operation_type=op.get("operationType", ""))
                for p in op.get("parameters") or []:
                    o.parameter_specs.parameters.append(_parameter_proto(pb, p))
        return pb.Experiment(name=exp.name, spec=spec)

    def _history(self) -> list[Any]:
        """Every trial Katib would send: running and completed, minus the excluded kinds."""
        from katib.api import api_pb2 as pb

        conditions = {
            c.TrialStatus.RUNNING: pb.TrialStatus.RUNNING,
            c.TrialStatus.SUCCEEDED: pb.TrialStatus.SUCCEEDED,
            c.TrialStatus.FAILED: pb.TrialStatus.FAILED,
            c.TrialStatus.KILLED: pb.TrialStatus.KILLED,
            c.TrialStatus.EARLY_STOPPED: pb.TrialStatus.EARLYSTOPPED,
        }
        obj_spec = self._experiment_proto().spec.objective
        out = []
        for t in self.trials:
            if t.status is c.TrialStatus.METRICS_UNAVAILABLE:
                continue
            if t.status is c.TrialStatus.EARLY_STOPPED and not t.metrics:
                continue
            trial = pb.Trial(name=t.name)
            trial.spec.objective.CopyFrom(obj_spec)
            for k, v in t.assignments.items():
                trial.spec.parameter_assignments.assignments.add(name=k, value=v)
            trial.status.condition = conditions[t.status]
            trial.status.start_time = t.start_time
            trial.status.completion_time = t.completion_time
            if t.status.completed:
                for k, v in t.metrics.items():
                    trial.status.observation.metrics.add(name=k, value=v)
            out.append(trial)
        return out


def _parameter_proto(pb: Any, p: Mapping[str, Any]) -> Any:
    space = p.get("feasibleSpace") or {}
    fs = pb.FeasibleSpace(max=str(space.get("max") or ""), min=str(space.get("min") or ""),
                          list=[str(v) for v in space.get("list") or []],
                          step=str(space.get("step") or ""))
    if space.get("distribution"):
        fs.distribution = _DISTRIBUTIONS[space["distribution"]]
    return pb.ParameterSpec(name=p["name"], parameter_type=_PARAMETER_TYPES[p["parameterType"]],
                            feasible_space=fs)


def _reported(t: TrialRecord, exp: Experiment, base: Path) -> list[float]:
    """Objective values of a resumed trial for medianstop: re-read its log, else its result."""
    obj = exp.objective
    log = base / t.log if t.log else None
    if log is not None and log.is_file():
        collector = MetricsCollector(obj.metric_names, obj.strategies, exp.metrics_formats)
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                collector.feed(line)
        values = collector.values(obj.metric)
        if values:
            return values
    value = t.objective_value(obj)
    return [value] if value is not None else []


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the trial's process group, SIGKILL after a grace period (in the background)."""
    def kill() -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                proc.wait(timeout=c.KILL_GRACE_SECONDS)
                return
            except subprocess.TimeoutExpired:
                continue
    threading.Thread(target=kill, daemon=True).start()


# Runs before the trial's own command (Linux): ask the kernel to SIGKILL the trial when the
# runner dies, even by SIGKILL, so no orphaned trial keeps training; then exec the command
# (same pid, so the runner's process-group kill and exit code are the trial's own).
_LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(137)  # the runner died before prctl took effect
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as e:
    print(f"could not start {sys.argv[2]!r}: {e.strerror}", file=sys.stderr, flush=True)
    os._exit(127)
"""


def _launch_argv(argv: list[str]) -> list[str]:
    """The trial's argv behind the parent-death launcher where the OS supports it."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-S", "-c", _LAUNCHER, str(os.getpid()), *argv]


def _usable_cores() -> int:
    """CPUs this process may run on (affinity on Linux, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _clip(line: str, width: int = 300) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Assignments:
    trials: list[tuple[str | None, dict[str, str]]]
    algorithm_settings: list[tuple[str, str]]


class _SuggestionsExhausted(Exception):
    """The service has nothing more to suggest (e.g. a finished grid)."""


class _SuggestionClient:
    """Our suggestion service in-process on 127.0.0.1:<free port>, called over real gRPC."""

    def __enter__(self) -> _SuggestionClient:
        import grpc

        from katib.api import api_pb2_grpc
        from katib.suggestion import serve

        started = serve(port=0, host="127.0.0.1")
        self._server, port = _server_and_port(started)
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = api_pb2_grpc.SuggestionStub(self._channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()
        stop = getattr(self._server, "stop", None)
        if stop is not None:  # graceful: no RPC is in flight, so this returns at once
            stop(1.0).wait(2.0)

    def validate(self, experiment: Any) -> None:
        import grpc

        from katib.api import api_pb2 as pb

        try:
            self._stub.ValidateAlgorithmSettings(
                pb.ValidateAlgorithmSettingsRequest(experiment=experiment),
                timeout=_RPC_TIMEOUT, wait_for_ready=True)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return
            algorithm = experiment.spec.algorithm.algorithm_name
            if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ExperimentError(
                    [f"spec.algorithm: the {algorithm!r} suggestion service rejected the "
                     f"settings: {e.details()}"],
                    source=f"Experiment {experiment.name!r}") from None
            raise RunnerError(f"the {algorithm!r} suggestion service failed to validate the "
                              f"settings ({e.code().name}): {e.details()}") from None

    def get_suggestions(self, experiment: Any, trials: list[Any], current: int,
                        total: int) -> _Assignments:
        import grpc

        from katib.api import api_pb2 as pb

        request = pb.GetSuggestionsRequest(experiment=experiment, trials=trials,
                                           current_request_number=current,
                                           total_request_number=total)
        try:
            reply = self._stub.GetSuggestions(request, timeout=_RPC_TIMEOUT)
        except grpc.RpcError as e:
            details = e.details() or ""
            if e.code() in (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED) \
                    or "exhaust" in details.lower():
                raise _SuggestionsExhausted(details) from None
            raise RunnerError(f"the suggestion service failed ({e.code().name}): "
                              f"{details}") from None
        if len(reply.parameter_assignments) != current:
            raise RunnerError(f"the suggestion service returned {len(reply.parameter_assignments)}"
                              f" assignments for {current} requested (Katib rejects this too)")
        trials = [(pa.trial_name or None, {a.name: a.value for a in pa.assignments})
                  for pa in reply.parameter_assignments]
        settings = [(s.name, s.value) for s in reply.algorithm.algorithm_settings]
        return _Assignments(trials, settings)


def _server_and_port(started: Any) -> tuple[Any, int]:
    """Accept `serve`'s return shapes: (server, port) or an object with `.port`."""
    if isinstance(started, tuple):
        server, port = started[0], started[1]
        if isinstance(server, int):
            server, port = port, server
        return server, int(port)
    port = getattr(started, "port", None)
    if port is None:
        raise RunnerError("katib.suggestion.serve returned no port")
    return started, int(port)


class _SignalGuard:
    """Route SIGINT/SIGTERM to the runner (main thread only), restore the handlers after."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, lambda s, _f: self.callback(s))
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


__all__ = ["ExperimentResult", "LocalRunner", "ResultsError", "RunConfig", "RunnerError"]
