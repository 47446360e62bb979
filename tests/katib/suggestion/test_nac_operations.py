"""The ENAS-style operation mapping (katib/nac_operations.py): the two directions are inverses,
and what katib/experiments.py writes is what the `nac` suggestion reads back."""

from __future__ import annotations

import itertools

import pytest

from katib.experiments import nas_experiment
from katib.nac_operations import operations_from_ops, ops_from_operations
from katib.suggestion import testing as T
from katib.suggestion.algorithms.nac import NACAlgorithm
from katib.suggestion.algorithms.nac_config import config_from
from katib.suggestion.search_space import experiment_from_proto
from nac.spec import OPS


def _pairs(operations: list[dict]) -> list[tuple[str, list[int]]]:
    return [(op["operationType"], [int(v) for v in op["parameters"][0]["feasibleSpace"]["list"]])
            for op in operations]


@pytest.mark.parametrize("size", range(1, len(OPS) + 1))
def test_every_set_of_branch_ops_round_trips(size: int) -> None:
    for ops in itertools.combinations(OPS, size):  # combinations keep OPS order
        operations = operations_from_ops(ops)
        assert {op["operationType"] for op in operations} <= {"convolution",
                                                              "separable_convolution"}
        assert ops_from_operations(_pairs(operations)) == ops


def test_the_experiment_builder_and_the_suggestion_agree() -> None:
    """katib/experiments.py's nasConfig, as Katib hands it to the service, gives the same ops."""
    ops = ["7x7sep", "1x1", "5x5"]
    body = nas_experiment(name="ops", image="i", data="builtin:digits", input_shape=[1, 8, 8],
                          num_classes=10, stages=3, ops=ops, settings={"stem_channels": 8},
                          iterations=1)
    exp = T.nas_experiment(operations=[(kind, [str(s) for s in sizes]) for kind, sizes
                                       in _pairs(body["spec"]["nasConfig"]["operations"])])
    assert config_from(experiment_from_proto(exp)).search.envelope == ("1x1", "5x5", "7x7sep")
    NACAlgorithm().validate(experiment_from_proto(exp))


def test_each_direction_refuses_what_the_other_cannot_express() -> None:
    with pytest.raises(ValueError, match="op '3x5' is not a branch op like 3x3 or 5x5sep"):
        operations_from_ops(["3x5"])
    with pytest.raises(ValueError, match="operationType 'pooling' is not supported by nac"):
        ops_from_operations([("pooling", [3])])
    with pytest.raises(ValueError, match=r"\[separable_convolution\]: filter_size 1 is not "
                                         "supported; allowed: 3, 5, 7"):
        ops_from_operations([("separable_convolution", [1])])
