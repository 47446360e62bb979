"""The HPO algorithm's parts, tested directly: indexed samplers, warm-start projection, the
one LRU helper (and the aged prior cache on it), the study cache, `SettingsTable.fill`."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from katib.suggestion import testing as T
from katib.suggestion._lru import LRU
from katib.suggestion.algorithms.indexed_samplers import (
    MAX_GRID_POINTS,
    from_unit,
    grid_points,
    grid_suggest,
    grid_values,
    halton,
    next_prime,
)
from katib.suggestion.algorithms.optuna_hpo import OptunaAlgorithm
from katib.suggestion.algorithms.warm_start import PriorCache, inside, project, top_k_projected
from katib.suggestion.algorithms.warm_start_sources import PriorTrial
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.settings import Setting, SettingsTable
from katib.types import Objective, ObjectiveType
from tests.katib.suggestion.conformance import MIXED
from tests.katib.suggestion.test_hpo_algorithm import FakeCustomObjects, _trial_cr, suggest

PARAMS = experiment_from_proto(T.hpo_experiment(parameters=MIXED)).parameters
LR, MOM, LAYERS, BS, W, OPT = PARAMS
MAXIMIZE = Objective(type=ObjectiveType.MAXIMIZE, metric="accuracy")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------- indexed samplers
def test_halton_is_a_shifted_van_der_corput_sequence() -> None:
    rng = random.Random(5)  # noqa: S311 - the shift halton draws, one per dimension
    shift = [rng.random(), rng.random()]
    for i, (b2, b3) in enumerate([(1 / 2, 1 / 3), (1 / 4, 2 / 3), (3 / 4, 1 / 9), (1 / 8, 4 / 9)]):
        got = halton(i, 2, 5)
        assert got == pytest.approx([(b2 + shift[0]) % 1, (b3 + shift[1]) % 1])
    assert [next_prime(d) for d in (19, 20, 21, 24)] == [71, 73, 79, 97]
    assert len(halton(3, 25, 0)) == 25 and all(0 <= u < 1 for u in halton(3, 25, 0))


def test_from_unit_covers_each_kind_of_range() -> None:
    assert [from_unit(OPT, u) for u in (0.0, 0.49, 0.5, 0.999999)] == ["sgd", "sgd", "adam",
                                                                       "adam"]
    assert [from_unit(LAYERS, u) for u in (0.0, 0.3, 0.99)] == [2, 4, 10]
    assert from_unit(MOM, 0.26) == 0.6  # snapped to the 0.1 step
    assert from_unit(LR, 0.0) == pytest.approx(1e-4) and from_unit(LR, 0.5) == pytest.approx(
        10 ** -2.5)
    low, mid, high = (from_unit(W, u) for u in (1e-9, 0.5, 1 - 1e-9))
    assert mid == pytest.approx(2.0)  # the centre of the truncated normal
    assert 1.0 <= low < 1.1 and 2.9 < high <= 3.0


def test_grid_axes_points_and_order() -> None:
    assert grid_values(MOM) == ["0.5", "0.6", "0.7", "0.8", "0.9"]
    assert grid_values(LAYERS) == ["2", "4", "6", "8", "10"]
    with pytest.raises(SuggestionInputError, match="'lr': sampler grid needs feasibleSpace.step"):
        grid_values(LR)
    huge = experiment_from_proto(T.hpo_experiment(parameters=[
        T.parameter(f"p{i}", T.INT, low="1", high="100") for i in range(4)])).parameters
    with pytest.raises(SuggestionInputError, match=f"more than {MAX_GRID_POINTS}"):
        grid_points(huge)
    space = (MOM, BS)
    first = grid_suggest(space, 3, set(), 15, 0)
    assert len({tuple(p.items()) for p in first}) == 15  # every point once
    seen = {tuple(sorted(p.items())) for p in first[:14]}
    assert grid_suggest(space, 3, seen, 1, 14) == [first[14]]  # the one not yet seen
    assert grid_suggest(space, 3, seen | {tuple(sorted(first[14].items()))}, 2, 15) == first[:2]


# ------------------------------------------------------------------- warm-start projection
def test_projection_clips_snaps_and_drops() -> None:
    space = (LR, LAYERS, OPT)
    assert project({"lr": "0.5", "layers": "7", "optimizer": "adam"}, space) == {
        "lr": "0.1", "layers": "6", "optimizer": "adam"}  # 7 -> round(2.5) steps of 2 from 2
    assert project({"lr": "0.01", "layers": "40", "optimizer": "sgd"}, space)["layers"] == "10"
    assert project({"lr": "0.01", "layers": "4", "optimizer": "lamb"}, space) is None
    assert project({"lr": "x", "layers": "4", "optimizer": "sgd"}, space) is None
    assert project({"lr": "0.01", "optimizer": "sgd"}, space) is None
    assert inside({"lr": "0.01", "layers": "4", "optimizer": "sgd"}, space)
    assert not inside({"lr": "0.5", "layers": "4", "optimizer": "sgd"}, space)
    priors = [PriorTrial({"lr": lr, "layers": "4", "optimizer": "sgd"}, acc, "s")
              for lr, acc in [("0.01", 0.5), ("0.9", 0.9), ("0.5", 0.8), ("0.02", 0.7)]]
    # 0.9 and 0.5 both project to lr=0.1: one entry, then the next best
    assert [p["lr"] for p in top_k_projected(priors, space, MAXIMIZE, 3)] == ["0.1", "0.02",
                                                                              "0.01"]
    minimize = Objective(type=ObjectiveType.MINIMIZE, metric="accuracy")
    assert top_k_projected(priors, space, minimize, 1)[0]["lr"] == "0.01"


# ------------------------------------------------------------------- the LRU helper
def test_lru_evicts_least_recently_used_and_ages_entries() -> None:
    clock = Clock()
    cache: LRU[str, int | None] = LRU(2, max_age_s=10, clock=clock)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # a is now the most recent
    cache["c"] = 3
    assert "b" not in cache and len(cache) == 2 and cache["a"] == 1
    assert cache.get_or_compute("n", lambda: None) is None  # a cached None is a hit
    assert cache.get_or_compute("n", lambda: 7) is None
    with pytest.raises(ZeroDivisionError):
        cache.get_or_compute("z", lambda: 1 // 0)
    assert "z" not in cache
    clock.now = 10.5
    assert cache.get("n", -1) == -1 and len(cache) == 1  # expired: gone
    with pytest.raises(KeyError):
        _ = cache["n"]
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        LRU(0)


def test_a_growing_kubernetes_source_is_reread_after_its_max_age() -> None:
    fake = FakeCustomObjects([_trial_cr("old-a", "0.01", "4", "adam", "0.90")])
    clock = Clock()
    alg = OptunaAlgorithm(priors=PriorCache(lambda: fake, max_age_s=60, clock=clock))
    exp = T.hpo_experiment(settings={"warm_start_source": "team/old",
                                     "warm_start_type": "transfer", "warm_start_top_k": "1"})
    first = suggest(alg, exp)
    fake.items.append(_trial_cr("old-b", "0.05", "6", "sgd", "0.99"))  # a better trial lands
    clock.now = 59
    assert suggest(alg, exp) == first  # within the age: the cached read
    assert len(fake.calls) == 1
    clock.now = 61
    assert suggest(alg, exp) == [{"lr": "0.05", "layers": "6", "optimizer": "sgd"}]
    assert len(fake.calls) == 2


# ------------------------------------------------------------------- the study cache
def test_a_previous_calls_asked_trials_are_closed() -> None:
    """GPSampler models RUNNING trials: left open, a repeat would see the first call's."""
    exp = T.hpo_experiment(settings={"seed": "4", "n_startup_trials": "2"})
    alg = OptunaAlgorithm()
    trials = [T.trial(f"t{i}", a, metrics={"accuracy": str(i / 10)},
                      completion_time=T.rfc3339(i))
              for i, a in enumerate(suggest(alg, exp, count=3))]
    first = suggest(alg, exp, trials, count=2)
    states = [t.state.name for t in alg._studies[exp.name].study.trials]
    assert states.count("RUNNING") == 2 and states.count("COMPLETE") == 3
    assert suggest(alg, exp, trials, count=2) == first
    states = [t.state.name for t in alg._studies[exp.name].study.trials]
    assert states.count("RUNNING") == 2 and states.count("FAIL") == 5


# ------------------------------------------------------------------- SettingsTable.fill
@dataclass(frozen=True)
class _Inner:
    depth: int


@dataclass(frozen=True)
class _Config:
    inner: _Inner
    seed: int
    name: str = "x"


_TABLE = SettingsTable("demo", (Setting("depth", "int", 2, "d"), Setting("seed", "int", None,
                                                                         "s")))


def test_fill_passes_every_setting_on_or_refuses() -> None:
    values = _TABLE.parse({"depth": "3"})
    cfg = _TABLE.fill(_Config, values, inner=_Inner(values["depth"]), seed=9)
    assert cfg == _Config(_Inner(3), 9)
    depth_only = SettingsTable("d", (Setting("depth", "int", 2, "d"),))
    assert depth_only.parse_into(_Inner, {"depth": "4"}) == _Inner(4)
    with pytest.raises(TypeError, match="setting 'depth' of algorithm 'demo' does not reach"):
        _TABLE.fill(_Config, values, inner=_Inner(2), seed=1)  # parsed 3, passed 2
    with pytest.raises(TypeError, match="setting 'seed' of algorithm 'demo' does not reach"):
        _TABLE.parse_into(_Inner, {"depth": "4"})
    with pytest.raises(TypeError, match=r"_Inner has no field \['bogus'\]"):
        depth_only.parse_into(_Inner, {}, bogus=1)
