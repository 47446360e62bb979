"""Every shipped Experiment, run by our suggestion service under Katib v0.19.0's controllers.

The driver (tests/conformance/katib_controller.py, rules cited there from the KATIB pin) plays
Katib's experiment and suggestion controllers over real gRPC: slots refilled as they free up,
request.trials filtered as ConvertTrials does, every call repeated, the server restarted
mid-experiment, reply.algorithm settings stored and sent back, AlreadyExists names skipped.
Trials end with fake-but-deterministic results (no training). Each shipped Experiment is found by
walking manifests/ and examples/ (tests/conformance/shipped.py), rendered overlays included,
and also run with its second trial ending MetricsUnavailable. The table is printed (pytest -s)
and returned by `table()` for docs and reports.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import grpc
import pytest

from katib import nac_schedule, nac_stats
from katib.api import api_pb2, api_pb2_grpc
from nac.search_settings import SearchSettings
from nac.spec import parse_architecture
from tests.conformance import shipped
from tests.conformance.katib_controller import KatibController, Outcome, Run, Trial
from tests.conformance.pins import KATIB

HPO_ALGORITHMS = {"warm-start", "random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol"}


def experiments() -> list[tuple[str, dict[str, Any]]]:
    """(source, Experiment) for every shipped nac and HPO Experiment, each once per source."""
    out = []
    for unit, doc in shipped.of_kind("Experiment"):
        algorithm = doc["spec"]["algorithm"]["algorithmName"]
        if algorithm == "nac" or algorithm in HPO_ALGORITHMS:
            out.append((f"{unit.source}:{doc['metadata']['name']}", doc))
    return out


def setting(doc: dict[str, Any], name: str, default: Any = None) -> Any:
    for s in doc["spec"]["algorithm"].get("algorithmSettings") or []:
        if s["name"] == name:
            return s["value"]
    return default


def fake_results(unavailable: frozenset[int] = frozenset()):
    """Deterministic outcomes from the trial name: durations vary (so slots free up in a mixed
    order), nac trials report nac-stats for exactly their architecture's branches and gates."""
    def results(t: Trial) -> Outcome:
        rng = random.Random(t.name)
        duration = 100.0 + 60.0 * rng.random()
        arch = t.assignments.get("architecture")
        if nac_schedule.stop_reason(arch) is not None:
            return Outcome("Failed", {}, 1.0)  # katib.trial exits 2 at once
        if t.order in unavailable:
            return Outcome("MetricsUnavailable", {"accuracy": "unavailable"}, duration)
        metrics = {"accuracy": f"{0.5 + rng.random() / 2:.4f}"}
        if arch:
            spec = parse_architecture(arch)
            metrics["nac-stats"] = nac_stats.encode(
                {k: rng.random() for k in spec.branch_keys()},
                {k: rng.random() for k in spec.gate_keys()})
        return Outcome("Succeeded", metrics, duration)
    return results


def run(doc: dict[str, Any], *, unavailable: frozenset[int] = frozenset()) -> Run:
    return KatibController(doc, fake_results(unavailable), restart_after_calls=(1,)).run()


def summary(source: str, doc: dict[str, Any], r: Run) -> dict[str, Any]:
    row: dict[str, Any] = {"experiment": source, "algorithm": r.algorithm,
                           "parallel": r.parallel, "maxTrialCount": r.max_trials,
                           "trials": len(r.trials), "duplicates": r.duplicates,
                           "end": r.end, "validation": r.validation,
                           "errors": len(r.errors), "repeat_mismatches": r.repeat_mismatches,
                           "restarts": r.restarts}
    if r.algorithm == "nac":
        n = int(setting(doc, "iterations", SearchSettings().iterations))
        per: dict[str, int] = {}
        for t in r.trials:
            key = t.assignments.get("iteration", "?")
            if nac_schedule.stop_reason(t.assignments.get("architecture")) is not None:
                key = "stop"
            per[key] = per.get(key, 0) + 1
        row["per_iteration"] = " ".join(f"i{k}:{v}" for k, v in sorted(per.items()))
        row["constructed_trained"] = any(
            t.condition == "Succeeded" and t.assignments.get("iteration") == str(n)
            for t in r.trials)
        row["constructed_labelled"] = all(
            t.labels.get(nac_schedule.CONSTRUCTED_LABEL) == "true"
            for t in r.trials if t.assignments.get("iteration") == str(n))
    return row


def _with_local_source(doc: dict[str, Any], tmp: Path, cold: Run | None) -> dict[str, Any]:
    """A warm-start Experiment whose source (a cluster Experiment or a file of another
    machine) is replaced by a results file of the cold run, as katib.local would write it."""
    if setting(doc, "warm_start_source") is None or cold is None:
        return doc
    path = tmp / f"{doc['metadata']['name']}-source.json"
    path.write_text(json.dumps({"format": "katib-local-results", "version": 1,
                                "experiment": cold.experiment, "trials": [
                                    {"name": t.name, "assignments": t.assignments,
                                     "metrics": t.metrics, "status": t.condition}
                                    for t in cold.trials]}))
    doc = json.loads(json.dumps(doc))
    for s in doc["spec"]["algorithm"]["algorithmSettings"]:
        if s["name"] == "warm_start_source":
            s["value"] = str(path)
    return doc


def table(tmp: Path) -> list[dict[str, Any]]:
    """Every shipped Experiment, plain and with its second trial MetricsUnavailable."""
    rows = []
    cold: Run | None = None
    for source, doc in sorted(experiments(), key=lambda e: setting(e[1], "warm_start_source")
                              is not None):
        doc = _with_local_source(doc, tmp, cold)
        for label, unavailable in (("", frozenset()), (" +1 MetricsUnavailable",
                                                       frozenset({1}))):
            r = run(doc, unavailable=unavailable)
            if r.algorithm != "nac" and not unavailable and r.validation == "OK":
                cold = cold or r
            rows.append(summary(source + label, doc, r))
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    cols = ["experiment", "algorithm", "parallel", "maxTrialCount", "trials", "per_iteration",
            "constructed_trained", "duplicates", "end"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in cols) + " |")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = table(tmp_path_factory.mktemp("controller"))
    _print(out)
    return out


def test_every_shipped_experiment_was_found(rows) -> None:
    nac = [r for r in rows if r["algorithm"] == "nac"]
    hpo = [r for r in rows if r["algorithm"] != "nac"]
    assert len(nac) >= 2 and len(hpo) >= 4, [r["experiment"] for r in rows]


def test_nac_trains_the_constructed_network_within_the_shipped_budget(rows) -> None:
    """Slots are refilled as they free up (kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/experiment/experiment_controller.go:ReconcileTrials), and the
    Experiment ends at maxTrialCount completed trials, MetricsUnavailable ones included
    (kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/experiment/util/status_util.go:UpdateExperimentStatusCondition)."""
    for row in (r for r in rows if r["algorithm"] == "nac"):
        assert row["validation"] == "OK", row
        assert row["errors"] == 0 and row["repeat_mismatches"] == 0 and row["restarts"] == 1
        assert row["constructed_labelled"], row
        if row["experiment"].endswith("MetricsUnavailable") and row["end"].startswith(
                "ExperimentFailed: max failed count"):
            continue  # maxFailedTrialCount 1: Katib counts the MetricsUnavailable trial
        assert row["constructed_trained"], row
        assert row["end"] == "ExperimentMaxTrialsReached", row


def test_no_suggested_name_is_ever_a_duplicate(rows) -> None:
    """MetricsUnavailable trials are not in request.trials (kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go:ConvertTrials), and
    a stored name that is already a trial is never created (kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/experiment/experiment_controller.go:createTrials): a duplicate costs
    a slot and can hang the Experiment."""
    for row in rows:
        assert row["duplicates"] == 0, row
        assert not row["end"].startswith("hung"), row


def test_hpo_experiments_run_to_their_budget(rows) -> None:
    """kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/experiment/util/status_util.go:UpdateExperimentStatusCondition."""
    for row in (r for r in rows if r["algorithm"] != "nac"):
        assert row["validation"] == "OK", row
        assert row["errors"] == 0 and row["repeat_mismatches"] == 0, row
        assert row["end"] in ("ExperimentMaxTrialsReached", "ExperimentGoalReached") or (
            row["experiment"].endswith("MetricsUnavailable")
            and row["end"] == "ExperimentFailed: max failed count has reached"), row


def test_citations_name_the_pinned_release() -> None:
    for path, symbol in [
            ("pkg/controller.v1beta1/experiment/experiment_controller.go", "ReconcileTrials"),
            ("pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go",
             "ConvertTrials")]:
        assert KATIB.cite(path, symbol).startswith("kubeflow/katib@v0.19.0 (578e60f1)")


class _VisibleCountNaming(api_pb2_grpc.SuggestionServicer):
    """The defect of cluster-audit-katib.md §3: trial names numbered by the visible trials."""

    def ValidateAlgorithmSettings(self, request, context):  # noqa: N802 - gRPC name
        return api_pb2.ValidateAlgorithmSettingsReply()

    def GetSuggestions(self, request, context):  # noqa: N802 - gRPC name
        reply = api_pb2.GetSuggestionsReply()
        for k in range(request.current_request_number):
            item = reply.parameter_assignments.add(
                trial_name=f"{request.experiment.name}-{len(request.trials) + k}")
            for p in request.experiment.spec.parameter_specs.parameters:
                item.assignments.add(name=p.name, value=p.feasible_space.list[0]
                                     if p.feasible_space.list else p.feasible_space.min)
        return reply


class _Stub:
    def __init__(self) -> None:
        self.server: Any = None

    def start(self) -> str:
        from concurrent import futures

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        api_pb2_grpc.add_SuggestionServicer_to_server(_VisibleCountNaming(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return f"127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.stop(0).wait(5)


def test_the_driver_sees_the_defects_it_guards_against() -> None:
    """Not a tautology: the same driver, given a service that numbers names by the visible
    trials, counts the duplicate after a MetricsUnavailable trial and reports the hang; and our
    `nac` refuses the shipped example's old budget (maxTrialCount 8: the constructed network
    never trained, cluster-audit-katib.md §7a)."""
    hpo = next(d for _, d in experiments() if d["spec"]["algorithm"]["algorithmName"] != "nac"
               and setting(d, "warm_start_source") is None
               and d["spec"].get("parallelTrialCount", 3) >= 2
               and d["spec"].get("maxFailedTrialCount", 99) >= 2)
    r = KatibController(hpo, fake_results(frozenset({1})), server=_Stub()).run()
    assert r.duplicates >= 1 and r.phantoms[0].startswith(hpo["metadata"]["name"] + "-")
    nac = json.loads(json.dumps(next(d for _, d in experiments()
                                     if d["spec"]["algorithm"]["algorithmName"] == "nac")))
    nac["spec"]["maxTrialCount"] = 8
    nac["spec"]["parallelTrialCount"] = 2
    nac["spec"]["algorithm"]["algorithmSettings"] = [
        {"name": "iterations", "value": "3"}, {"name": "trials_per_iteration", "value": "2"}]
    r = KatibController(nac, fake_results()).run()
    assert r.validation.startswith("Failed: spec.maxTrialCount 8 is too small"), r.validation


@pytest.mark.parametrize(("parallel", "replicas", "iterations"),
                         [(p, r, n) for p in (1, 2, 4) for r in (1, 3) for n in (1, 3)])
def test_budget_formula_holds_for_any_parallelism(parallel: int, replicas: int,
                                                  iterations: int) -> None:
    """The minimum maxTrialCount `nac` accepts always reaches the constructed network under
    kubeflow/katib@v0.19.0 (578e60f1)
    pkg/controller.v1beta1/experiment/experiment_controller.go:ReconcileTrials, whatever the
    trial durations (each name seeds a different duration)."""
    doc = json.loads(json.dumps(next(d for _, d in experiments()
                                     if d["spec"]["algorithm"]["algorithmName"] == "nac")))
    doc["metadata"]["name"] = f"nac-p{parallel}-r{replicas}-n{iterations}"
    doc["spec"]["parallelTrialCount"] = parallel
    doc["spec"]["maxTrialCount"] = nac_schedule.min_max_trial_count(iterations, replicas,
                                                                    parallel)
    doc["spec"].pop("maxFailedTrialCount", None)
    doc["spec"]["algorithm"]["algorithmSettings"] = [
        {"name": "iterations", "value": str(iterations)},
        {"name": "trials_per_iteration", "value": str(replicas)},
        {"name": "layers_per_stage", "value": "1,1,1"},
        {"name": "max_layers_per_stage", "value": "3,3,1"}, {"name": "stem_channels", "value": "8"}]
    r = KatibController(doc, fake_results(), repeat_calls=False).run()
    assert r.validation == "OK" and r.duplicates == 0 and not r.errors
    row = summary(doc["metadata"]["name"], doc, r)
    assert row["constructed_trained"], row
    per = {k.lstrip("i"): v for k, v in (x.split(":") for x in row["per_iteration"].split())}
    for i in range(iterations):  # no iteration ever costs more than the formula says
        assert int(per[str(i)]) <= replicas + parallel - 1, row
