"""katib.local with ``multi-objective``: the Pareto set in the results file."""

from __future__ import annotations

import json
from pathlib import Path

from katib.backends.local.pareto import pareto_markdown
from katib.local import TrialStatus, run_experiment
from tests.katib.backends.local.experiments import hpo

MO_TRIAL = str(Path(__file__).with_name("mo_trial.py"))


def test_results_file_holds_the_feasible_pareto_set(tmp_path: Path) -> None:
    doc = hpo("mo-local", algorithm="multi-objective", maxTrialCount=10, parallelTrialCount=2,
              parameters=[{"name": n, "parameterType": "double",
                           "feasibleSpace": {"min": "0", "max": "1"}} for n in ("x", "y")])
    spec = doc["spec"]
    spec["objective"]["additionalMetricNames"] = ["size", "latency_ms"]
    spec["algorithm"]["algorithmSettings"] = [
        {"name": "objectives", "value": "accuracy:max,size:min"},
        {"name": "constraints", "value": "latency_ms<=5"},
        {"name": "sampler", "value": "motpe"}, {"name": "random_state", "value": "1"}]
    tt = spec["trialTemplate"]
    c = tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    c["command"] = ["python", "-u", MO_TRIAL]
    c["args"] = ["--x", "${trialParameters.x}", "--y", "${trialParameters.y}"]
    tt["trialParameters"] = [{"name": "x", "reference": "x"}, {"name": "y", "reference": "y"}]
    result = run_experiment(doc, results=tmp_path / "r.json", workdir=tmp_path / "t",
                            progress=False)
    assert result.count(TrialStatus.SUCCEEDED) == 10
    saved = json.loads((tmp_path / "r.json").read_text())
    pareto = saved["pareto"]
    assert pareto["objectives"] == [{"metric": "accuracy", "direction": "max"},
                                    {"metric": "size", "direction": "min"}]
    assert pareto["constraints"] == ["latency_ms<=5"]
    feasible = [t for t in saved["trials"] if float(t["metrics"]["latency_ms"]) <= 5]
    pts = {t["name"]: (float(t["metrics"]["accuracy"]), float(t["metrics"]["size"]))
           for t in feasible}
    expected = {n for n, (a, s) in pts.items()
                if not any(a2 >= a and s2 <= s and (a2, s2) != (a, s)
                           for a2, s2 in pts.values())}
    assert {t["name"] for t in pareto["trials"]} == expected and expected
    table = pareto_markdown(pareto).splitlines()
    assert table[0] == "| trial | accuracy (max) | size (min) | assignments |"
    assert len([r for r in table if r.startswith("| mo-local-")]) == len(expected)
    assert table[-1] == "Feasible trials only: latency_ms<=5."
