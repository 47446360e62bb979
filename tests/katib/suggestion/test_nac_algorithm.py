"""The `nac` NAS algorithm: settings mapping, iterations, replicas, names, budget, stop trials."""

from __future__ import annotations

import random
import re

import pytest

from katib import nac_schedule, nac_stats
from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms.base import SuggestionRequest
from katib.suggestion.algorithms.nac import NACAlgorithm
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.trials import trials_from_proto
from nac.restructure import RestructureSettings, restructure
from nac.spec import initial_envelopenet, parse_architecture

TS = api_pb2.TrialStatus
DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def suggest(alg, exp, trials=(), count=1, total=None):
    req = T.request(exp, trials, count=count, total=total)
    out = alg.suggest(SuggestionRequest(experiment_from_proto(req.experiment),
                                        tuple(trials_from_proto(req.trials)), count,
                                        req.total_request_number))
    assert len(out) == count
    return out


def fake_stats(arch: str, seed: int) -> str:
    spec = parse_architecture(arch)
    rng = random.Random(seed)
    return nac_stats.encode({k: rng.random() for k in spec.branch_keys()},
                            {k: rng.random() for k in spec.gate_keys()})


def done(a, i, stats=True, condition=TS.SUCCEEDED):
    metrics = {"accuracy": "0.9"}
    if stats:
        metrics["nac-stats"] = fake_stats(a.values["architecture"], int(a.values["seed"]))
    return T.trial(a.trial_name, a.values, condition=condition, metrics=metrics,
                   completion_time=T.rfc3339(i))


SETTINGS = {"iterations": "2", "stem_channels": "8", "trials_per_iteration": "2"}


def test_initial_spec_follows_nasconfig_and_settings() -> None:
    exp = T.nas_experiment(settings={"stem_channels": "8", "layers_per_stage": "1,2,1",
                                     "skip": "false"}, input_sizes=(8, 8, 1), classes=10)
    (a,) = suggest(NACAlgorithm(), exp)
    assert list(a.values) == ["architecture", "iteration", "seed"]
    assert a.values["architecture"].startswith("b64:")
    spec = parse_architecture(a.values["architecture"])
    assert spec.input_shape == (1, 8, 8) and spec.num_classes == 10
    assert spec.cells_per_stage() == [1, 2, 1]
    assert spec.envelope == ("1x1", "3x3", "3x3sep", "5x5", "5x5sep", "7x7sep")
    assert spec.skip is False and spec.stem.channels == 8
    assert (a.values["iteration"], a.values["seed"], a.trial_name) == ("0", "0", "nas-i0-t0")


def test_iterations_average_replicas_and_restructure() -> None:
    exp = T.nas_experiment(settings=SETTINGS, parallel=2)
    alg = NACAlgorithm()
    first = suggest(alg, exp, count=2)
    assert [a.trial_name for a in first] == ["nas-i0-t0", "nas-i0-t1"]
    assert [a.values["seed"] for a in first] == ["0", "1000"]
    trials = [done(first[0], 0)]
    # a slot frees while r1 still runs: an extra replica of iteration 0, not an idle slot
    (extra,) = suggest(alg, exp, trials + [T.trial(first[1].trial_name, first[1].values,
                                                   condition=TS.RUNNING)])
    assert extra.trial_name == "nas-i0-t2" and extra.values["iteration"] == "0"
    assert extra.values["seed"] == "2000"
    trials.append(done(first[1], 1))
    (nxt,) = suggest(alg, exp, trials + [T.trial(extra.trial_name, extra.values,
                                                 condition=TS.RUNNING)])
    assert nxt.trial_name == "nas-i1-t3"
    # expected: restructure(spec0, mean of the two replicas' stats)
    s0 = parse_architecture(first[0].values["architecture"])
    stats = [nac_stats.decode(fake_stats(a.values["architecture"], int(a.values["seed"])))
             for a in first]
    branches, gates = nac_stats.average(stats)
    want = restructure(s0, branches, gates, RestructureSettings(max_filter_prune=6,
                                                                max_layers_per_stage=(7, 6, 2),
                                                                construction=(True, True,
                                                                              False)))
    assert parse_architecture(nxt.values["architecture"]) == want
    # the late extra replica finishing later does not change iteration 1's spec
    trials.append(done(extra, 2))
    trials.append(T.trial(nxt.trial_name, nxt.values, condition=TS.RUNNING))
    (again,) = suggest(alg, exp, trials)
    assert again.trial_name == "nas-i1-t4"
    assert again.values["architecture"] == nxt.values["architecture"]


def run_construction(alg, exp, n_trials, *, fail_every=0):
    trials, pending, out = [], [], []
    pending += suggest(alg, exp, count=2)
    i = 0
    while len(trials) < n_trials:
        a = pending.pop(0)
        failed = fail_every and (i % fail_every == fail_every - 1)
        trials.append(done(a, i, stats=not failed,
                           condition=TS.FAILED if failed else TS.SUCCEEDED))
        running = [T.trial(p.trial_name, p.values, condition=TS.RUNNING) for p in pending]
        pending += suggest(alg, exp, trials + running)
        out.append(pending[-1])
        i += 1
    return trials, pending, out


def test_final_spec_is_reemitted_with_new_seeds_and_failures_are_replaced() -> None:
    exp = T.nas_experiment(settings=SETTINGS, parallel=2)
    trials, pending, out = run_construction(NACAlgorithm(), exp, 12, fail_every=3)
    finals = [a for a in out if a.values["iteration"] == "2"]
    assert len(finals) >= 3
    assert len({a.values["architecture"] for a in finals}) == 1
    assert len({a.values["seed"] for a in finals}) == len(finals)
    names = [t.name for t in trials] + [p.trial_name for p in pending]
    assert len(set(names)) == len(names)
    for it in ("0", "1"):  # every non-final iteration got 2 succeeded replicas
        ok = [t for t in trials if t.status.condition == TS.SUCCEEDED and
              {a.name: a.value for a in t.spec.parameter_assignments.assignments}["iteration"]
              == it]
        assert len(ok) >= 2


def test_unavailable_or_garbled_stats_do_not_count() -> None:
    exp = T.nas_experiment(settings={**SETTINGS, "trials_per_iteration": "1"}, parallel=1)
    alg = NACAlgorithm()
    (a,) = suggest(alg, exp)
    for value in ("unavailable", "{\"v\":1", "{\"v\":9,\"branches\":{}}"):
        t = T.trial(a.trial_name, a.values, metrics={"accuracy": "0.5", "nac-stats": value})
        (b,) = suggest(alg, exp, [t])
        assert b.values["iteration"] == "0" and b.trial_name == "nas-i0-t1"


def test_trial_names_are_dns_labels_within_63_chars() -> None:
    long = "e" * 40
    assert nac_schedule.trial_name(long, 12, 345) == long + "-i12-t345"
    name = nac_schedule.trial_name("x" * 70, 3, 2)
    assert len(name) <= 63 and DNS.match(name) and name.endswith("-i3-t2")
    assert nac_schedule.trial_index(name) == 2
    stop = nac_schedule.stop_trial_name("x" * 70, 17)
    assert len(stop) <= 63 and DNS.match(stop) and nac_schedule.trial_index(stop) == 17


def test_operations_map_to_envelope_ops() -> None:
    exp = T.nas_experiment(operations=[("convolution", ["3", "7"]),
                                       ("separable_convolution", ["5"])])
    (a,) = suggest(NACAlgorithm(), exp)
    assert parse_architecture(a.values["architecture"]).envelope == ("3x3", "5x5sep", "7x7")


def test_stride_parameter_is_rejected_with_fix() -> None:
    exp = T.nas_experiment()
    op = exp.spec.nas_config.operations.operation[0]
    op.parameter_specs.parameters.append(T.parameter("stride", T.CATEGORICAL, values=["1"]))
    with pytest.raises(SuggestionInputError, match=r"remove \['stride'\]"):
        NACAlgorithm().validate(experiment_from_proto(exp))


def test_matches_initial_envelopenet_builder() -> None:
    exp = T.nas_experiment(settings={"stem_channels": "16"}, input_sizes=(8, 8, 3), classes=4)
    (a,) = suggest(NACAlgorithm(), exp)
    assert parse_architecture(a.values["architecture"]) == initial_envelopenet(
        (3, 8, 8), 4, stem_channels=16)


def test_names_stay_unique_when_katib_hides_a_metrics_unavailable_trial() -> None:
    # Katib (suggestionclient.go ConvertTrials) leaves MetricsUnavailable trials out of
    # request.trials but counts them in total_request_number (= Suggestion.Spec.Requests).
    exp = T.nas_experiment(settings=SETTINGS, parallel=2)
    alg = NACAlgorithm()
    first = suggest(alg, exp, count=2)
    visible = [done(first[0], 0)]  # first[1] ended MetricsUnavailable: not sent
    (again,) = suggest(alg, exp, visible, count=1, total=3)
    assert again.trial_name == "nas-i0-t2"
    assert again.trial_name not in {a.trial_name for a in first}
    assert again.values["seed"] not in {a.values["seed"] for a in first}


def test_first_replicas_to_finish_fix_the_next_network() -> None:
    exp = T.nas_experiment(settings={**SETTINGS, "trials_per_iteration": "1"}, parallel=2)
    alg = NACAlgorithm()
    a, b = suggest(alg, exp, count=2)
    # b finishes first: iteration 1 comes from b's statistics, and stays so once a finishes
    t_b, t_a = done(b, 0), done(a, 5)
    (n1,) = suggest(alg, exp, [T.trial(a.trial_name, a.values, condition=TS.RUNNING), t_b])
    (n2,) = suggest(alg, exp, [t_a, t_b, T.trial(n1.trial_name, n1.values,
                                                 condition=TS.RUNNING)])
    assert n1.values["iteration"] == n2.values["iteration"] == "1"
    assert n1.values["architecture"] == n2.values["architecture"]
    (fresh,) = suggest(NACAlgorithm(), exp, [t_a, t_b])  # no iteration-1 trial visible
    assert fresh.values["architecture"] == n1.values["architecture"]


def test_max_trial_count_must_reach_the_constructed_network() -> None:
    settings = {"iterations": "3", "trials_per_iteration": "2", "stem_channels": "8"}
    exp = T.nas_experiment(settings=settings, parallel=2)
    for max_trials, message in [(8, r"maxTrialCount 8 is too small.*>= 10 \(11 trains it 2"),
                                (0, r"maxTrialCount is required for nac.*set maxTrialCount "
                                    r"to 11")]:
        exp.spec.max_trial_count = max_trials
        with pytest.raises(SuggestionInputError, match=message):
            NACAlgorithm().validate(experiment_from_proto(exp))
    exp.spec.max_trial_count = 10
    NACAlgorithm().validate(experiment_from_proto(exp))
    assert nac_schedule.min_max_trial_count(3, 2, 2) == 10
    assert nac_schedule.min_max_trial_count(3, 1, 1, constructed=1) == 4


def test_constructed_network_trials_are_labelled() -> None:
    exp = T.nas_experiment(settings={**SETTINGS, "iterations": "1",
                                     "trials_per_iteration": "1"}, parallel=1)
    alg = NACAlgorithm()
    (a,) = suggest(alg, exp)
    assert nac_schedule.CONSTRUCTED_LABEL not in a.labels
    (final,) = suggest(alg, exp, [done(a, 0)])
    assert final.values["iteration"] == "1"
    assert final.labels == {nac_schedule.ITERATION_LABEL: "1",
                            nac_schedule.CONSTRUCTED_LABEL: "true"}
    trials = [done(a, 0), done(final, 1)]
    assert nac_schedule.constructed_architecture(
        [_Result(t) for t in trials], 1) == final.values["architecture"]
    with pytest.raises(LookupError, match="highest iteration reached is 0"):
        nac_schedule.constructed_architecture([_Result(trials[0])], 1)


class _Result:
    def __init__(self, trial: api_pb2.Trial) -> None:
        self.assignments = {x.name: x.value for x in trial.spec.parameter_assignments.assignments}


def test_statistics_that_cannot_drive_restructuring_emit_stop_trials() -> None:
    exp = T.nas_experiment(settings={**SETTINGS, "trials_per_iteration": "1"}, parallel=1)
    alg = NACAlgorithm()
    (a,) = suggest(alg, exp)
    foreign = nac_stats.encode({"zz/1x1": 0.5})  # keys of another network
    t = T.trial(a.trial_name, a.values, metrics={"accuracy": "0.9", "nac-stats": foreign},
                completion_time=T.rfc3339(0))
    stops = suggest(alg, exp, [t], count=2)
    assert [s.trial_name for s in stops] == ["nas-stop-t1", "nas-stop-t2"]
    reason = nac_schedule.stop_reason(stops[0].values["architecture"])
    assert reason.startswith("iteration 0 statistics cannot drive restructuring: ")
    assert "zz/1x1" in reason
    assert stops[0].labels == {nac_schedule.STOPPED_LABEL: "true"}
    # stop trials in the history are not nac iterations: the next call stops again
    history = [t] + [T.trial(s.trial_name, s.values, condition=TS.FAILED) for s in stops]
    (again,) = suggest(alg, exp, history)
    assert again.trial_name == "nas-stop-t3"
    with pytest.raises(LookupError, match="stopped the Experiment: iteration 0 statistics"):
        nac_schedule.constructed_architecture([_Result(x) for x in history], 2)
