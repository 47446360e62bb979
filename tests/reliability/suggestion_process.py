"""A REAL suggestion server process on 127.0.0.1 for the reliability tests, and kill -9 restarts.

`SuggestionProcess` runs `python -m katib.suggestion --port 0 --host 127.0.0.1` and reads the
bound port from its first stdout line; `.kill()` is a real kill -9 of its process group.
`restart_mid_experiment` kills it mid-experiment and checks a fresh one continues from
request.trials; `huge_history_hwm` and `kubernetes_source_hwm` measure its memory. The fuzzing
of the same process is suggestion_fuzz.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion import testing as T
from tests.reliability.faults import PYTHON, Outcome, child_env, kill_group, vm_hwm_kib

CATEGORY = "suggestion service"
#: The suggestion service's memory goal (VmHWM of the process), MiB.
MEMORY_TARGET_MIB = 80
RPC_TIMEOUT = 60.0
#: The codes a well-behaved server answers with: a result or a clear refusal.
CLEAN_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}


class SuggestionProcess:
    """`python -m katib.suggestion` in its own session; `.kill()` is a real kill -9."""

    def __init__(self, cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [PYTHON, "-u", "-m", "katib.suggestion", "--port", "0", "--host", "127.0.0.1",
             "--log-level", "ERROR"],
            cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.kill()
            raise RuntimeError(f"suggestion server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}",
            options=[("grpc.max_send_message_length", 64 << 20),
                     ("grpc.max_receive_message_length", 64 << 20)])
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = api_pb2_grpc.SuggestionStub(self.channel)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hwm_mib(self) -> float:
        return vm_hwm_kib(self.pid) / 1024

    def kill(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        kill_group(self.proc.pid)
        self.proc.wait(timeout=30)


@contextmanager
def suggestion_process(cwd: Path) -> Iterator[SuggestionProcess]:
    server = SuggestionProcess(cwd)
    try:
        yield server
    finally:
        if server.alive():
            server.kill()


def call(server: SuggestionProcess, method: str, request: Any) -> grpc.StatusCode:
    try:
        reply = getattr(server.stub, method)(request, timeout=RPC_TIMEOUT)
    except grpc.RpcError as e:
        return e.code()
    if method == "GetSuggestions" and len(reply.parameter_assignments) != \
            request.current_request_number:
        raise AssertionError(f"{len(reply.parameter_assignments)} assignments for "
                             f"current_request_number={request.current_request_number}")
    return grpc.StatusCode.OK


def valid_requests_succeed(server: SuggestionProcess) -> list[str]:
    """Problems with a few ordinary requests (empty list: all fine)."""
    problems = []
    cases = [
        ("GetSuggestions", T.request(T.hpo_experiment(name="after", algorithm="tpe"), count=3)),
        ("GetSuggestions", T.request(T.nas_experiment(name="after-nas", settings={
            "iterations": "2", "layers_per_stage": "1,1,1", "stem_channels": "8"}), count=2)),
        ("ValidateAlgorithmSettings", api_pb2.ValidateAlgorithmSettingsRequest(
            experiment=T.hpo_experiment(name="after-ws", algorithm="warm-start"))),
    ]
    for method, request in cases:
        try:
            code = call(server, method, request)
        except AssertionError as e:
            problems.append(f"valid {method}: {e}")
            continue
        if code != grpc.StatusCode.OK:
            problems.append(f"valid {method} after the fuzz returned {code.name}")
    return problems


# -- restart mid-experiment ----------------------------------------------------------------
def _fake_metrics(assignments: dict[str, str], branch_keys: list[str], i: int) -> dict[str, str]:
    metrics = {"accuracy": f"{0.5 + 0.01 * (i % 40):.4f}"}
    if branch_keys:
        metrics["nac-stats"] = json.dumps(
            {"v": 1, "branches": {k: 0.1 + ((hash(k) + i) % 97) / 100 for k in branch_keys},
             "gates": {}}, separators=(",", ":"))
    return metrics


def restart_mid_experiment(cwd: Path, *, algorithm: str, rounds: int, kill_after: int,
                           same_answer: bool = True) -> Outcome:
    """Drive an experiment against server A; kill -9 A after `kill_after` rounds; start B and
    continue with the same history. With `same_answer`, B's answer to the in-flight request
    must equal A's (state is rebuilt from request.trials); the experiment must run to `rounds`
    with no error and no trial name suggested twice."""
    outcome = Outcome(CATEGORY, f"{algorithm}: kill -9 the server after round {kill_after}, "
                      "restart, continue")
    from nac.spec import parse_architecture

    if algorithm == "nac":
        exp = T.nas_experiment(name="restart-nas", parallel=2, settings={
            "iterations": str(rounds + 1), "layers_per_stage": "1,1,1", "stem_channels": "8"})
    else:
        from katib.suggestion.algorithms.registry import AlgorithmRegistry

        names = AlgorithmRegistry().get(algorithm).settings_table(algorithm).names
        seed = "seed" if "seed" in names else "random_state"  # Katib's hyperopt names
        exp = T.hpo_experiment(name=f"restart-{algorithm}", algorithm=algorithm,
                               settings={seed: "7"})
    trials: list[api_pb2.Trial] = []
    server = SuggestionProcess(cwd)
    try:
        for r in range(rounds):
            request = T.request(exp, trials, count=2)
            reply = server.stub.GetSuggestions(request, timeout=RPC_TIMEOUT)
            if r == kill_after:
                server.kill()
                outcome.faults += 1
                server = SuggestionProcess(cwd)
                again = server.stub.GetSuggestions(request, timeout=RPC_TIMEOUT)
                outcome.extra["same_answer"] = again == reply
                if same_answer and again != reply:
                    outcome.fail(f"round {r}: the restarted server answered the same history "
                                 "differently")
            names = {t.name for t in trials}
            for item in reply.parameter_assignments:
                a = T.assignments_of(item)
                name = item.trial_name or f"{exp.name}-{len(trials)}"
                if name in names:
                    outcome.fail(f"round {r}: trial name {name} suggested twice")
                keys = parse_architecture(a["architecture"]).branch_keys() \
                    if "architecture" in a else []
                trials.append(T.trial(name, a, metrics=_fake_metrics(a, keys, len(trials)),
                                      completion_time=T.rfc3339(len(trials))))
        if algorithm == "nac":
            iterations = {int(t.name.rsplit("-i", 1)[1].split("-")[0]) for t in trials}
            if max(iterations) != rounds - 1:
                outcome.fail(f"nac reached iteration {max(iterations)}, expected {rounds - 1}")
    except grpc.RpcError as e:
        outcome.fail(f"{e.code().name}: {e.details()}")
    finally:
        if server.alive():
            server.kill()
    if not outcome.problems and outcome.faults:
        outcome.recovered = outcome.faults
    outcome.extra["trials"] = len(trials)
    return outcome


def kubernetes_source_hwm(cwd: Path) -> float:
    """VmHWM (MiB) after one warm-start request naming a Katib experiment (imports kubernetes)."""
    with suggestion_process(cwd) as server:
        code = call(server, "ValidateAlgorithmSettings", api_pb2.ValidateAlgorithmSettingsRequest(
            experiment=T.hpo_experiment(algorithm="warm-start",
                                        settings={"warm_start_source": "default/earlier"})))
        assert code in CLEAN_CODES, code
        return server.hwm_mib()


def huge_history_hwm(cwd: Path, trials: int = 5000) -> tuple[float, float]:
    """(seconds, VmHWM MiB) of a tpe request carrying `trials` completed trials."""
    history_ = [T.trial(f"t{i}", {"lr": f"{0.0001 + i * 1e-5:.6f}", "layers": str(1 + i % 8),
                                  "optimizer": "sgd"}, metrics={"accuracy": str(i / trials)},
                        completion_time=T.rfc3339(i)) for i in range(trials)]
    with suggestion_process(cwd) as server:
        started = time.perf_counter()
        code = call(server, "GetSuggestions", T.request(T.hpo_experiment(algorithm="tpe"),
                                                        history_, count=2))
        assert code == grpc.StatusCode.OK, code
        return time.perf_counter() - started, server.hwm_mib()
