"""Request builders shared by the tests and benchmarks/suggestion_service.py.

They build the messages Katib's controller sends, so every caller exercises the same shapes:
the 3-parameter HPO space Katib's own services were measured on, and a digits-sized NAS
config in Katib's ENAS style.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from katib.api import api_pb2

_TS = api_pb2.TrialStatus

DOUBLE, INT, DISCRETE, CATEGORICAL = (api_pb2.DOUBLE, api_pb2.INT, api_pb2.DISCRETE,
                                      api_pb2.CATEGORICAL)


def parameter(name: str, kind: int, *, low: str = "", high: str = "", values: Iterable[str] = (),
              step: str = "", distribution: int = 0) -> api_pb2.ParameterSpec:
    return api_pb2.ParameterSpec(
        name=name,
        parameter_type=kind,
        feasible_space=api_pb2.FeasibleSpace(min=low, max=high, list=list(values), step=step,
                                             distribution=distribution),
    )


def default_hpo_parameters() -> list[api_pb2.ParameterSpec]:
    """log-uniform double, int, 3-way categorical (Katib's measured configuration)."""
    return [
        parameter("lr", DOUBLE, low="0.0001", high="0.1", distribution=api_pb2.LOG_UNIFORM),
        parameter("layers", INT, low="1", high="8"),
        parameter("optimizer", CATEGORICAL, values=["sgd", "adam", "rmsprop"]),
    ]


def hpo_experiment(name: str = "hpo", algorithm: str = "warm-start",
                   settings: Mapping[str, str] | None = None,
                   parameters: Iterable[api_pb2.ParameterSpec] | None = None,
                   maximize: bool = True, parallel: int = 1) -> api_pb2.Experiment:
    spec = api_pb2.ExperimentSpec(
        objective=api_pb2.ObjectiveSpec(
            type=api_pb2.MAXIMIZE if maximize else api_pb2.MINIMIZE,
            objective_metric_name="accuracy",
        ),
        algorithm=api_pb2.AlgorithmSpec(
            algorithm_name=algorithm,
            algorithm_settings=[api_pb2.AlgorithmSetting(name=k, value=v)
                                for k, v in (settings or {}).items()],
        ),
        parallel_trial_count=parallel,
        max_trial_count=1000,
    )
    spec.parameter_specs.parameters.extend(
        default_hpo_parameters() if parameters is None else list(parameters))
    return api_pb2.Experiment(name=name, spec=spec)


def nas_experiment(name: str = "nas", settings: Mapping[str, str] | None = None, *,
                   input_sizes: tuple[int, int, int] = (8, 8, 1), classes: int = 10,
                   stages: int = 3, parallel: int = 2,
                   operations: Iterable[tuple[str, list[str]]] | None = None,
                   max_trials: int = 100) -> api_pb2.Experiment:
    ops = operations if operations is not None else [
        ("convolution", ["1", "3", "5"]),
        ("separable_convolution", ["3", "5", "7"]),
    ]
    nas = api_pb2.NasConfig(
        graph_config=api_pb2.GraphConfig(num_layers=stages, input_sizes=list(input_sizes),
                                         output_sizes=[classes]),
    )
    for op_type, sizes in ops:
        op = nas.operations.operation.add(operation_type=op_type)
        op.parameter_specs.parameters.append(
            parameter("filter_size", CATEGORICAL, values=sizes))
    spec = api_pb2.ExperimentSpec(
        objective=api_pb2.ObjectiveSpec(type=api_pb2.MAXIMIZE, objective_metric_name="accuracy",
                                        additional_metric_names=["nac-stats"]),
        algorithm=api_pb2.AlgorithmSpec(
            algorithm_name="nac",
            algorithm_settings=[api_pb2.AlgorithmSetting(name=k, value=v)
                                for k, v in (settings or {}).items()],
        ),
        parallel_trial_count=parallel,
        max_trial_count=max_trials,
        nas_config=nas,
    )
    return api_pb2.Experiment(name=name, spec=spec)


def trial(name: str, assignments: Mapping[str, str], *, condition: int = _TS.SUCCEEDED,
          metrics: Mapping[str, str] | None = None,
          completion_time: str = "2026-01-01T00:00:00Z") -> api_pb2.Trial:
    t = api_pb2.Trial(name=name)
    for k, v in assignments.items():
        t.spec.parameter_assignments.assignments.add(name=k, value=v)
    t.status.condition = condition
    t.status.completion_time = completion_time if condition != _TS.RUNNING else ""
    for k, v in (metrics or {}).items():
        t.status.observation.metrics.add(name=k, value=v)
    return t


def assignments_of(item: api_pb2.GetSuggestionsReply.ParameterAssignments) -> dict[str, str]:
    return {a.name: a.value for a in item.assignments}


def request(experiment: api_pb2.Experiment, trials: Iterable[api_pb2.Trial] = (), *,
            count: int = 1, total: int | None = None) -> api_pb2.GetSuggestionsRequest:
    trials = list(trials)
    return api_pb2.GetSuggestionsRequest(
        experiment=experiment, trials=trials, current_request_number=count,
        total_request_number=len(trials) + count if total is None else total)


def rfc3339(i: int) -> str:
    """A distinct, increasing completion time for synthetic trial i."""
    return f"2026-01-{1 + i // 86400:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
