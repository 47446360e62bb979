"""The tune step with `multi-objective`: the Pareto picture and table its HTML output shows in
the KFP UI, the Pareto set in its Markdown report and results (real katib.local trials)."""

from __future__ import annotations

import json
import re

import pytest

from components._impl.tune_pareto import algorithm_settings_from_text, objective_metrics
from tests.components.test_tune_local import _run, data  # noqa: F401 - fixture

COMMON = dict(backend="local", seed=3, warm_start_source=None, experiment_name="",
              namespace="", trial_image="", data_source="", timeout_seconds=600)


@pytest.mark.slow
def test_multi_objective_tune_pictures_the_front_and_lists_the_set(tmp_path, data) -> None:  # noqa: F811
    """Two real trials (katib.local, the trial CLI training digits): the page's picture and
    table show the front the results file records."""
    _, out, metrics = _run(
        tmp_path, data, "mo", max_trials=2, algorithm="multi-objective",
        algorithm_settings=json.dumps({"objectives": "accuracy:max,loss:min"}), **COMMON)
    results = json.loads(out["results"].read_text())
    front = {t["name"] for t in results["pareto"]["trials"]}
    succeeded = [t for t in results["trials"] if t["status"] == "Succeeded"]
    assert len(succeeded) == 2 and 1 <= len(front) <= 2
    assert all("loss" in t["metrics"] for t in succeeded)  # added to additionalMetricNames

    page = out["pareto.html"].read_text()
    assert page.count("<svg") == 1 and "loss (log scale)" in page
    filled = re.findall(r'<circle [^>]*fill="#1f77b4"', page)
    hollow = re.findall(r'<circle [^>]*fill="white"', page)
    assert len(filled) == len(front) and len(filled) + len(hollow) == 2
    rows = _rows(page)
    assert sorted(n for n, _ in rows) == sorted(t["name"] for t in succeeded)
    assert {n for n, mark in rows if mark == "yes"} == front

    report = out["report.md"].read_text()
    assert "## Pareto set" in report and all(f"| {n} |" in report for n in front)
    assert metrics.metadata["pareto_trials"] == len(front)


def _rows(page: str) -> list[tuple[str, str]]:
    """(trial, "yes" or "") of each row of the page's table."""
    return re.findall(r"<tr><td>([^<]+)</td>.*?<td>(yes|)</td></tr>", page)


def _experiment(algorithm: str, settings: dict[str, str]) -> dict:
    from katib.experiments import hpo_experiment

    body = hpo_experiment(
        name="mo", image="unused", data="d", architecture_b64="YQ==", epochs=1,
        search_space=[{"name": "lr", "parameterType": "double",
                       "feasibleSpace": {"min": "0.05", "max": "0.2"}}],
        max_trials=6, parallel=1, algorithm=algorithm, settings=settings, seed=0)
    body["spec"]["objective"]["additionalMetricNames"] = objective_metrics(settings)
    return body


def test_page_marks_the_set_over_all_objectives_and_drops_infeasible_trials() -> None:
    """Three objectives and a constraint: one picture per objective to minimise; the table
    (front first) marks the 3-objective set of katib/backends/local/pareto.py."""
    from components._impl.tune_pareto import pareto_page
    from katib.types import TrialResult

    settings = {"objectives": "accuracy:max,loss:min,epoch:min", "constraints": "loss<=1"}
    rows = [("a", 0.9, 0.3, 4), ("b", 0.8, 0.2, 2), ("c", 0.7, 0.5, 1), ("d", 0.6, 0.6, 3),
            ("e", 0.95, 1.5, 1)]  # e: best accuracy but infeasible (loss > 1)
    trials = [TrialResult(n, {"lr": "0.1"}, {"accuracy": str(a), "loss": str(lo),
                                             "epoch": str(e)}, "Succeeded")
              for n, a, lo, e in rows]
    trials.append(TrialResult("f", {"lr": "0.2"}, {}, "Failed"))
    page, section = pareto_page(_experiment("multi-objective", settings), trials, title="t")
    assert {t["name"] for t in section["trials"]} == {"a", "b", "c"}  # d is dominated by b
    assert page.count("<svg") == 2 and "epoch (log scale)" in page
    table = _rows(page)
    assert [n for n, _ in table] == ["a", "b", "c", "d"]
    assert [m for _, m in table] == ["yes", "yes", "yes", ""]
    assert "feasible only: loss&lt;=1" in page


def test_single_objective_page_says_why_there_is_no_front() -> None:
    from components._impl.tune_pareto import pareto_page

    page, section = pareto_page(_experiment("random", {"random_state": "0"}), [], title="t")
    assert section is None
    assert "optimises one objective" in page and "<svg" not in page


@pytest.mark.parametrize(("text", "fragment"), [
    ("{bad", "algorithm_settings is not JSON"),
    ('["objectives"]', "must be a JSON object"),
    ('{"objectives": true}', "must be a JSON object"),
])
def test_bad_algorithm_settings_name_the_parameter(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        algorithm_settings_from_text(text)


def test_metrics_named_by_objectives_and_constraints_are_recorded() -> None:
    settings = {"objectives": "accuracy:max, loss:min", "constraints": "epoch<=3,loss>=0"}
    assert objective_metrics(settings) == ["loss", "epoch"]
    assert algorithm_settings_from_text('{"population_size": 8}') == {"population_size": "8"}
