"""The real server process on 127.0.0.1: health, interleaving, restart, repeat, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion import testing as T
from katib.suggestion.service import SuggestionServicer

ROOT = Path(__file__).resolve().parents[3]
TS = api_pb2.TrialStatus


class ServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "katib.suggestion", "--port", "0", "--host", "127.0.0.1"],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, self.proc.stderr.read())
        self.port = int(line.rsplit(":", 1)[1])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = api_pb2_grpc.SuggestionStub(self.channel)

    def suggest(self, req):
        return self.stub.GetSuggestions(req, timeout=60)

    def close(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.channel.close()
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    s = ServerProcess()
    yield s
    if s.proc.poll() is None:
        s.close(signal.SIGKILL)


class _Ctx:
    def set_code(self, code):
        raise AssertionError(code)

    def set_details(self, details):
        raise AssertionError(details)


def local(req):
    """The answer a brand-new servicer (no cache) computes in-process."""
    return SuggestionServicer().GetSuggestions(req, _Ctx())


def values(reply):
    return [(p.trial_name, T.assignments_of(p)) for p in reply.parameter_assignments]


def test_health_serving_for_katibs_probe_name(server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(server.channel)
    ok = health.Check(health_pb2.HealthCheckRequest(service="manager.v1beta1.Suggestion"),
                      timeout=10)
    assert ok.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_validation_error_over_the_wire(server: ServerProcess) -> None:
    with pytest.raises(grpc.RpcError) as e:
        server.stub.ValidateAlgorithmSettings(api_pb2.ValidateAlgorithmSettingsRequest(
            experiment=T.hpo_experiment(settings={"seed": "-3"})), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "seed='-3'" in e.value.details()


def _hpo_history(n: int, exp) -> list[api_pb2.Trial]:
    trials = []
    for i in range(n):
        a = T.assignments_of(local(T.request(exp, trials)).parameter_assignments[0])
        trials.append(T.trial(f"{exp.name}-{i}", a, metrics={"accuracy": a["lr"][:6]},
                              completion_time=T.rfc3339(i)))
    return trials


def test_two_experiments_interleaved_match_separate_runs(server: ServerProcess) -> None:
    hpo = T.hpo_experiment(name="hpo-a", settings={"n_startup_trials": "3"})
    nas = T.nas_experiment(name="nas-b", settings={"iterations": "1", "stem_channels": "8",
                                                   "trials_per_iteration": "1"}, parallel=1)
    h_trials: list = []
    n_trials: list = []
    for i in range(6):
        rh = server.suggest(T.request(hpo, h_trials))
        assert values(rh) == values(local(T.request(hpo, h_trials)))
        a = T.assignments_of(rh.parameter_assignments[0])
        h_trials.append(T.trial(f"h{i}", a, metrics={"accuracy": a["lr"][:6]},
                                completion_time=T.rfc3339(i)))
        rn = server.suggest(T.request(nas, n_trials))
        assert values(rn) == values(local(T.request(nas, n_trials)))
        p = rn.parameter_assignments[0]
        n_trials.append(T.trial(p.trial_name, T.assignments_of(p),
                                metrics={"accuracy": "0.5", "nac-stats": _stats(p)},
                                completion_time=T.rfc3339(i)))
    assert [t.name for t in n_trials][:3] == ["nas-b-i0-t0", "nas-b-i1-t1", "nas-b-i1-t2"]


def _stats(p) -> str:
    from katib import nac_stats
    from nac.spec import parse_architecture

    spec = parse_architecture(T.assignments_of(p)["architecture"])
    return nac_stats.encode({k: float(i % 7) for i, k in enumerate(spec.branch_keys())},
                            {k: float(i % 5) for i, k in enumerate(spec.gate_keys())})


def test_killed_and_restarted_server_continues_from_the_history(server: ServerProcess) -> None:
    exp = T.hpo_experiment(name="resume", settings={"n_startup_trials": "4", "seed": "5"})
    trials = []
    for i in range(12):
        a = T.assignments_of(server.suggest(T.request(exp, trials)).parameter_assignments[0])
        trials.append(T.trial(f"r{i}", a, metrics={"accuracy": str(-abs(float(a["lr"]) - 1e-3))},
                              completion_time=T.rfc3339(i)))
    before = values(server.suggest(T.request(exp, trials, count=2)))
    code, _ = server.close(signal.SIGKILL)
    assert code == -signal.SIGKILL
    restarted = ServerProcess()
    try:
        after = values(restarted.suggest(T.request(exp, trials, count=2)))
        # Katib's optuna service answers UNKNOWN here; ours recomputes from request.trials:
        assert after == before
        # ... and the history is really used: without it the answer differs
        no_history = values(restarted.suggest(T.request(exp, [], count=2, total=14)))
        assert no_history != after
        # a NAS experiment whose iteration 0 finished before the restart continues at i1
        nas = T.nas_experiment(name="resume-nas", parallel=1,
                               settings={"stem_channels": "8", "trials_per_iteration": "1"})
        first = restarted.suggest(T.request(nas)).parameter_assignments[0]
        done = [T.trial(first.trial_name, T.assignments_of(first),
                        metrics={"accuracy": "0.5", "nac-stats": _stats(first)})]
        expected = values(local(T.request(nas, done)))
        assert expected[0][0] == "resume-nas-i1-t1"
    finally:
        restarted.close(signal.SIGKILL)
    third = ServerProcess()
    try:
        assert values(third.suggest(T.request(nas, done))) == expected
    finally:
        third.close(signal.SIGKILL)


def test_repeated_request_gives_the_same_answer(server: ServerProcess) -> None:
    for exp in (T.hpo_experiment(name="rep", algorithm="cmaes"),
                T.nas_experiment(name="rep-nas", settings={"stem_channels": "8"})):
        req = T.request(exp, _hpo_history(3, exp) if exp.spec.algorithm.algorithm_name
                        != "nac" else [], count=2)
        assert values(server.suggest(req)) == values(server.suggest(req))


def test_sigterm_shuts_down_gracefully(server: ServerProcess) -> None:
    server.suggest(T.request(T.hpo_experiment(name="x")))
    code, err = server.close(signal.SIGTERM)
    assert code == 0
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines, err
    assert {"listening", "ok", "stopping", "stopped"} <= {d["msg"] for d in lines}
    assert all({"ts", "level", "logger", "msg"} <= set(d) for d in lines)


def test_server_process_never_imports_torch() -> None:
    script = """
import json, sys
import grpc
from katib.suggestion import serve, testing as T
from katib.api import api_pb2_grpc
server, port = serve(0, "127.0.0.1")
stub = api_pb2_grpc.SuggestionStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
for exp in (T.hpo_experiment(), T.nas_experiment(), T.hpo_experiment(name="c", algorithm="cmaes"),
            T.hpo_experiment(name="b", algorithm="bayesianoptimization")):
    assert len(stub.GetSuggestions(T.request(exp, count=2), timeout=60).parameter_assignments) == 2
server.stop(0)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sklearn"))))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_nac_server_loads_no_hpo_stack() -> None:
    """Memory (docs/katib.md): the registry loads an algorithm's imports on first use, so a
    `nac` Experiment's suggestion pod never loads optuna, numpy, scipy or the kubernetes client
    (together ~20 MiB resident)."""
    script = """
import json, sys
import grpc
from katib.suggestion import serve, testing as T
from katib.api import api_pb2, api_pb2_grpc
server, port = serve(0, "127.0.0.1")
stub = api_pb2_grpc.SuggestionStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
exp = T.nas_experiment(settings={"iterations": "2", "stem_channels": "8"})
stub.ValidateAlgorithmSettings(api_pb2.ValidateAlgorithmSettingsRequest(experiment=exp), timeout=60)
assert len(stub.GetSuggestions(T.request(exp, count=2), timeout=60).parameter_assignments) == 2
server.stop(0)
heavy = ("optuna", "numpy", "scipy", "kubernetes", "cmaes", "sqlalchemy", "torch")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy})))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
