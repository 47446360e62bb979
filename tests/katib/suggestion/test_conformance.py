"""Every algorithm name the registry serves runs the conformance suite (conformance.py)."""

from __future__ import annotations

import random
from typing import ClassVar

from katib import nac_schedule, nac_stats
from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms import ALGORITHM_NAMES, AlgorithmRegistry
from nac.spec import parse_architecture
from tests.katib.suggestion.conformance import MIXED, AlgorithmContract, check_inside
from tests.katib.suggestion.fresh_reply import suggest

_STEPPED = [T.parameter("lr", T.DOUBLE, low="0.01", high="0.05", step="0.01"),
            T.parameter("layers", T.INT, low="1", high="4"),
            T.parameter("opt", T.CATEGORICAL, values=["sgd", "adam"])]


class TestRandom(AlgorithmContract):
    algorithm = "random"
    settings: ClassVar[dict[str, str]] = {"random_state": "3"}
    history_matters = False


class TestSobol(AlgorithmContract):
    algorithm = "sobol"
    history_matters = False


class TestGrid(AlgorithmContract):
    """Grid needs a step on every double: a stepped space of 5 * 4 * 2 points."""

    algorithm = "grid"

    def parameters(self) -> list[api_pb2.ParameterSpec]:
        return _STEPPED


class TestTpe(AlgorithmContract):
    algorithm = "tpe"  # Katib's hyperopt settings: no n_startup_trials (default 10)


class TestMultivariateTpe(AlgorithmContract):
    algorithm = "multivariate-tpe"
    settings: ClassVar[dict[str, str]] = {"n_startup_trials": "3", "seed": "7"}


class TestCmaes(AlgorithmContract):
    """A rebuilt CMA-ES study (a fresh instance, a restart) holds the history as trials and
    starts its optimizer from it (cma_restarts.WarmCmaEsSampler), so its first reply depends
    on the history (test_cmaes_rebuild.py: it lies around the history's best)."""

    algorithm = "cmaes"
    settings: ClassVar[dict[str, str]] = {"seed": "2"}


class TestBayesianOptimization(AlgorithmContract):
    """optuna's GPSampler where torch and scipy are importable (here; the lean image falls back
    to TPE). Kept in its startup phase: one GP fit costs seconds on a loaded 2-vCPU VM. The
    fitted path's repeatability (GPSampler models RUNNING trials) is
    test_hpo_algorithm.py::test_a_previous_calls_asked_trials_are_closed."""

    algorithm = "bayesianoptimization"
    settings: ClassVar[dict[str, str]] = {"n_startup_trials": "40"}
    history_matters = False


class TestWarmStart(AlgorithmContract):
    algorithm = "warm-start"
    settings: ClassVar[dict[str, str]] = {"n_startup_trials": "3"}


class TestWarmStartQmc(AlgorithmContract):
    """warm-start with the Halton sampler: a function of the index, not of the history."""

    algorithm = "warm-start"
    settings: ClassVar[dict[str, str]] = {"sampler": "qmc"}
    history_matters = False


class TestMultiObjective(AlgorithmContract):
    algorithm = "multi-objective"
    settings: ClassVar[dict[str, str]] = {"objectives": "accuracy:max,size:min",
                                          "population_size": "4", "random_state": "5"}

    def experiment(self, **settings: str) -> api_pb2.Experiment:
        exp = super().experiment(**settings)
        exp.spec.objective.additional_metric_names.append("size")
        return exp

    def metrics(self, values: dict[str, str], i: int) -> dict[str, str]:
        return {**super().metrics(values, i), "size": str(float(values["w"]) + i % 3)}


class SelfSuggestedHistory(AlgorithmContract):
    """History of trials the algorithm itself suggested (for algorithms whose names and
    values carry a schedule: hyperband's rungs, nac's iterations), finished with `metrics`."""

    def history(self, exp: api_pb2.Experiment, n: int, seed: int = 0) -> list[api_pb2.Trial]:
        registry, trials = AlgorithmRegistry(), []
        for i in range(n):
            ((name, values, _),) = suggest(registry, T.request(exp, trials))
            trials.append(T.trial(name, values, metrics=self.metrics(values, i + 1000 * seed),
                                  completion_time=T.rfc3339(i)))
        return trials


class TestHyperband(SelfSuggestedHistory):
    """Katib's settings (r_l=9, eta=3: brackets 9@1 3@3 1@9, 5@3 2@9, 3@9) on the mixed space
    plus the resource parameter; the history is the algorithm's own trials (it promotes by
    their objective and ignores trials it did not name)."""

    algorithm = "hyperband"
    settings: ClassVar[dict[str, str]] = {"r_l": "9", "eta": "3", "resource_name": "epochs",
                                          "random_state": "4"}
    history_size = 9  # the first rung, finished: the reply is its best, promoted


    def parameters(self) -> list[api_pb2.ParameterSpec]:
        return [*MIXED, T.parameter("epochs", T.INT, low="1", high="9")]

    def experiment(self, **settings: str) -> api_pb2.Experiment:
        exp = super().experiment(**settings)
        exp.spec.parallel_trial_count = 9  # Katib: at least eta ** s_max
        return exp

    def check_assignment(self, exp: api_pb2.Experiment, name: str, values: dict[str, str],
                         labels: dict[str, str]) -> None:
        super().check_assignment(exp, name, values, labels)
        assert values["epochs"] in {"1", "3", "9"} and "-hb" in name and len(name) <= 63


class TestNac(SelfSuggestedHistory):
    """The space is nasConfig: an architecture of the configured ops, iteration, seed."""

    algorithm = "nac"
    settings: ClassVar[dict[str, str]] = {"iterations": "2", "stem_channels": "8",
                                          "trials_per_iteration": "2"}
    rounds = 8

    def experiment(self, **settings: str) -> api_pb2.Experiment:
        return T.nas_experiment(name="conf-nac", settings={**self.settings, **settings},
                                parallel=2)

    def metrics(self, values: dict[str, str], i: int) -> dict[str, str]:
        spec = parse_architecture(values["architecture"])
        rng = random.Random(f"{values['seed']}/{i}")  # noqa: S311
        return {"accuracy": "0.9", "nac-stats": nac_stats.encode(
            {k: rng.random() for k in spec.branch_keys()},
            {k: rng.random() for k in spec.gate_keys()})}

    def check_assignment(self, exp: api_pb2.Experiment, name: str, values: dict[str, str],
                         labels: dict[str, str]) -> None:
        assert list(values) == ["architecture", "iteration", "seed"]
        spec = parse_architecture(values["architecture"])
        assert set(spec.envelope) <= {"1x1", "3x3", "5x5", "3x3sep", "5x5sep", "7x7sep"}
        assert 0 <= int(values["iteration"]) <= 2 and int(values["seed"]) >= 0
        assert nac_schedule.trial_index(name) is not None and len(name) <= 63
        assert labels[nac_schedule.ITERATION_LABEL] == values["iteration"]


def _contracts(cls: type = AlgorithmContract) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_contracts(sub))]


def test_every_served_name_runs_the_suite() -> None:
    covered = {c.algorithm for c in _contracts() if c.__name__.startswith("Test")}
    assert covered == set(ALGORITHM_NAMES)


def test_check_inside_refuses_what_is_outside() -> None:
    """The suite's own oracle can fail: off-step, out-of-range and unknown values."""
    for p, bad in [(MIXED[1], "0.55"), (MIXED[1], "1.0"), (MIXED[2], "3"), (MIXED[3], "8"),
                   (MIXED[0], "0.5")]:
        try:
            check_inside(p, bad)
        except AssertionError:
            continue
        raise AssertionError(f"{p.name}={bad} passed as inside")
