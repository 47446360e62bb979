"""The Pareto set of a ``multi-objective`` Experiment, for the results file and reports.

Objectives and constraints come from the algorithm's own settings parser
(katib.suggestion.algorithms.multiobjective), so the results file ranks trials exactly as the
sampler was told to; infeasible trials (a constraint violated) are left out of the set.
"""

from __future__ import annotations

from typing import Any

from katib.constants import MULTI_OBJECTIVE
from katib.types import TrialStatus
from katib.validation import Experiment


def pareto_section(experiment: Experiment, trials: list[Any]) -> dict[str, Any] | None:
    """``{"objectives": [...], "constraints": [...], "trials": [...]}`` or None."""
    if experiment.algorithm_name != MULTI_OBJECTIVE:
        return None
    from katib.suggestion.algorithms.multiobjective import observation, pareto_front, parse_config
    from katib.suggestion.search_space import ExperimentView
    from katib.suggestion.trials import TrialView

    view = ExperimentView(experiment.name, experiment.algorithm_name,
                          experiment.algorithm_settings, (), experiment.objective, 1, 0, None)
    cfg = parse_config(view)
    points, names, rows = [], [], {}
    for t in trials:
        if t.status is not TrialStatus.SUCCEEDED:
            continue
        obs = observation(TrialView(t.name, TrialStatus.SUCCEEDED, dict(t.assignments),
                                    dict(t.metrics)), cfg)
        if obs is None or any(c > 0 for c in obs[1]):
            continue
        points.append(obs[0])
        names.append(t.name)
        rows[t.name] = {"name": t.name, "assignments": dict(t.assignments),
                        "metrics": {m: v for (m, _), v in zip(cfg.objectives, obs[0],
                                                              strict=True)}}
    front = pareto_front(points, [mx for _, mx in cfg.objectives]) if points else []
    return {
        "objectives": [{"metric": m, "direction": "max" if mx else "min"}
                       for m, mx in cfg.objectives],
        "constraints": [f"{m}{op}{b:g}" for m, op, b in cfg.constraints],
        "trials": [rows[names[i]] for i in front],
    }


def pareto_markdown(section: dict[str, Any]) -> str:
    """The Pareto set as a Markdown table (for a KFP Markdown artifact or a report)."""
    metrics = [o["metric"] for o in section["objectives"]]
    heads = [f"{o['metric']} ({o['direction']})" for o in section["objectives"]]
    lines = ["| trial | " + " | ".join(heads) + " | assignments |",
             "|---" * (len(heads) + 2) + "|"]
    for t in section["trials"]:
        values = " | ".join(f"{t['metrics'][m]:.6g}" for m in metrics)
        assigned = ", ".join(f"{k}={v}" for k, v in t["assignments"].items())
        lines.append(f"| {t['name']} | {values} | {assigned} |")
    if section["constraints"]:
        lines.append(f"\nFeasible trials only: {', '.join(section['constraints'])}.")
    return "\n".join(lines)
