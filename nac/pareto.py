"""Pareto report: test error against parameters and against CPU latency for every trained net.

A self-contained HTML page (inline SVG, no scripts, no network fetches) so it renders as a KFP
HTML artifact and opens from a benchmark's output folder alike:

    points = [ParetoPoint(arm="nac", label="seed 0", error=0.41, parameters=76_000,
                          latency_ms=3.2, macs=3_500_000), ...]
    html = pareto_html(points, title="CIFAR-10, 2,000 images")
    write_pareto_html(points, "pareto.html", title=...)   # atomic write

Points on the Pareto front (no other point has lower-or-equal error and cost with one strictly
lower) are drawn filled and listed first in the table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nac.atomic import atomic_file

__all__ = ["ParetoPoint", "pareto_front", "pareto_html", "pareto_section", "search_points",
           "write_pareto_html"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#7f7f7f", "#17becf", "#bcbd22")
_W, _H, _PAD = 420, 300, 48


@dataclass(frozen=True)
class ParetoPoint:
    """One trained network: its arm (nac, random, ...), a label, error and costs."""

    arm: str
    label: str
    error: float  # fraction
    parameters: int
    latency_ms: float | None = None
    macs: int | None = None


def pareto_front(points: Sequence[ParetoPoint], cost: str = "parameters") -> list[ParetoPoint]:
    """Points not dominated in (error, `cost`); `cost` is a ParetoPoint field name."""
    usable = [p for p in points if getattr(p, cost) is not None]

    def dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
        ca, cb = getattr(a, cost), getattr(b, cost)
        return a.error <= b.error and ca <= cb and (a.error < b.error or ca < cb)

    return [p for p in usable if not any(dominates(q, p) for q in usable if q is not p)]


def scatter_svg(points: Sequence[ParetoPoint], cost: str, xlabel: str,
                colours: dict[str, str]) -> str:
    """One inline-SVG scatter of error (y) against the `cost` attribute (x, log scale), the
    Pareto front filled; `colours` maps arm -> colour. The tune step's report reuses it."""
    usable = [p for p in points if getattr(p, cost) is not None and getattr(p, cost) > 0]
    if not usable:
        return f"<p>no {html.escape(xlabel)} measured</p>"
    xs = [math.log10(getattr(p, cost)) for p in usable]
    ys = [100 * p.error for p in usable]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    dx, dy = (x1 - x0) * 0.08, (y1 - y0) * 0.08
    x0, x1, y0, y1 = x0 - dx, x1 + dx, y0 - dy, y1 + dy

    def sx(v: float) -> float:
        return _PAD + (v - x0) / (x1 - x0) * (_W - 1.5 * _PAD)

    def sy(v: float) -> float:
        return _H - _PAD + (y0 - v) / (y1 - y0) * (_H - 1.5 * _PAD)

    front = set(map(id, pareto_front(usable, cost)))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}" role="img" aria-label="test error vs {xlabel}">',
             f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
             f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD / 2}" y2="{_H - _PAD}" '
             'stroke="black"/>',
             f'<line x1="{_PAD}" y1="{_PAD / 2}" x2="{_PAD}" y2="{_H - _PAD}" stroke="black"/>']
    for i in range(5):  # ticks
        xv = x0 + (x1 - x0) * i / 4
        yv = y0 + (y1 - y0) * i / 4
        parts.append(f'<text x="{sx(xv):.1f}" y="{_H - _PAD + 14}" font-size="10" '
                     f'text-anchor="middle">{10 ** xv:.3g}</text>')
        parts.append(f'<text x="{_PAD - 4}" y="{sy(yv) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{yv:.1f}</text>')
    parts.append(f'<text x="{(_W + _PAD) / 2:.0f}" y="{_H - 10}" font-size="11" '
                 f'text-anchor="middle">{html.escape(xlabel)} (log scale)</text>')
    parts.append(f'<text x="12" y="{_H / 2:.0f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {_H / 2:.0f})">test error (%)</text>')
    for p, xv, yv in zip(usable, xs, ys, strict=True):
        colour = colours[p.arm]
        fill = colour if id(p) in front else "white"
        tip = html.escape(f"{p.arm} {p.label}: {yv:.2f}% error, {getattr(p, cost):.4g} {xlabel}")
        parts.append(f'<circle cx="{sx(xv):.1f}" cy="{sy(yv):.1f}" r="5" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="2"><title>{tip}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def search_points(rows: Sequence[dict]) -> list[ParetoPoint]:
    """Points of a search report's per-iteration rows (components/_impl/search.py): validation
    error of each truncated run against its parameters (rows without both are skipped)."""
    return [ParetoPoint(arm="search (truncated run, val error)",
                        label=f"iteration {r['iteration']}", error=1.0 - float(r["val_accuracy"]),
                        parameters=int(r["parameters"]))
            for r in rows if r.get("val_accuracy") is not None and r.get("parameters")]


def pareto_section(points: Sequence[ParetoPoint], notes: str = "") -> str:
    """The pictures, legend and table as an HTML fragment (for pages built elsewhere)."""
    if not points:
        return "<h3>Pareto report</h3><p>no trained network with an error and a size</p>"
    arms = list(dict.fromkeys(p.arm for p in points))
    colours = {arm: _COLOURS[i % len(_COLOURS)] for i, arm in enumerate(arms)}
    legend = " ".join(f'<span style="color:{colours[a]}">&#9679; {html.escape(a)}</span>'
                      for a in arms)
    front = set(map(id, pareto_front(points, "parameters")))
    rows = sorted(points, key=lambda p: (id(p) not in front, p.error, p.parameters))
    table = ["<table><tr><th>arm</th><th>run</th><th>test error</th><th>parameters</th>"
             "<th>MACs</th><th>latency (ms)</th><th>front</th></tr>"]
    for p in rows:
        table.append(
            f"<tr><td>{html.escape(p.arm)}</td><td>{html.escape(p.label)}</td>"
            f"<td>{100 * p.error:.2f}%</td><td>{p.parameters:,}</td>"
            f"<td>{'' if p.macs is None else f'{p.macs:,}'}</td>"
            f"<td>{'' if p.latency_ms is None else f'{p.latency_ms:.3f}'}</td>"
            f"<td>{'yes' if id(p) in front else ''}</td></tr>")
    table.append("</table>")
    return (
        f"<h3>Pareto report</h3><p>{legend}</p>"
        "<p>Filled markers: the Pareto front (no other network is at least as accurate and at "
        "most as costly on that axis).</p>"
        f"<div>{scatter_svg(points, 'parameters', 'parameters', colours)}"
        f"{scatter_svg(points, 'latency_ms', 'CPU latency per image (ms)', colours)}</div>"
        f"<p>{html.escape(notes)}</p>{''.join(table)}")


def pareto_html(points: Sequence[ParetoPoint], *, title: str, notes: str = "") -> str:
    """The report page (see the module docstring)."""
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:right}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>{pareto_section(points, notes)}</body></html>")


def write_pareto_html(points: Sequence[ParetoPoint], path: str | Path, *, title: str,
                      notes: str = "") -> Path:
    """Write the report atomically (a failed write leaves no half page)."""
    path = Path(path)
    with atomic_file(path, "w") as fh:
        fh.write(pareto_html(points, title=title, notes=notes))
    return path
