"""Charts drawn on the server as inline SVG: no script, no library, nothing from another host.

Each chart is an ``<svg role="img">`` with an ``aria-label`` and a ``<title>`` on every bar or point (the
browser shows it on hover); colours come from the plugin's stylesheet (classes ``s0`` … ``s5``), so the
page's Content-Security-Policy needs nothing beyond ``style-src 'self'``. The numbers are also in the
tables beside each chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int | float]
    cls: str = ""  # the stylesheet's colour class (s0 … s5); by position when empty


def _cls(series: Series, i: int) -> str:
    return series.cls or f"s{i % 6}"


def _nice_max(value: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power = 1.0
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _ticks(top: float, n: int = 4) -> list[float]:
    return [top * i / n for i in range(n + 1)]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _frame(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body) + "</svg>")


def _axes(left: int, top: int, plot_w: int, plot_h: int, ymax: float) -> list[str]:
    out = []
    for tick in _ticks(ymax):
        y = top + plot_h - plot_h * tick / ymax
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    return out


def _legend(series: Sequence[Series], x: int, y: int) -> list[str]:
    out, cursor = [], x
    for i, s in enumerate(series):
        out.append(f'<rect class="{_cls(s, i)}" x="{cursor}" y="{y - 9}" width="10" height="10"/>')
        out.append(f'<text class="legend" x="{cursor + 14}" y="{y}">{escape(s.label)}</text>')
        cursor += 24 + int(sum(12 if ord(c) > 0x2E7F else 6.5 for c in s.label))
    return out


def bar_chart(categories: Sequence[str], series: Sequence[Series], label: str, *, stacked: bool = False,
              width: int = 640, height: int = 240) -> Markup:
    """Grouped (or stacked) bars: one group per category, one bar (or segment) per series."""
    left, top, bottom = 44, 24, 40
    plot_w, plot_h = width - left - 12, height - top - bottom
    if stacked:
        peak = max((sum(s.values[i] for s in series) for i in range(len(categories))), default=0)
    else:
        peak = max((v for s in series for v in s.values), default=0)
    ymax = _nice_max(float(peak))
    body = _axes(left, top, plot_w, plot_h, ymax)
    n = max(1, len(categories))
    group_w = plot_w / n
    bar_w = group_w * 0.7 / (1 if stacked else max(1, len(series)))
    for i, category in enumerate(categories):
        x0 = left + i * group_w + group_w * 0.15
        base = 0.0
        for j, s in enumerate(series):
            value = float(s.values[i])
            h = plot_h * value / ymax
            x = x0 if stacked else x0 + j * bar_w
            y = top + plot_h - h - (plot_h * base / ymax if stacked else 0)
            body.append(f'<rect class="{_cls(s, j)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                        f'<title>{escape(category)} · {escape(s.label)}：{_fmt(value)}</title></rect>')
            if stacked:
                base += value
        body.append(f'<text class="axis" x="{left + (i + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" '
                    f'text-anchor="middle">{escape(category)}</text>')
    body += _legend(series, left, height - 6)
    return _frame(width, height, label, body)


def line_chart(categories: Sequence[str], series: Sequence[Series], label: str, *, width: int = 640,
               height: int = 240) -> Markup:
    """One line per series over the categories (periods), a dot with its value on each point."""
    left, top, bottom = 44, 24, 40
    plot_w, plot_h = width - left - 32, height - top - bottom
    ymax = _nice_max(float(max((v for s in series for v in s.values), default=0)))
    body = _axes(left, top, plot_w, plot_h, ymax)
    n = len(categories)
    step = plot_w / max(1, n - 1) if n > 1 else 0
    xs = [left + (i * step if n > 1 else plot_w / 2) for i in range(n)]
    for j, s in enumerate(series):
        points = [(xs[i], top + plot_h - plot_h * float(v) / ymax) for i, v in enumerate(s.values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline class="line {_cls(s, j)}" points="{path}"/>')
        for (x, y), category, value in zip(points, categories, s.values, strict=True):
            body.append(f'<circle class="{_cls(s, j)}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
                        f'<title>{escape(category)} · {escape(s.label)}：{_fmt(float(value))}</title></circle>')
    every = max(1, n // 8)
    for i, category in enumerate(categories):
        if i % every == 0 or i == n - 1:
            body.append(f'<text class="axis" x="{xs[i]:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                        f'{escape(category)}</text>')
    body += _legend(series, left, height - 6)
    return _frame(width, height, label, body)
