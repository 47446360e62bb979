"""Neutral view of an Experiment (parameters, objective, NAS config) built from the proto.

Everything the algorithms see is a plain frozen dataclass; only this module and ``service.py``
know the proto. Invalid specs raise :class:`SuggestionInputError` naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from katib.api import api_pb2
from katib.types import Objective, ObjectiveType

from .errors import SuggestionInputError


class ParamKind(Enum):
    DOUBLE = "double"
    INT = "int"
    DISCRETE = "discrete"
    CATEGORICAL = "categorical"


class Distribution(Enum):
    UNIFORM = "uniform"
    LOG_UNIFORM = "logUniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"

    @property
    def is_log(self) -> bool:
        return self in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL)


_KINDS = {
    api_pb2.DOUBLE: ParamKind.DOUBLE,
    api_pb2.INT: ParamKind.INT,
    api_pb2.DISCRETE: ParamKind.DISCRETE,
    api_pb2.CATEGORICAL: ParamKind.CATEGORICAL,
}
_DISTRIBUTIONS = {
    api_pb2.DISTRIBUTION_UNSPECIFIED: Distribution.UNIFORM,
    api_pb2.UNIFORM: Distribution.UNIFORM,
    api_pb2.LOG_UNIFORM: Distribution.LOG_UNIFORM,
    api_pb2.NORMAL: Distribution.NORMAL,
    api_pb2.LOG_NORMAL: Distribution.LOG_NORMAL,
}


@dataclass(frozen=True)
class Parameter:
    """One search-space parameter; numbers parsed, list values kept as the user wrote them."""

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple[str, ...] = ()
    distribution: Distribution = Distribution.UNIFORM

    def format(self, value: Any) -> str:
        """Wire string for a value of this parameter."""
        if self.kind is ParamKind.INT:
            return str(int(value))
        if self.kind is ParamKind.DOUBLE:
            return repr(float(value))
        return str(value)

    def parse(self, text: str) -> Any:
        """Value from a wire string; ``ValueError`` if it is not inside this parameter's space."""
        if self.kind in (ParamKind.DISCRETE, ParamKind.CATEGORICAL):
            if text in self.values:
                return text
            if self.kind is ParamKind.DISCRETE:
                for v in self.values:
                    if float(v) == float(text):
                        return v
            raise ValueError(f"{text!r} is not one of {list(self.values)}")
        number = float(text)
        if self.kind is ParamKind.INT:
            if number != int(number):
                raise ValueError(f"{text!r} is not an integer")
            number = int(number)
        assert self.low is not None and self.high is not None
        if not self.low <= number <= self.high:
            raise ValueError(f"{text!r} is outside [{self.low:g}, {self.high:g}]")
        return number


@dataclass(frozen=True)
class NasOperation:
    operation_type: str
    parameters: tuple[Parameter, ...]


@dataclass(frozen=True)
class NasConfig:
    num_layers: int
    input_sizes: tuple[int, ...]
    output_sizes: tuple[int, ...]
    operations: tuple[NasOperation, ...]


@dataclass(frozen=True)
class ExperimentView:
    """What an algorithm may know about the Experiment."""

    name: str
    algorithm: str
    settings: tuple[tuple[str, str], ...]
    parameters: tuple[Parameter, ...]
    objective: Objective
    parallel_trial_count: int
    max_trial_count: int
    nas: NasConfig | None


def _number(name: str, field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SuggestionInputError(
            f"parameter {name!r}: feasibleSpace.{field}={text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise SuggestionInputError(f"parameter {name!r}: feasibleSpace.{field} must be finite")
    return value


def parameter_from_proto(spec: api_pb2.ParameterSpec) -> Parameter:
    """Checked :class:`Parameter`; errors name the parameter and the field."""
    name = spec.name or "<unnamed>"
    kind = _KINDS.get(spec.parameter_type)
    if kind is None:
        raise SuggestionInputError(
            f"parameter {name!r}: parameterType is unset or unknown; "
            "use double, int, discrete or categorical"
        )
    fs = spec.feasible_space
    dist = _DISTRIBUTIONS.get(fs.distribution)
    if dist is None:
        raise SuggestionInputError(
            f"parameter {name!r}: unsupported distribution {fs.distribution}; "
            "use uniform, logUniform, normal or logNormal"
        )
    if kind in (ParamKind.DISCRETE, ParamKind.CATEGORICAL):
        values = tuple(fs.list)
        if not values:
            raise SuggestionInputError(f"parameter {name!r}: feasibleSpace.list is empty")
        if len(set(values)) != len(values):
            raise SuggestionInputError(f"parameter {name!r}: feasibleSpace.list has duplicates")
        if kind is ParamKind.DISCRETE:
            for v in values:
                _number(name, "list", v)
        return Parameter(name, kind, values=values, distribution=dist)
    if not fs.min or not fs.max:
        raise SuggestionInputError(f"parameter {name!r}: feasibleSpace.min and max are required")
    low, high = _number(name, "min", fs.min), _number(name, "max", fs.max)
    if low > high:
        raise SuggestionInputError(
            f"parameter {name!r}: feasibleSpace.min={fs.min} is greater than max={fs.max}"
        )
    step = _number(name, "step", fs.step) if fs.step else None
    if step is not None and step <= 0:
        raise SuggestionInputError(f"parameter {name!r}: feasibleSpace.step must be > 0")
    if kind is ParamKind.INT:
        if low != int(low) or high != int(high):
            raise SuggestionInputError(f"parameter {name!r}: int min/max must be integers")
        if step is not None and step != int(step):
            raise SuggestionInputError(f"parameter {name!r}: int step must be an integer")
    if dist.is_log and low <= 0:
        raise SuggestionInputError(
            f"parameter {name!r}: distribution {dist.value} needs min > 0 (got {fs.min})"
        )
    return Parameter(name, kind, low, high, step, (), dist)


def objective_from_proto(obj: api_pb2.ObjectiveSpec) -> Objective:
    if obj.type not in (api_pb2.MAXIMIZE, api_pb2.MINIMIZE):
        raise SuggestionInputError("objective.type must be maximize or minimize")
    goal = obj.goal or None  # proto3 double: 0 means unset; the controller omits an unset goal
    return Objective(
        metric=obj.objective_metric_name,
        type=ObjectiveType.MAXIMIZE if obj.type == api_pb2.MAXIMIZE else ObjectiveType.MINIMIZE,
        goal=goal,
        additional_metrics=tuple(obj.additional_metric_names),
    )


def nas_from_proto(nas: api_pb2.NasConfig) -> NasConfig:
    ops = tuple(
        NasOperation(
            op.operation_type,
            tuple(parameter_from_proto(p) for p in op.parameter_specs.parameters),
        )
        for op in nas.operations.operation
    )
    g = nas.graph_config
    return NasConfig(g.num_layers, tuple(g.input_sizes), tuple(g.output_sizes), ops)


def experiment_from_proto(exp: api_pb2.Experiment) -> ExperimentView:
    """Neutral experiment view. HP parameters are checked here; NAS semantics by the algorithm."""
    spec = exp.spec
    names = [p.name for p in spec.parameter_specs.parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:  # a history value would be read as the wrong parameter's type
        raise SuggestionInputError(f"parameters: name(s) {duplicates} appear more than once; "
                                   "give every parameter a unique name")
    has_nas = spec.HasField("nas_config") and (
        spec.nas_config.graph_config.num_layers > 0 or len(spec.nas_config.operations.operation) > 0
    )
    return ExperimentView(
        name=exp.name,
        algorithm=spec.algorithm.algorithm_name,
        settings=tuple((s.name, s.value) for s in spec.algorithm.algorithm_settings),
        parameters=tuple(parameter_from_proto(p) for p in spec.parameter_specs.parameters),
        objective=objective_from_proto(spec.objective),
        parallel_trial_count=max(1, spec.parallel_trial_count),
        max_trial_count=spec.max_trial_count,
        nas=nas_from_proto(spec.nas_config) if has_nas else None,
    )
