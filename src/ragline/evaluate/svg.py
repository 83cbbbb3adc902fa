"""Small, dependency-free SVG charts for the evaluation reports (inline in the HTML page).

Three shapes cover the reports: a *forest plot* (a point with its interval per row — metric
means with bootstrap CIs, or run-vs-run deltas around a zero line), a *histogram* (per-item
score distribution) and *horizontal bars* (a metric per slice value). Every function returns
an ``<svg>`` string; text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

FONT = "font-family='system-ui,sans-serif' font-size='12'"
BLUE, RED, GREY, GREEN = "#3568d4", "#c8423b", "#888", "#2e8b57"


def _num(x: float) -> str:
    return f"{x:.1f}"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"


def nice_range(values: Sequence[float], *, include_zero: bool = False) -> tuple[float, float]:
    """An axis range covering ``values`` ([0, 1] when they fit in it)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if lo >= 0 and hi <= 1 and not include_zero:
        return 0.0, 1.0
    if lo >= 1 and hi <= 5:
        return 1.0, 5.0
    pad = (hi - lo) * 0.05 or max(abs(hi), 1.0) * 0.1
    lo, hi = (lo - pad if lo < 0 else max(lo - pad, 0.0)), hi + pad
    # four equal intervals of a "nice" width (1, 2, 2.5 or 5 times a power of ten)
    raw = (hi - lo) / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    while start + 4 * step < hi:
        step = next(m * power for m in (1, 2, 2.5, 5, 10, 20) if m * power > step)
        start = math.floor(lo / step) * step
    return start, start + 4 * step


class _Axis:
    def __init__(self, lo: float, hi: float, left: float, width: float) -> None:
        self.lo, self.hi, self.left, self.width = lo, hi, left, width

    def x(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.left + (min(max(value, self.lo), self.hi) - self.lo) / span * self.width

    def ticks(self, top: float, bottom: float) -> str:
        parts = []
        for i in range(5):
            v = self.lo + (self.hi - self.lo) * i / 4
            x = _num(self.x(v))
            parts.append(
                f"<line x1='{x}' x2='{x}' y1='{_num(top)}' y2='{_num(bottom)}' "
                f"stroke='#e4e4e4'/><text x='{x}' y='{_num(bottom + 14)}' "
                f"text-anchor='middle' {FONT} fill='{GREY}'>{_fmt(v)}</text>"
            )
        return "".join(parts)


def _frame(width: int, height: int, title: str, body: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>"
        f"<text x='8' y='16' {FONT} font-weight='bold'>{escape(title)}</text>{body}</svg>"
    )


def forest(
    rows: Sequence[tuple[str, float, float, float]],
    *,
    title: str,
    lo: float | None = None,
    hi: float | None = None,
    zero_line: bool = False,
    lower_better: Sequence[bool] = (),
    width: int = 640,
) -> str:
    """A point and interval per ``(label, value, low, high)`` row.

    With ``zero_line`` (deltas), an interval wholly on the better side of zero is green and
    one wholly on the worse side red; ``lower_better[i]`` puts row i's better side below
    zero (perplexity)."""
    label_w, row_h, top = 170, 24, 28
    height = top + row_h * len(rows) + 26
    if lo is None or hi is None:
        lo, hi = nice_range([v for _, m, a, b in rows for v in (m, a, b)], include_zero=zero_line)
    axis = _Axis(lo, hi, label_w, width - label_w - 70)
    bottom = top + row_h * len(rows)
    body = [axis.ticks(top, bottom)]
    if zero_line and lo < 0 < hi:
        x0 = _num(axis.x(0.0))
        body.append(f"<line x1='{x0}' x2='{x0}' y1='{top}' y2='{bottom}' stroke='#555'/>")
    for i, (label, value, low, high) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        color = BLUE
        if zero_line and math.isfinite(low) and math.isfinite(high):
            up, down = (RED, GREEN) if i < len(lower_better) and lower_better[i] else (GREEN, RED)
            color = up if low > 0 else down if high < 0 else GREY
        body.append(
            f"<text x='{label_w - 8}' y='{_num(y + 4)}' text-anchor='end' {FONT}>"
            f"{escape(label[:28])}</text>"
        )
        if math.isfinite(low) and math.isfinite(high):
            body.append(
                f"<line x1='{_num(axis.x(low))}' x2='{_num(axis.x(high))}' y1='{_num(y)}' "
                f"y2='{_num(y)}' stroke='{color}' stroke-width='2'/>"
            )
        if math.isfinite(value):
            body.append(
                f"<circle cx='{_num(axis.x(value))}' cy='{_num(y)}' r='4' fill='{color}'/>"
                f"<text x='{width - 64}' y='{_num(y + 4)}' {FONT}>{_fmt(value)}</text>"
            )
    return _frame(width, height, title, "".join(body))


def histogram(
    values: Sequence[float],
    *,
    title: str,
    bins: int = 10,
    lo: float | None = None,
    hi: float | None = None,
    width: int = 300,
    height: int = 150,
) -> str:
    """Counts of ``values`` in equal-width bins."""
    finite = [v for v in values if math.isfinite(v)]
    if lo is None or hi is None:
        lo, hi = nice_range(finite)
    if hi <= lo:
        hi = lo + 1.0
    counts = [0] * bins
    for v in finite:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    left, top, bottom = 30, 24, height - 20
    plot_w = width - left - 10
    peak = max(counts) or 1
    bar_w = plot_w / bins
    body = [
        f"<line x1='{left}' x2='{left + plot_w}' y1='{bottom}' y2='{bottom}' stroke='{GREY}'/>",
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end' {FONT} fill='{GREY}'>{peak}</text>",
        f"<text x='{left}' y='{bottom + 14}' {FONT} fill='{GREY}'>{_fmt(lo)}</text>",
        f"<text x='{left + plot_w}' y='{bottom + 14}' text-anchor='end' {FONT} "
        f"fill='{GREY}'>{_fmt(hi)}</text>",
    ]
    for i, c in enumerate(counts):
        h = (bottom - top) * c / peak
        body.append(
            f"<rect x='{_num(left + i * bar_w + 1)}' y='{_num(bottom - h)}' "
            f"width='{_num(max(bar_w - 2, 1))}' height='{_num(h)}' fill='{BLUE}'>"
            f"<title>{c}</title></rect>"
        )
    return _frame(width, height, title, "".join(body))


def bars(
    rows: Sequence[tuple[str, float, int]],
    *,
    title: str,
    lo: float | None = None,
    hi: float | None = None,
    width: int = 420,
) -> str:
    """A horizontal bar per ``(label, value, n)`` row."""
    label_w, row_h, top = 130, 20, 26
    height = top + row_h * len(rows) + 22
    if lo is None or hi is None:
        lo, hi = nice_range([v for _, v, _ in rows])
    axis = _Axis(lo, hi, label_w, width - label_w - 90)
    body = [axis.ticks(top, top + row_h * len(rows))]
    for i, (label, value, n) in enumerate(rows):
        y = top + row_h * i
        body.append(
            f"<text x='{label_w - 6}' y='{_num(y + 14)}' text-anchor='end' {FONT}>"
            f"{escape(label[:20])}</text>"
        )
        if math.isfinite(value):
            x1 = axis.x(value)
            body.append(
                f"<rect x='{label_w}' y='{_num(y + 3)}' width='{_num(max(x1 - label_w, 1))}' "
                f"height='{row_h - 6}' fill='{BLUE}'/>"
                f"<text x='{width - 84}' y='{_num(y + 14)}' {FONT}>{_fmt(value)} (n={n})</text>"
            )
    return _frame(width, height, title, "".join(body))


__all__ = ["bars", "forest", "histogram", "nice_range"]
