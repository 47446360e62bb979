"""The early-stopping service over real gRPC on 127.0.0.1, with a real DB manager server."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from katib.api import api_pb2 as pb
from katib.api import api_pb2_grpc
from katib.earlystopping import dbmanager
from katib.earlystopping.server import serve


@pytest.fixture()
def stack():
    store = dbmanager.ObservationStore()
    db_server, db_address = dbmanager.start(store)
    stopped: list[str] = []
    server, port, _ = serve(0, "127.0.0.1", status=stopped.append)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield api_pb2_grpc.EarlyStoppingStub(channel), store, db_address, stopped, channel
    channel.close()
    server.stop(0).wait()
    db_server.stop(0).wait()


def _spec(algorithm: str = "asha", **settings: str) -> pb.EarlyStoppingSpec:
    return pb.EarlyStoppingSpec(algorithm_name=algorithm, algorithm_settings=[
        pb.EarlyStoppingSetting(name=k, value=v) for k, v in settings.items()])


def _experiment(spec: pb.EarlyStoppingSpec, maximize: bool = True) -> pb.Experiment:
    exp = pb.Experiment(name="es")
    exp.spec.objective.type = pb.MAXIMIZE if maximize else pb.MINIMIZE
    exp.spec.objective.objective_metric_name = "accuracy"
    exp.spec.early_stopping.CopyFrom(spec)
    return exp


def _trial(name: str, condition: int = pb.TrialStatus.SUCCEEDED) -> pb.Trial:
    t = pb.Trial(name=name)
    t.status.condition = condition
    return t


@pytest.mark.parametrize(("spec", "fragment"), [
    (_spec(reduction_factor="one"), "reduction_factor='one' is invalid"),
    (_spec(bogus="1"), "unknown algorithm setting 'bogus'"),
    (_spec("hyperband"), "'hyperband' is not served by this early-stopping service"),
    (_spec("medianstop", start_step="0"), "start_step='0' is invalid (below the minimum 1)"),
])
def test_bad_settings_are_invalid_argument_never_unknown(stack, spec, fragment: str) -> None:
    stub = stack[0]
    with pytest.raises(grpc.RpcError) as e:
        stub.ValidateEarlyStoppingSettings(
            pb.ValidateEarlyStoppingSettingsRequest(early_stopping=spec), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in e.value.details()
    with pytest.raises(grpc.RpcError) as e:  # the same check guards GetEarlyStoppingRules
        stub.GetEarlyStoppingRules(pb.GetEarlyStoppingRulesRequest(
            experiment=_experiment(spec), db_manager_address=stack[2]), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rules_are_computed_from_the_db_manager_logs(stack) -> None:
    stub, store, address, _, _ = stack
    stub.ValidateEarlyStoppingSettings(pb.ValidateEarlyStoppingSettingsRequest(
        early_stopping=_spec(reduction_factor="2", min_trials_required="2")), timeout=10)
    exp = _experiment(_spec(reduction_factor="2", min_resource="1", min_trials_required="2"))
    store.record("t1", [0.2, 0.4])
    request = pb.GetEarlyStoppingRulesRequest(experiment=exp, trials=[_trial("t1")],
                                              db_manager_address=address)
    assert list(stub.GetEarlyStoppingRules(request, timeout=10).early_stopping_rules) == []
    store.record("t2", [0.6])
    store.record("t3", [0.1])
    request.trials.extend([_trial("t2", pb.TrialStatus.RUNNING),
                           _trial("t3", pb.TrialStatus.EARLYSTOPPED),
                           _trial("t4", pb.TrialStatus.CREATED)])
    (rule,) = stub.GetEarlyStoppingRules(request, timeout=10).early_stopping_rules
    # rung 1 values 0.2, 0.6, 0.1 -> keep ceil(3/2) = 2 -> cut at 0.2
    assert (rule.name, float(rule.value), rule.comparison, rule.start_step) == (
        "accuracy", 0.2, pb.LESS, 1)
    store.record("t2", [0.6, 0.7])  # a running trial is re-read; finished ones are cached
    store.record("t1", [0.9])
    (rule,) = stub.GetEarlyStoppingRules(request, timeout=10).early_stopping_rules
    assert float(rule.value) == 0.2


def test_medianstop_uses_katibs_mean_of_first_start_step_values(stack) -> None:
    """kubeflow/katib@v0.19.0 pkg/earlystopping/v1beta1/medianstop/service.py
    get_median_value: average the first start_step values of each Succeeded trial, then the
    mean of those averages once min_trials_required trials are in; GREATER when minimizing."""
    stub, store, address, _, _ = stack
    spec = _spec("medianstop", min_trials_required="2", start_step="2")
    store.record("a", [1.0, 3.0, 100.0])
    store.record("b", [2.0, 4.0])
    store.record("c", [50.0])
    trials = [_trial("a"), _trial("b"), _trial("c", pb.TrialStatus.FAILED)]
    (rule,) = stub.GetEarlyStoppingRules(pb.GetEarlyStoppingRulesRequest(
        experiment=_experiment(spec, maximize=False), trials=trials,
        db_manager_address=address), timeout=10).early_stopping_rules
    assert (float(rule.value), rule.comparison, rule.start_step) == (2.5, pb.GREATER, 2)


def test_unreachable_db_manager_is_unavailable_and_set_trial_status_reaches_the_writer(
        stack) -> None:
    stub, _, _, stopped, channel = stack
    request = pb.GetEarlyStoppingRulesRequest(experiment=_experiment(_spec()),
                                              trials=[_trial("t1")],
                                              db_manager_address="127.0.0.1:1")
    with pytest.raises(grpc.RpcError) as e:
        stub.GetEarlyStoppingRules(request, timeout=60)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "DB manager 127.0.0.1:1 failed for trial 't1'" in e.value.details()
    stub.SetTrialStatus(pb.SetTrialStatusRequest(trial_name="t1"), timeout=10)
    assert stopped == ["t1"]
    with pytest.raises(grpc.RpcError) as e:
        stub.SetTrialStatus(pb.SetTrialStatusRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="api.v1.beta1.EarlyStopping"), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_the_image_entrypoint_serves_and_stops_on_sigterm() -> None:
    """images/earlystopping/Dockerfile runs `python -m katib.earlystopping`."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "katib.earlystopping", "--port", "0",
                             "--host", "127.0.0.1"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            api_pb2_grpc.EarlyStoppingStub(channel).ValidateEarlyStoppingSettings(
                pb.ValidateEarlyStoppingSettingsRequest(early_stopping=_spec()), timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
