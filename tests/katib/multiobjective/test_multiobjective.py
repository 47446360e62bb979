"""``multi-objective`` over real gRPC: settings, repeatability, constraints, the Pareto set."""

from __future__ import annotations

import grpc
import pytest

from katib.api import api_pb2 as pb
from katib.api import api_pb2_grpc
from katib.suggestion import serve
from katib.suggestion.algorithms.multiobjective import pareto_front
from katib.suggestion.testing import (
    CATEGORICAL,
    DOUBLE,
    hpo_experiment,
    parameter,
    request,
    rfc3339,
    trial,
)


@pytest.fixture(scope="module")
def stub():
    server, port = serve(0, "127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield api_pb2_grpc.SuggestionStub(channel)
    channel.close()
    server.stop(0).wait()


def _exp(**settings: str) -> pb.Experiment:
    exp = hpo_experiment("mo", "multi-objective", settings=settings,
                         parameters=[parameter("x", DOUBLE, low="0", high="1"),
                                     parameter("y", DOUBLE, low="0", high="1")])
    exp.spec.objective.additional_metric_names.extend(["size", "latency_ms"])
    return exp


def _measure(a: dict[str, str]) -> dict[str, str]:
    """Two conflicting objectives: accuracy grows with x, size grows with x and y."""
    x, y = float(a["x"]), float(a["y"])
    return {"accuracy": repr(x), "size": repr(x + y), "latency_ms": repr(10 * y)}


@pytest.mark.parametrize(("settings", "fragment"), [
    ({"objectives": "accuracy:up"}, "must be metric:max or metric:min"),
    ({"objectives": "params:min"}, "metric 'params' is neither the objective nor an additional"),
    ({"objectives": "accuracy:max,accuracy:min"}, "a metric is listed twice"),
    ({"constraints": "latency_ms<5"}, "must be metric<=number or metric>=number"),
    ({"constraints": "energy<=5"}, "metric 'energy' is not reported"),
    ({"sampler": "moead"}, "allowed: one of nsga2, motpe, random"),
])
def test_bad_settings_are_invalid_argument_naming_the_fix(stub, settings, fragment) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stub.ValidateAlgorithmSettings(pb.ValidateAlgorithmSettingsRequest(
            experiment=_exp(**settings)), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in e.value.details()


def _drive(stub, exp: pb.Experiment, n: int) -> list[pb.Trial]:
    trials: list[pb.Trial] = []
    for i in range(n):
        reply = stub.GetSuggestions(request(exp, trials), timeout=60)
        (item,) = reply.parameter_assignments
        a = {x.name: x.value for x in item.assignments}
        trials.append(trial(f"t{i}", a, metrics=_measure(a), completion_time=rfc3339(i)))
    return trials


@pytest.mark.parametrize("sampler", ["nsga2", "motpe"])
def test_samplers_repeat_exactly_and_respect_constraints(stub, sampler: str) -> None:
    exp = _exp(objectives="accuracy:max,size:min", constraints="latency_ms<=3",
               sampler=sampler, random_state="5", population_size="6", n_startup_trials="6")
    stub.ValidateAlgorithmSettings(pb.ValidateAlgorithmSettingsRequest(experiment=exp),
                                   timeout=30)
    trials = _drive(stub, exp, 24)
    again = stub.GetSuggestions(request(exp, trials[:10]), timeout=60)
    first = stub.GetSuggestions(request(exp, trials[:10]), timeout=60)
    assert again == first
    later = [float(t.spec.parameter_assignments.assignments[1].value) for t in trials[12:]]
    early = [float(t.spec.parameter_assignments.assignments[1].value) for t in trials[:6]]
    # feasible means y <= 0.3: the model-based phase proposes feasible y far more often
    assert sum(y <= 0.3 for y in later) / len(later) > sum(y <= 0.3 for y in early) / 6


def test_pareto_front_of_points() -> None:
    points = [[0.9, 5.0], [0.8, 1.0], [0.7, 2.0], [0.9, 4.0], [0.95, 9.0]]
    assert pareto_front(points, [True, False]) == [1, 3, 4]


@pytest.mark.parametrize("sampler", ["nsga2", "motpe", "random"])
def test_no_assignment_is_suggested_twice_while_unseen_ones_remain(stub, sampler: str) -> None:
    """A repeated cell costs a trial and adds nothing to the front (NAS-Bench-201 lost 10-20
    of 100 evaluations to repeats): in a 2 x 3 space the first 6 suggestions are all cells."""
    exp = hpo_experiment("mo-cells", "multi-objective", settings={
        "objectives": "accuracy:max,size:min", "sampler": sampler, "random_state": "3",
        "population_size": "2", "n_startup_trials": "2"},
        parameters=[parameter("a", CATEGORICAL, values=["p", "q"]),
                    parameter("b", CATEGORICAL, values=["1", "2", "3"])])
    exp.spec.objective.additional_metric_names.append("size")
    trials: list[pb.Trial] = []
    for i in range(6):
        (item,) = stub.GetSuggestions(request(exp, trials), timeout=60).parameter_assignments
        a = {x.name: x.value for x in item.assignments}
        score = {"accuracy": repr(int(a["b"]) + (a["a"] == "q")), "size": a["b"]}
        trials.append(trial(f"t{i}", a, metrics=score, completion_time=rfc3339(i)))
    cells = {tuple(sorted({x.name: x.value for x in t.spec.parameter_assignments.assignments
                           }.items())) for t in trials}
    assert len(cells) == 6
