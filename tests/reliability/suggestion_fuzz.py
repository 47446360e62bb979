"""Property-based fuzzing of a REAL suggestion server process on 127.0.0.1.

`fuzz` sends hypothesis-generated GetSuggestions / ValidateAlgorithmSettings requests to a
suggestion_process.SuggestionProcess: random experiments, mutated valid HPO and NAS
experiments, histories with duplicate names, NaN/inf/"unavailable"/garbage metrics and
nac-stats, huge histories, mismatched nasConfig, unknown algorithms and random settings. Every
reply must be OK (with exactly current_request_number assignments) or INVALID_ARGUMENT; never
UNKNOWN or INTERNAL, never a dead server, never a timeout.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from katib.api import api_pb2
from katib.constants import BUILTIN_SAMPLERS
from katib.suggestion import testing as T
from tests.reliability.faults import Outcome
from tests.reliability.suggestion_process import (
    CATEGORY,
    CLEAN_CODES,
    MEMORY_TARGET_MIB,
    RPC_TIMEOUT,
    SuggestionProcess,
    call,
    valid_requests_succeed,
)

ALGORITHMS = ["nac", "warm-start", *BUILTIN_SAMPLERS]
# Kubernetes experiment references make the server import the kubernetes client (no cluster
# here, every one fails the same way); they are measured apart, not fuzzed.
_K8S_REF = re.compile(r"^(?:katib://)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# -- strategies ----------------------------------------------------------------------------
_NASTY_NUMBERS = ["0", "1", "-1", "0.5", "1e-12", "1e309", "-1e309", "nan", "NaN", "inf", "-inf",
                  "", " ", "abc", "1,2", "0x10", "9" * 400, "1.0.0", "２", "true", "None",
                  "2147483648", "-2147483649", "1e-400", "3", "64", "100"]
nasty = st.one_of(st.sampled_from(_NASTY_NUMBERS), st.text(max_size=40),
                  st.integers(-10**6, 10**6).map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr))
name_text = st.one_of(st.sampled_from(["lr", "layers", "optimizer", "x", "", "architecture",
                                       "iteration", "seed"]), st.text(max_size=30))
int32 = st.one_of(st.integers(-5, 40), st.integers(-2**31, 2**31 - 1),
                  st.sampled_from([0, 1, 2, 1000, 1001]))
_SETTING_NAMES = ["iterations", "layers_per_stage", "max_layers_per_stage", "construction",
                  "max_filter_prune", "skip", "stem_channels", "worst_case", "seed",
                  "trials_per_iteration", "stat", "sampler", "random_state", "n_startup_trials",
                  "n_ei_candidates", "n_EI_candidates", "sigma", "warm_start_source",
                  "warm_start_type", "warm_start_top_k", "unknown_setting"]
_SETTING_VALUES = ["1", "2", "0", "-1", "3,3,3", "2,2", "1,1,1", "true,false", "true", "false",
                   "maybe", "tpe", "random", "grid", "gp", "qmc", "cmaes", "transfer",
                   "identical", "meansss", "variance", "/nonexistent/results.json",
                   "file:///dev/null", "http://127.0.0.1:9/x.json", "nan", "inf", "1e9"]
setting_value = st.one_of(st.sampled_from(_SETTING_VALUES), nasty).filter(
    lambda v: not _K8S_REF.match(v.strip()) and not any(
        _K8S_REF.match(part.strip()) for part in v.split(",")))
settings_list = st.lists(st.tuples(st.one_of(st.sampled_from(_SETTING_NAMES), st.text(max_size=20)),
                                   setting_value), max_size=6)


@st.composite
def parameter_spec(draw: st.DrawFn) -> api_pb2.ParameterSpec:
    return api_pb2.ParameterSpec(
        name=draw(name_text),
        parameter_type=draw(st.integers(0, 5)),
        feasible_space=api_pb2.FeasibleSpace(
            min=draw(nasty), max=draw(nasty), step=draw(st.one_of(st.just(""), nasty)),
            list=draw(st.lists(nasty, max_size=6)), distribution=draw(st.integers(0, 5))))


@st.composite
def nas_config(draw: st.DrawFn) -> api_pb2.NasConfig:
    nas = api_pb2.NasConfig(graph_config=api_pb2.GraphConfig(
        num_layers=draw(int32),
        input_sizes=draw(st.lists(st.integers(-3, 70), max_size=4)),
        output_sizes=draw(st.lists(st.integers(-3, 20), max_size=3))))
    for _ in range(draw(st.integers(0, 4))):
        op = nas.operations.operation.add(operation_type=draw(st.one_of(
            st.sampled_from(["convolution", "separable_convolution", "reduction",
                             "depthwise_convolution"]), st.text(max_size=20))))
        for _ in range(draw(st.integers(0, 2))):
            spec = draw(parameter_spec())
            if draw(st.booleans()):
                spec.name = "filter_size"
            op.parameter_specs.parameters.append(spec)
    return nas


@st.composite
def random_experiment(draw: st.DrawFn) -> api_pb2.Experiment:
    spec = api_pb2.ExperimentSpec(
        objective=api_pb2.ObjectiveSpec(
            type=draw(st.integers(0, 3)), goal=draw(st.floats(allow_nan=True)),
            objective_metric_name=draw(st.one_of(st.just("accuracy"), st.text(max_size=20))),
            additional_metric_names=draw(st.lists(st.sampled_from(["nac-stats", "loss", ""]),
                                                  max_size=3))),
        algorithm=api_pb2.AlgorithmSpec(
            algorithm_name=draw(st.one_of(st.sampled_from(ALGORITHMS + ["", "NAC", "enas",
                                                                        "hyperband"]),
                                          st.text(max_size=20))),
            algorithm_settings=[api_pb2.AlgorithmSetting(name=n, value=v)
                                for n, v in draw(settings_list)]),
        parallel_trial_count=draw(int32), max_trial_count=draw(int32))
    spec.parameter_specs.parameters.extend(draw(st.lists(parameter_spec(), max_size=5)))
    if draw(st.booleans()):
        spec.nas_config.CopyFrom(draw(nas_config()))
    return api_pb2.Experiment(name=draw(st.text(max_size=80)), spec=spec)


@st.composite
def mutated_hpo(draw: st.DrawFn) -> api_pb2.Experiment:
    """A valid HPO experiment with a few fields broken (or none)."""
    exp = T.hpo_experiment(name=draw(st.sampled_from(["hpo", "hpo-b", "x" * 70])),
                           algorithm=draw(st.sampled_from(ALGORITHMS[1:])),
                           settings=dict(draw(settings_list)) if draw(st.integers(0, 3)) == 0
                           else None,
                           maximize=draw(st.booleans()))
    params = exp.spec.parameter_specs.parameters
    for _ in range(draw(st.integers(0, 2))):
        p = params[draw(st.integers(0, len(params) - 1))]
        what = draw(st.sampled_from(["min", "max", "step", "list", "type", "dup", "name",
                                     "distribution"]))
        if what in ("min", "max", "step"):
            setattr(p.feasible_space, what, draw(nasty))
        elif what == "list":
            p.feasible_space.list[:] = draw(st.lists(nasty, max_size=4))
        elif what == "type":
            p.parameter_type = draw(st.integers(0, 6))
        elif what == "dup":
            params.add().CopyFrom(p)
        elif what == "name":
            p.name = draw(name_text)
        else:
            p.feasible_space.distribution = draw(st.integers(0, 6))
    if draw(st.integers(0, 9)) == 0:
        exp.spec.nas_config.CopyFrom(draw(nas_config()))  # nasConfig on an HPO algorithm
    return exp


@st.composite
def mutated_nas(draw: st.DrawFn) -> api_pb2.Experiment:
    settings_ = dict(draw(settings_list)) if draw(st.integers(0, 3)) == 0 else {
        "iterations": "2", "layers_per_stage": "1,1,1", "stem_channels": "8"}
    exp = T.nas_experiment(name=draw(st.sampled_from(["nas", "nas-b"])), settings=settings_,
                           stages=draw(st.sampled_from([3, 3, 3, 0, 1, 2, 64, -1])),
                           input_sizes=draw(st.sampled_from([(8, 8, 1), (8, 8, 1), (32, 32, 3),
                                                             (0, 8, 1), (8, 8, -1)])),
                           classes=draw(st.sampled_from([10, 10, 2, 1, 0, -5])))
    if draw(st.integers(0, 4)) == 0:
        exp.spec.nas_config.operations.operation.add(
            operation_type=draw(st.text(max_size=12))).parameter_specs.parameters.append(
                draw(parameter_spec()))
    if draw(st.integers(0, 6)) == 0:
        exp.spec.algorithm.algorithm_name = draw(st.sampled_from(ALGORITHMS))
    return exp


def _stats_text(draw: st.DrawFn, keys: list[str]) -> str:
    kind = draw(st.integers(0, 5))
    value = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**9),
                      st.text(max_size=5), st.none())
    if kind == 0:
        return draw(st.text(max_size=60))
    if kind == 1:
        return json.dumps({"v": draw(st.integers(0, 2)), "branches": draw(
            st.dictionaries(st.text(max_size=10), value, max_size=4))}, allow_nan=True)
    return json.dumps({"v": 1, "branches": {k: draw(value) for k in keys
                                            if draw(st.integers(0, 5))},
                       "gates": draw(st.dictionaries(st.sampled_from(["c1>c3", "c1>c4", "x"]),
                                                     value, max_size=3))}, allow_nan=True)


@dataclass
class Pools:
    """Valid values harvested from the live server, so histories reach deep code paths."""

    hpo: list[dict[str, str]] = field(default_factory=list)
    nas: list[dict[str, str]] = field(default_factory=list)
    branch_keys: list[str] = field(default_factory=list)


@st.composite
def history(draw: st.DrawFn, pools: Pools, nas: bool) -> list[api_pb2.Trial]:
    big = draw(st.integers(0, 60)) == 0
    n = draw(st.integers(300, 1500)) if big else draw(st.integers(0, 12))
    pool = (pools.nas if nas else pools.hpo) or [{}]
    names = [f"nas-i{i}-r{r}" for i in range(3) for r in range(3)] + ["t1", "t1", ""]
    conditions = [2, 2, 2, 1, 3, 4, 5, 6, 7, 0, 9]
    metric_values = ["0.5", "0.9", "nan", "inf", "-inf", "unavailable", "", "1e400", "-3",
                     "garbage"]
    if big:  # cheap to generate: one template per trial, a few distinct values
        out = []
        base = draw(st.sampled_from(pool))
        for i in range(n):
            t = T.trial(f"big-{i % 997}", base, condition=conditions[i % len(conditions)],
                        metrics={"accuracy": metric_values[i % len(metric_values)]},
                        completion_time=T.rfc3339(i))
            out.append(t)
        return out
    trials = []
    for _ in range(n):
        assignments = dict(draw(st.sampled_from(pool)))
        if draw(st.integers(0, 3)) == 0:
            assignments[draw(name_text)] = draw(nasty)
        if assignments and draw(st.integers(0, 5)) == 0:
            assignments.pop(draw(st.sampled_from(sorted(assignments))))
        if nas and "architecture" in assignments and draw(st.integers(0, 5)) == 0:
            assignments["architecture"] = draw(st.sampled_from([
                "b64:", "b64:!!!", "b64:" + base64.urlsafe_b64encode(b'{"format": 1}').decode(),
                "{}", draw(st.text(max_size=30))]))
        metrics = {"accuracy": draw(st.one_of(st.sampled_from(metric_values), nasty))}
        if nas and draw(st.integers(0, 3)):
            metrics["nac-stats"] = _stats_text(draw, pools.branch_keys)
        if draw(st.integers(0, 6)) == 0:
            metrics[draw(st.text(max_size=8))] = draw(nasty)
        trials.append(T.trial(
            draw(st.one_of(st.sampled_from(names), st.text(max_size=70))), assignments,
            condition=draw(st.sampled_from(conditions)), metrics=metrics,
            completion_time=draw(st.one_of(st.just("2026-01-01T00:00:00Z"),
                                           st.text(max_size=25)))))
    return trials


@st.composite
def fuzz_case(draw: st.DrawFn, pools: Pools) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["random", "hpo", "hpo", "nas", "nas"]))
    if kind == "random":
        exp = draw(random_experiment())
    elif kind == "hpo":
        exp = draw(mutated_hpo())
    else:
        exp = draw(mutated_nas())
    if draw(st.integers(0, 3)) == 0:
        return "ValidateAlgorithmSettings", api_pb2.ValidateAlgorithmSettingsRequest(
            experiment=exp)
    trials = draw(history(pools, nas=kind == "nas"))
    count = draw(st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
                           st.integers(-3, 0), int32))
    total = draw(st.one_of(st.just(min(len(trials) + count, 2**31 - 1)), int32))
    return "GetSuggestions", api_pb2.GetSuggestionsRequest(
        experiment=exp, trials=trials, current_request_number=count,
        total_request_number=total)


# -- running -------------------------------------------------------------------------------
def harvest_pools(server: SuggestionProcess) -> Pools:
    """Valid assignments from the server itself (iteration-0 NAS, a few HPO points)."""
    pools = Pools()
    reply = server.stub.GetSuggestions(T.request(T.hpo_experiment(algorithm="random"), count=4),
                                       timeout=RPC_TIMEOUT)
    pools.hpo = [T.assignments_of(a) for a in reply.parameter_assignments]
    nas = T.nas_experiment(settings={"iterations": "2", "layers_per_stage": "1,1,1",
                                     "stem_channels": "8"})
    reply = server.stub.GetSuggestions(T.request(nas, count=2), timeout=RPC_TIMEOUT)
    pools.nas = [T.assignments_of(a) for a in reply.parameter_assignments]
    from nac.spec import parse_architecture

    spec = parse_architecture(pools.nas[0]["architecture"])
    pools.branch_keys = spec.branch_keys()
    return pools


def fuzz(server: SuggestionProcess, *, examples: int, seed: int = 0) -> Outcome:
    """Send `examples` hypothesis-generated requests; the outcome counts them and any problem."""
    outcome = Outcome(CATEGORY, f"{examples} random/malformed requests (hypothesis, seed {seed})")
    pools = harvest_pools(server)
    codes: Counter[str] = Counter()
    failing: list[tuple[str, bytes]] = []  # (method, serialized request) to reproduce
    started = time.perf_counter()

    @hypothesis.seed(seed)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=fuzz_case(pools))
    def one(case: tuple[str, Any]) -> None:
        method, request = case
        outcome.bad_inputs += 1
        try:
            code = call(server, method, request)
        except AssertionError as e:
            outcome.fail(f"{method}: {e}")
            return
        codes[f"{method}:{code.name}"] += 1
        if code in CLEAN_CODES:
            outcome.rejected_cleanly += 1
        else:
            details = _details_of(server, method, request)
            outcome.fail(f"{method} returned {code.name}: {details}")
            failing.append((method, request.SerializeToString()))
        if not server.alive():
            outcome.fail(f"server died (exit {server.proc.returncode}) on a {method} request")
            raise AssertionError("server died")

    try:
        one()
    except AssertionError:
        pass
    outcome.extra.update(failing=failing[:5], codes=dict(codes),
                         seconds=round(time.perf_counter() - started, 1),
                         vm_hwm_mib=round(server.hwm_mib(), 1) if server.alive() else None)
    if server.alive():
        outcome.problems += valid_requests_succeed(server)
        if outcome.extra["vm_hwm_mib"] > MEMORY_TARGET_MIB:
            outcome.fail(f"VmHWM {outcome.extra['vm_hwm_mib']} MiB is above the "
                         f"{MEMORY_TARGET_MIB} MiB target")
    return outcome


def _details_of(server: SuggestionProcess, method: str, request: Any) -> str:
    try:
        getattr(server.stub, method)(request, timeout=RPC_TIMEOUT)
    except grpc.RpcError as e:
        return (e.details() or "")[:300]
    return "(succeeded on retry)"
