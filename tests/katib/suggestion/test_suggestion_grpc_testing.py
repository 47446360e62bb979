"""Katib-style servicer tests: grpc_testing.server_from_dictionary, invoke_unary_unary,
termination() -> (response, metadata, code, details)."""

from __future__ import annotations

import grpc
import grpc_testing
import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms import AlgorithmRegistry
from katib.suggestion.algorithms.base import Algorithm
from katib.suggestion.service import SuggestionServicer
from katib.suggestion.settings import Setting, SettingsTable

_SERVICE = api_pb2.DESCRIPTOR.services_by_name["Suggestion"]


def _server(servicer: SuggestionServicer | None = None) -> grpc_testing.Server:
    return grpc_testing.server_from_dictionary(
        {_SERVICE: servicer or SuggestionServicer()}, grpc_testing.strict_real_time()
    )


def _call(server: grpc_testing.Server, method: str, request):
    rpc = server.invoke_unary_unary(
        method_descriptor=_SERVICE.methods_by_name[method],
        invocation_metadata={},
        request=request,
        timeout=5,
    )
    return rpc.termination()


def _validate(server, experiment):
    return _call(server, "ValidateAlgorithmSettings",
                 api_pb2.ValidateAlgorithmSettingsRequest(experiment=experiment))


def test_service_full_name_is_katibs() -> None:
    assert _SERVICE.full_name == "api.v1.beta1.Suggestion"


def test_validate_ok_and_nac_ok() -> None:
    server = _server()
    assert _validate(server, T.hpo_experiment())[2] == grpc.StatusCode.OK
    assert _validate(server, T.nas_experiment())[2] == grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("experiment", "details"),
    [
        (T.hpo_experiment(settings={"bogus": "1"}),
         "unknown algorithm setting 'bogus' for algorithm 'warm-start'; known settings: "
         "inc_popsize, n_ei_candidates, n_startup_trials, restart_strategy, sampler, seed, "
         "sigma, warm_start_source, warm_start_top_k, warm_start_type"),
        (T.hpo_experiment(settings={"n_startup_trials": "-1"}),
         "algorithm setting n_startup_trials='-1' is invalid (below the minimum 0); "
         "allowed: integer in [0, 10000]"),
        (T.hpo_experiment(settings={"sampler": "annealing"}),
         "algorithm setting sampler='annealing' is invalid (not a supported choice); "
         "allowed: one of tpe, multivariate-tpe, random, cmaes, grid, gp, qmc"),
        (T.hpo_experiment(algorithm="pbt"),
         "algorithmName 'pbt' is not served by this suggestion service; supported: nac, "
         "warm-start, random, grid, tpe, multivariate-tpe, cmaes, sobol, bayesianoptimization, "
         "multi-objective, hyperband"),
        (T.hpo_experiment(algorithm="hyperband"),
         "r_l and resource_name must be set. (algorithmSettings r_l: the largest resource, "
         "e.g. \"9\"; resource_name: the parameter receiving it, e.g. \"epochs\")"),
        (T.hpo_experiment(parameters=[T.parameter("lr", T.DOUBLE, low="0.5", high="0.1")]),
         "parameter 'lr': feasibleSpace.min=0.5 is greater than max=0.1"),
        (T.hpo_experiment(parameters=[T.parameter("lr", T.DOUBLE, low="0", high="1",
                                                  distribution=api_pb2.LOG_UNIFORM)]),
         "parameter 'lr': distribution logUniform needs min > 0 (got 0)"),
        (T.hpo_experiment(algorithm="grid",
                          parameters=[T.parameter("lr", T.DOUBLE, low="0.1", high="1")]),
         "parameter 'lr': sampler grid needs feasibleSpace.step for a double parameter"),
        (T.nas_experiment(settings={"layers_per_stage": "2,2"}),
         "algorithm setting layers_per_stage has 2 entries but nasConfig.graphConfig.numLayers "
         "is 3; give one value per stage"),
        (T.nas_experiment(operations=[("pooling", ["3"])]),
         "nasConfig.operations: operationType 'pooling' is not supported by nac; use "
         "convolution (filter_size 1,3,5,7) or separable_convolution (filter_size 3,5,7)"),
        (T.nas_experiment(operations=[("separable_convolution", ["1"])]),
         "nasConfig.operations[separable_convolution]: filter_size 1 is not supported; "
         "allowed: 3, 5, 7"),
        (T.hpo_experiment(algorithm="nac"),
         "algorithm nac needs spec.nasConfig (graphConfig and operations); for "
         "hyperparameter experiments use warm-start"),
    ],
)
def test_validate_rejects_with_actionable_message(experiment, details: str) -> None:
    _, _, code, got = _validate(_server(), experiment)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert got == details


class _Broken(Algorithm):
    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return SettingsTable("broken", (Setting("x", "int", 0, "x"),))

    def validate(self, experiment) -> None:
        raise ZeroDivisionError("division by zero")

    def suggest(self, request):
        return []  # wrong count: must become INTERNAL, not a short reply


class _BrokenRegistry(AlgorithmRegistry):
    def get(self, name: str) -> Algorithm:
        return _Broken()


def test_exceptions_become_internal_never_unknown() -> None:
    """A crash in validation is INVALID_ARGUMENT: Katib v0.19.0 counts only INVALID_ARGUMENT
    and UNKNOWN as a failed validation and starts the Experiment on any other code."""
    server = _server(SuggestionServicer(_BrokenRegistry()))
    _, _, code, details = _validate(server, T.hpo_experiment())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "ZeroDivisionError: division by zero" in details
    _, _, code, details = _call(server, "GetSuggestions", T.request(T.hpo_experiment(), count=2))
    assert code == grpc.StatusCode.INTERNAL
    assert "returned 0 assignments for current_request_number=2" in details


def test_get_suggestions_twice_and_with_mixed_trial_states() -> None:
    """DARTS fails its second call; Katib sends RUNNING/FAILED/KILLED and junk metrics."""
    TS = api_pb2.TrialStatus
    exp = T.hpo_experiment(settings={"n_startup_trials": "2"})
    server = _server()
    trials = [
        T.trial("a", {"lr": "0.01", "layers": "2", "optimizer": "sgd"},
                metrics={"accuracy": "0.8"}),
        T.trial("b", {"lr": "0.02", "layers": "3", "optimizer": "adam"},
                metrics={"accuracy": "unavailable"}),
        T.trial("c", {"lr": "0.03", "layers": "4", "optimizer": "adam"}, condition=TS.RUNNING),
        T.trial("d", {"lr": "0.04", "layers": "5", "optimizer": "rmsprop"}, condition=TS.FAILED),
        T.trial("e", {"lr": "0.05", "layers": "6", "optimizer": "sgd"}, condition=TS.KILLED,
                metrics={"accuracy": "0.99"}),
        T.trial("f", {"lr": "0.06", "layers": "7", "optimizer": "sgd"},
                condition=TS.EARLYSTOPPED, metrics={"accuracy": "nan"}),
        T.trial("g", {"lr": "oops", "layers": "x"}, metrics={"accuracy": "0.5"}),
        T.trial("h", {"lr": "0.001", "layers": "1", "optimizer": "sgd"}, condition=TS.UNKNOWN),
        T.trial("i", {"lr": "0.002", "layers": "2", "optimizer": "sgd"},
                metrics={"accuracy": "0.7"}),
    ]
    for n in (1, 2, 3):
        req = T.request(exp, trials, count=n)
        response, _, code, details = _call(server, "GetSuggestions", req)
        assert code == grpc.StatusCode.OK, details
        assert len(response.parameter_assignments) == n


def test_zero_requested_returns_empty_reply() -> None:
    response, _, code, _ = _call(_server(), "GetSuggestions",
                                 T.request(T.hpo_experiment(), count=0))
    assert code == grpc.StatusCode.OK
    assert len(response.parameter_assignments) == 0
