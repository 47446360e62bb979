"""The tune step's Pareto page: a multi-objective Experiment's trade-off as a KFP HTML artifact.

One concept in one place: the Pareto set is the one the results file records
(katib/backends/local/pareto.py, ranked with the `multi-objective` algorithm's own settings
parser, infeasible trials left out) and the picture is nac/pareto.py's scatter (validation error
against a cost on a log axis, the front drawn filled), so the KFP UI shows the same front the
sampler optimised. The picture needs the tune objective `accuracy:max` and another objective to
minimise (`loss:min`, `epoch:min`, ...): one scatter per such objective; any other
combination gets the table alone, which always marks the full N-objective set.
"""

from __future__ import annotations

import html
import json
from typing import Any

from katib.constants import MULTI_OBJECTIVE, OBJECTIVE_METRIC
from katib.types import TrialStatus

__all__ = ["algorithm_settings_from_text", "objective_metrics", "pareto_page"]


def algorithm_settings_from_text(text: str) -> dict[str, str]:
    """The `algorithm_settings` parameter: a JSON object of Katib algorithm settings."""
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"algorithm_settings is not JSON ({e}); pass an object such as "
                         '{"objectives": "accuracy:max,loss:min"}') from None
    if not isinstance(doc, dict) or not all(isinstance(v, str | int | float) and
                                            not isinstance(v, bool) for v in doc.values()):
        raise ValueError("algorithm_settings must be a JSON object of setting name to string "
                         'or number, e.g. {"objectives": "accuracy:max,loss:min"}')
    return {str(k): str(v) for k, v in doc.items()}


def objective_metrics(settings: dict[str, Any]) -> list[str]:
    """Metrics other than the tune objective that `objectives`/`constraints` name: they must be
    in additionalMetricNames for Katib to record them (the algorithm checks the rest)."""
    names = [part.strip().rpartition(":")[0]
             for part in str(settings.get("objectives", "")).split(",") if part.strip()]
    for part in str(settings.get("constraints", "")).split(","):
        for op in ("<=", ">="):
            if op in part:
                names.append(part.split(op, 1)[0].strip())
                break
    return [n for n in dict.fromkeys(names) if n and n != OBJECTIVE_METRIC]


def _scatters(section: dict[str, Any], feasible: list[Any]) -> str:
    """nac/pareto.py's scatter of validation error against each objective to minimise."""
    from nac.pareto import ParetoPoint, scatter_svg

    objectives = [(o["metric"], o["direction"]) for o in section["objectives"]]
    if (OBJECTIVE_METRIC, "max") not in objectives:
        return f"<p>No picture: the objectives do not include {OBJECTIVE_METRIC}:max.</p>"
    costs = [m for m, d in objectives if d == "min"]
    if not costs:
        return "<p>No picture: no objective to minimise next to accuracy.</p>"
    out = []
    for cost in costs:
        points = [ParetoPoint(arm="trial", label=t.name, error=1.0 - acc, parameters=0,
                              latency_ms=value)
                  for t in feasible
                  if (acc := t.metric(OBJECTIVE_METRIC)) is not None
                  and (value := t.metric(cost)) is not None]
        out.append(scatter_svg(points, "latency_ms", cost, {"trial": "#1f77b4"}))
    return "<div>" + "".join(out) + "</div>"


def _feasible(experiment: Any, trials: list[Any]) -> list[Any]:
    """Succeeded trials reporting every objective and meeting every constraint, judged by the
    algorithm's own parser and observation (as the results file's Pareto section is)."""
    from katib.suggestion.algorithms.multiobjective import observation, parse_config
    from katib.suggestion.search_space import ExperimentView
    from katib.suggestion.trials import TrialView

    cfg = parse_config(ExperimentView(experiment.name, experiment.algorithm_name,
                                      experiment.algorithm_settings, (), experiment.objective,
                                      1, 0, None))
    out = []
    for t in trials:
        if t.status is not TrialStatus.SUCCEEDED:
            continue
        obs = observation(TrialView(t.name, TrialStatus.SUCCEEDED, dict(t.assignments),
                                    dict(t.metrics)), cfg)
        if obs is not None and all(c <= 0 for c in obs[1]):
            out.append(t)
    return out


def _table(section: dict[str, Any], feasible: list[Any]) -> str:
    metrics = [o["metric"] for o in section["objectives"]]
    front = {t["name"] for t in section["trials"]}
    rows = sorted(feasible, key=lambda t: (t.name not in front, t.name))
    head = "".join(f"<th>{html.escape(o['metric'])} ({o['direction']})</th>"
                   for o in section["objectives"])
    out = [f"<table><tr><th>trial</th>{head}<th>assignments</th><th>Pareto set</th></tr>"]
    for t in rows:
        cells = "".join(f"<td>{html.escape(t.metrics.get(m, ''))}</td>" for m in metrics)
        assigned = ", ".join(f"{k}={v}" for k, v in t.assignments.items())
        out.append(f"<tr><td>{html.escape(t.name)}</td>{cells}<td>{html.escape(assigned)}"
                   f"</td><td>{'yes' if t.name in front else ''}</td></tr>")
    out.append("</table>")
    return "".join(out)


def pareto_page(experiment: dict[str, Any], trials: list[Any], *, title: str
                ) -> tuple[str, dict[str, Any] | None]:
    """(HTML page, the results file's Pareto section or None for a single objective)."""
    from katib.backends.local.pareto import pareto_section
    from katib.validation import parse_experiment

    style = ("<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>")
    head = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title>{style}</head><body><h2>{html.escape(title)}</h2>")
    algorithm = experiment["spec"]["algorithm"]["algorithmName"]
    if algorithm != MULTI_OBJECTIVE:
        return (head + f"<p>Algorithm {html.escape(algorithm)} optimises one objective "
                f"({OBJECTIVE_METRIC}); use algorithm {MULTI_OBJECTIVE} with an "
                "<code>objectives</code> setting for a Pareto set.</p></body></html>\n", None)
    exp = parse_experiment(experiment, source="tune", local=False)
    section = pareto_section(exp, trials)
    assert section is not None
    feasible = _feasible(exp, trials)
    what = ", ".join(f"{o['metric']}:{o['direction']}" for o in section["objectives"])
    limits = (f"; feasible only: {html.escape(', '.join(section['constraints']))}"
              if section["constraints"] else "")
    body = (f"<h3>Pareto set</h3><p>Objectives {html.escape(what)}{limits}. "
            f"{len(section['trials'])} of {len(feasible)} feasible succeeded trials are on the "
            "front. Filled markers: the front in each picture's two objectives; the table marks "
            "the set over all objectives (the results file's).</p>"
            f"{_scatters(section, feasible)}{_table(section, feasible)}")
    return head + body + "</body></html>\n", section
