"""HTML/Markdown reports the KFP UI renders (HTML in an iframe, Markdown in its viewer)."""

from __future__ import annotations

import html
from typing import Any

_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]


def growth_svg(rows: list[dict[str, Any]]) -> str:
    """Stacked bars: per iteration, one bar per stage, one segment per cell (height = branches).

    Shows how construction prunes branches inside cells and appends cells per stage.
    """
    if not rows:
        return "<p>(no iterations)</p>"
    stages = max(len(r["branches_per_cell"]) for r in rows)
    unit, bar_w, gap, group_gap, top, left = 6, 18, 4, 26, 24, 40
    max_total = max(sum(cells) for r in rows for cells in r["branches_per_cell"]) or 1
    height = top + max_total * unit + 40
    group_w = stages * (bar_w + gap) + group_gap
    width = left + len(rows) * group_w + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="14">branches per stage (segments = cells), per '
             'iteration</text>']
    base = top + max_total * unit
    for i, r in enumerate(rows):
        x0 = left + i * group_w
        for s, cells in enumerate(r["branches_per_cell"]):
            x = x0 + s * (bar_w + gap)
            y = base
            for c, n in enumerate(cells):
                h = n * unit
                y -= h
                color = _PALETTE[s % len(_PALETTE)]
                parts.append(f'<rect x="{x}" y="{y}" width="{bar_w}" height="{h}" fill="{color}" '
                             f'stroke="white" stroke-width="1"><title>iteration '
                             f'{r["iteration"]} stage {s} cell {c + 1}: {n} branches</title>'
                             '</rect>')
            parts.append(f'<text x="{x + bar_w / 2}" y="{y - 3}" text-anchor="middle">'
                         f'{sum(cells)}</text>')
        parts.append(f'<text x="{x0 + (stages * (bar_w + gap)) / 2}" y="{base + 16}" '
                     f'text-anchor="middle">it {r["iteration"]}</text>')
    parts.append(f'<line x1="{left - 4}" y1="{base}" x2="{width - 10}" y2="{base}" '
                 'stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def search_html(rows: list[dict[str, Any]], *, final: str, summary: dict[str, Any]) -> str:
    """The nac_search report: growth picture, per-iteration table, weakest/strongest branches."""
    head = ("<!doctype html><html><head><meta charset='utf-8'><title>NAC search</title>"
            "<style>body{font-family:sans-serif;margin:16px}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            "th{background:#f3f3f3}code{font-size:12px}</style></head><body>")
    out = [head, "<h2>NAC architecture search</h2>", "<p>",
           ", ".join(f"{html.escape(k)}: <b>{_fmt(v)}</b>" for k, v in summary.items()),
           "</p>", growth_svg(rows),
           "<h3>Per iteration</h3><table><tr><th>iteration</th><th>cells per stage</th>"
           "<th>branches per stage</th><th>parameters</th><th>val accuracy</th>"
           "<th>seconds</th><th>weakest branches (mean y²)</th>"
           "<th>strongest branches</th><th>pruned next</th></tr>"]
    for r in rows:
        stats = sorted((r.get("stats") or {}).items(), key=lambda kv: kv[1])
        weak = ", ".join(f"{html.escape(k)} {v:.3g}" for k, v in stats[:3])
        strong = ", ".join(f"{html.escape(k)} {v:.3g}" for k, v in stats[::-1][:3])
        out.append(
            f"<tr><td>{r['iteration']}</td>"
            f"<td>{'/'.join(str(len(c)) for c in r['branches_per_cell'])}</td>"
            f"<td>{'/'.join(str(sum(c)) for c in r['branches_per_cell'])}</td>"
            f"<td>{_fmt(r.get('parameters'))}</td><td>{_fmt(r.get('val_accuracy'))}</td>"
            f"<td>{_fmt(r.get('seconds'), 1)}</td><td>{weak or '–'}</td>"
            f"<td>{strong or '–'}</td>"
            f"<td>{html.escape(', '.join(r.get('pruned') or [])) or '–'}</td></tr>")
    out.append("</table>")
    out.append(f"<h3>Constructed network</h3><p><code>{html.escape(final)}</code></p>")
    out.append("</body></html>\n")
    return "".join(out)


def trials_markdown(trials: list[Any], *, objective: str, best_name: str | None,
                    parameters: list[str], title: str) -> str:
    """Every trial as a Markdown table row, best marked."""
    lines = [f"# {title}", "",
             f"{len(trials)} trials; objective `{objective}` (maximize). Best: "
             f"`{best_name or 'none'}`.", "",
             "| trial | status | " + " | ".join(parameters) + f" | {objective} |",
             "|---|---|" + "---|" * len(parameters) + "---|"]
    for t in trials:
        mark = " **(best)**" if t.name == best_name else ""
        values = " | ".join(t.assignments.get(p, "") for p in parameters)
        lines.append(f"| {t.name}{mark} | {t.status} | {values} | "
                     f"{t.metrics.get(objective, '–')} |")
    return "\n".join(lines) + "\n"
