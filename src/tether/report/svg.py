"""Small inline-SVG charts for the memo: no plotting dependency, no scripts, self-contained HTML.

Each function returns an `<svg>` string: `line_chart` (learning curves), `interval_chart` (estimates
with intervals against a reference line), `bar_chart` (shares per category) and `histogram`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
W, H, PAD = 560, 240, 48


def _scale(values, low, high, out_low, out_high):
    span = (high - low) or 1.0
    return out_low + (np.asarray(values, float) - low) / span * (out_high - out_low)


def _frame(title: str, x_label: str, y_label: str, y_low: float, y_high: float) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#444"/>',
             f'<line x1="{PAD}" y1="28" x2="{PAD}" y2="{H - PAD}" stroke="#444"/>',
             f'<text x="{W / 2}" y="{H - 10}" text-anchor="middle" font-size="11">{escape(x_label)}</text>',
             f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
             f'text-anchor="middle">{escape(y_label)}</text>']
    for value in np.linspace(y_low, y_high, 4):
        y = _scale(value, y_low, y_high, H - PAD, 28)
        parts.append(f'<text x="{PAD - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{value:.3g}</text>')
    return parts


def _bounds(values) -> tuple[float, float]:
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if len(finite) == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    margin = 0.05 * (high - low or abs(high) or 1.0)
    return low - margin, high + margin


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str, x_label: str,
               y_label: str) -> str:
    """`series`: name -> (x values, y values)."""
    xs = [x for xv, _ in series.values() for x in xv] or [0, 1]
    y_low, y_high = _bounds([y for _, yv in series.values() for y in yv])
    x_low, x_high = min(xs), max(xs)
    parts = _frame(title, x_label, y_label, y_low, y_high)
    for i, (name, (xv, yv)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(_scale(xv, x_low, x_high, PAD, W - 20),
                                                              _scale(yv, y_low, y_high, H - PAD, 28), strict=True)
                          if np.isfinite(y))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{W - 130}" y="{34 + 13 * i}" font-size="11" fill="{color}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(rows: list[tuple[str, float, float, float]], title: str, y_label: str,
                   reference: float | None = None, reference_label: str = "") -> str:
    """`rows`: (label, estimate, low, high), drawn left to right; `reference` as a dashed line."""
    values = [v for _, e, lo, hi in rows for v in (e, lo, hi)] + ([reference] if reference is not None else [])
    y_low, y_high = _bounds(values)
    parts = _frame(title, "", y_label, y_low, y_high)
    step = (W - PAD - 20) / max(len(rows), 1)
    if reference is not None:
        y = _scale(reference, y_low, y_high, H - PAD, 28)
        parts.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 10}" y2="{y:.1f}" stroke="#888" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{W - 12}" y="{y - 4:.1f}" text-anchor="end" font-size="10" fill="#666">'
                     f'{escape(reference_label)}</text>')
    for i, (label, estimate, low, high) in enumerate(rows):
        x = PAD + step * (i + 0.5)
        if not np.isfinite(estimate):
            continue
        y_e, y_lo, y_hi = (_scale(v, y_low, y_high, H - PAD, 28) for v in (estimate, low, high))
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<line x1="{x:.1f}" y1="{y_lo:.1f}" x2="{x:.1f}" y2="{y_hi:.1f}" stroke="{color}" '
                     'stroke-width="2"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y_e:.1f}" r="4" fill="{color}"/>')
        parts.append(f'<text x="{x:.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="9">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: list[tuple[str, float]], title: str, y_label: str, y_max: float | None = None) -> str:
    """An inline SVG bar chart of `(label, value)` pairs."""
    y_high = y_max if y_max is not None else max([v for _, v in bars] + [1e-9]) * 1.1
    parts = _frame(title, "", y_label, 0.0, y_high)
    step = (W - PAD - 20) / max(len(bars), 1)
    for i, (label, value) in enumerate(bars):
        x = PAD + step * i + step * 0.15
        y = _scale(value, 0.0, y_high, H - PAD, 28)
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{H - PAD - y:.1f}" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="9">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values, title: str, x_label: str, bins: int = 20) -> str:
    """An inline SVG histogram of `values`."""
    counts, edges = np.histogram(np.asarray(values, float), bins=bins)
    labels = [f"{edges[i]:.3g}" if i % max(bins // 5, 1) == 0 else "" for i in range(bins)]
    return bar_chart(list(zip(labels, counts.astype(float).tolist(), strict=True)), title, f"episodes ({x_label})")
