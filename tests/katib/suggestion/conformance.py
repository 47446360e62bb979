"""The contract every suggestion algorithm keeps, as one suite (optuna's testing/pytest_samplers.py
pattern): subclass :class:`AlgorithmContract` per algorithm name; test_conformance.py does so
for every name the registry serves and checks none is missing.

The contract, from DESIGN's suggestion-service rules and katib v0.19.0
pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go (SyncAssignments asks
for ``current_request_number`` assignments and fails the Suggestion on a short reply):

* exactly N assignments for a request of N (through the algorithm and through the servicer),
  each naming the space's parameters in order;
* every value inside the search space (checked here from the proto, not through our parser);
* the same request twice gives the same reply; a fresh instance and a fresh process too;
* a history the algorithm models changes its reply; one it ignores (``random``, ``sobol``)
  does not;
* an unknown setting is refused with SuggestionInputError naming it.

The fresh process is ``python -m tests.katib.suggestion.fresh_reply`` (a new registry,
nothing imported but the algorithms).
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms import AlgorithmRegistry
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.service import SuggestionServicer
from tests.katib.suggestion.fresh_reply import Reply, suggest

ROOT = Path(__file__).resolve().parents[3]

#: Every kind of range Katib has: log-uniform, stepped double and int, discrete, normal,
#: categorical.
MIXED = [
    T.parameter("lr", T.DOUBLE, low="0.0001", high="0.1", distribution=api_pb2.LOG_UNIFORM),
    T.parameter("mom", T.DOUBLE, low="0.5", high="0.9", step="0.1"),
    T.parameter("layers", T.INT, low="2", high="10", step="2"),
    T.parameter("bs", T.DISCRETE, values=["16", "32", "64"]),
    T.parameter("w", T.DOUBLE, low="1", high="3", distribution=api_pb2.NORMAL),
    T.parameter("optimizer", T.CATEGORICAL, values=["sgd", "adam"]),
]


def reply_of(reply: api_pb2.GetSuggestionsReply) -> Reply:
    return [(p.trial_name, T.assignments_of(p), dict(p.labels))
            for p in reply.parameter_assignments]


class _Context:
    def set_code(self, code: Any) -> None:
        raise AssertionError(code)

    def set_details(self, details: str) -> None:
        raise AssertionError(details)


def fresh_process_reply(req: api_pb2.GetSuggestionsRequest) -> Reply:
    out = subprocess.run([sys.executable, "-m", "tests.katib.suggestion.fresh_reply"],
                         input=req.SerializeToString(), cwd=ROOT, capture_output=True,
                         timeout=120, check=True)
    return [(n, v, lab) for n, v, lab in json.loads(out.stdout.decode().strip().splitlines()[-1])]


def synthetic_point(params: list[api_pb2.ParameterSpec], rng: random.Random) -> dict[str, str]:
    """A point inside the space, chosen without any algorithm."""
    out = {}
    for p in params:
        fs = p.feasible_space
        if fs.list:
            out[p.name] = rng.choice(list(fs.list))
        elif fs.step:
            n = round((float(fs.max) - float(fs.min)) / float(fs.step))
            v = float(fs.min) + rng.randint(0, n) * float(fs.step)
            out[p.name] = str(int(v)) if p.parameter_type == T.INT else f"{v:g}"
        elif p.parameter_type == T.INT:
            out[p.name] = str(rng.randint(int(fs.min), int(fs.max)))
        else:
            lo, hi = float(fs.min), float(fs.max)
            log = fs.distribution == api_pb2.LOG_UNIFORM
            u = rng.uniform(math.log(lo), math.log(hi)) if log else rng.uniform(lo, hi)
            out[p.name] = f"{math.exp(u) if log else u:.6g}"
    return out


def check_inside(p: api_pb2.ParameterSpec, text: str) -> None:
    fs = p.feasible_space
    if fs.list:
        assert text in fs.list, (p.name, text)
        return
    value = int(text) if p.parameter_type == T.INT else float(text)
    assert float(fs.min) - 1e-12 <= value <= float(fs.max) + 1e-12, (p.name, text)
    if fs.step:
        k = (value - float(fs.min)) / float(fs.step)
        assert abs(k - round(k)) < 1e-6, (p.name, text, "off the step grid")


class AlgorithmContract:
    """Subclass with ``algorithm`` set; override the hooks for a non-HPO algorithm."""

    algorithm: ClassVar[str]
    settings: ClassVar[dict[str, str]] = {}
    #: Whether the reply depends on the history (False: on the suggestion index only).
    history_matters: ClassVar[bool] = True
    rounds: ClassVar[int] = 15
    #: Finished trials in the request: past every sampler's default startup phase (10).
    history_size: ClassVar[int] = 12

    # ---------------------------------------------------------------- hooks
    def parameters(self) -> list[api_pb2.ParameterSpec]:
        return MIXED

    def experiment(self, **settings: str) -> api_pb2.Experiment:
        return T.hpo_experiment(name=f"conf-{self.algorithm}", algorithm=self.algorithm,
                                settings={**self.settings, **settings},
                                parameters=self.parameters(), parallel=3)

    def metrics(self, values: dict[str, str], i: int) -> dict[str, str]:
        return {"accuracy": f"{math.sin(i + len(json.dumps(values))) / 2 + 0.5:.6f}"}

    def history(self, exp: api_pb2.Experiment, n: int, seed: int = 0) -> list[api_pb2.Trial]:
        """`n` finished trials at points chosen without the algorithm."""
        rng = random.Random(seed)  # noqa: S311
        points = [synthetic_point(self.parameters(), rng) for _ in range(n)]
        return [T.trial(f"{exp.name}-h{seed}-{i}", a, metrics=self.metrics(a, i),
                        completion_time=T.rfc3339(i)) for i, a in enumerate(points)]

    def check_assignment(self, exp: api_pb2.Experiment, name: str, values: dict[str, str],
                         labels: dict[str, str]) -> None:
        params = list(exp.spec.parameter_specs.parameters)
        assert list(values) == [p.name for p in params]
        for p in params:
            check_inside(p, values[p.name])

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> tuple[api_pb2.Experiment, list[api_pb2.Trial]]:
        contract = cls()
        exp = contract.experiment()
        return exp, contract.history(exp, cls.history_size)

    # ---------------------------------------------------------------- the contract
    @pytest.mark.parametrize("count", [1, 3])
    def test_exactly_n_assignments(self, case, count: int) -> None:
        exp, trials = case
        req = T.request(exp, trials, count=count)
        got = suggest(AlgorithmRegistry(), req)
        assert len(got) == count
        served = reply_of(SuggestionServicer().GetSuggestions(req, _Context()))
        assert served == got
        for name, values, labels in got:
            self.check_assignment(exp, name, values, labels)

    def test_values_inside_the_space_as_the_history_grows(self, case) -> None:
        exp, _ = case
        registry, trials = AlgorithmRegistry(), []
        for i in range(self.rounds):
            ((name, values, labels),) = suggest(registry, T.request(exp, trials))
            self.check_assignment(exp, name, values, labels)
            trials.append(T.trial(name or f"{exp.name}-{i}", values,
                                  metrics=self.metrics(values, i), completion_time=T.rfc3339(i)))

    def test_same_request_twice_same_reply(self, case) -> None:
        exp, trials = case
        registry = AlgorithmRegistry()
        req = T.request(exp, trials, count=2)
        assert suggest(registry, req) == suggest(registry, req)

    def test_fresh_instance_same_reply(self, case) -> None:
        exp, trials = case
        req = T.request(exp, trials, count=2)
        assert suggest(AlgorithmRegistry(), req) == suggest(AlgorithmRegistry(), req)

    def test_fresh_process_same_reply(self, case) -> None:
        exp, trials = case
        req = T.request(exp, trials, count=2)
        assert fresh_process_reply(req) == suggest(AlgorithmRegistry(), req)

    def test_history_changes_the_reply_only_when_modelled(self, case) -> None:
        exp, trials = case
        other = self.history(exp, len(trials), seed=1)
        total = len(trials) + 2  # the same suggestion index for both histories
        a = suggest(AlgorithmRegistry(), T.request(exp, trials, count=2, total=total))
        b = suggest(AlgorithmRegistry(), T.request(exp, other, count=2, total=total))
        assert (a != b) is self.history_matters

    def test_unknown_setting_is_refused_naming_it(self) -> None:
        exp = self.experiment(conformance_bogus="1")
        algorithm = AlgorithmRegistry().get(self.algorithm)
        for call in (lambda: algorithm.validate(experiment_from_proto(exp)),
                     lambda: suggest(AlgorithmRegistry(), T.request(exp))):
            with pytest.raises(SuggestionInputError, match=re.escape("'conformance_bogus'")):
                call()

