"""A dependency-free SVG line chart (the project has no matplotlib) for benchmark pictures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def line_chart(path: Path, series: Mapping[str, Sequence[tuple[float, float]]], *, title: str,
               xlabel: str, ylabel: str, log_y: bool = False, points: bool = False) -> Path:
    """Write ``series`` (name -> [(x, y)]) as an SVG chart; returns the path."""
    w, h, left, right, top, bottom = 720, 440, 70, 170, 40, 50
    xs = [x for s in series.values() for x, _ in s]
    ys = [y for s in series.values() for _, y in s if not log_y or y > 0]
    x0, x1 = min(xs), max(xs)
    f = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    y0, y1 = f(min(ys)), f(max(ys))
    if y1 == y0:
        y1 = y0 + 1
    if x1 == x0:
        x1 = x0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        return top + (1 - (f(y) - y0) / (y1 - y0)) * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" '
           'stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">{xlabel}</text>',
           f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" '
           f'text-anchor="middle">{ylabel}</text>']
    for i in range(5):
        xv = x0 + i * (x1 - x0) / 4
        out.append(f'<text x="{px(xv)}" y="{h - bottom + 16}" text-anchor="middle">'
                   f'{xv:.4g}</text>')
        yv = y0 + i * (y1 - y0) / 4
        label = 10 ** yv if log_y else yv
        out.append(f'<text x="{left - 6}" y="{py(10 ** yv if log_y else yv) + 4}" '
                   f'text-anchor="end">{label:.3g}</text>')
    for k, (name, pts) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        good = [(x, y) for x, y in pts if not log_y or y > 0]
        if points:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>'
                    for x, y in good]
        else:
            d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in good)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{d}"/>')
        ly = top + 18 * k + 10
        out.append(f'<rect x="{w - right + 10}" y="{ly - 8}" width="12" height="4" '
                   f'fill="{colour}"/><text x="{w - right + 28}" y="{ly}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path
