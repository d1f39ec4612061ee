"""Inline SVG charts for the health page: no JavaScript, nothing fetched, colours from the theme's CSS.

Every point is a ``circle.point`` with a ``<title>`` (its bucket and value), every anomaly a
``g.anomaly-mark`` at its bucket with the anomaly's message as ``<title>``, so the charts read
with a pointer, a screen reader or a test. The page's CSS colours ``.s0``, ``.s1``, ``.target``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from markupsafe import Markup, escape

from reliable_api.monitoring.charts import Chart

WIDTH, HEIGHT = 600, 150
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 10, 20


def compact_number(value: float) -> str:
    """``950``, ``12.5k``, ``3.1M``, ``0.25``: short enough for an axis."""
    size = abs(value)
    if size >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if size >= 10_000:
        return f"{value / 1_000:.0f}k"
    if size >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:.0f}" if size >= 10 or value == int(value) else f"{value:.2f}"


def compact_time(moment: datetime, *, with_day: bool = True) -> str:
    """``Dec 6 14:00`` (``14:00`` without the day), UTC."""
    return moment.strftime("%b %-d %H:%M" if with_day else "%H:%M")


def line_chart(chart: Chart) -> Markup:
    """``chart`` as a line per series over its buckets, the target dashed, anomalies marked."""
    values = [v for series in chart.series.values() for v in series if v is not None]
    top = max([*values, chart.target or 0.0, 0.0]) or 1.0
    count = len(chart.starts)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (index + 0.5) * plot_w / max(1, count)

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{compact_number(top)}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    if count:
        for index, anchor in ((0, "start"), (count - 1, "end")):
            label = compact_time(chart.starts[index])
            position = f'x="{x(index):.1f}" y="{HEIGHT - 4}" text-anchor="{anchor}"'
            parts.append(f'<text class="tick" {position}>{label}</text>')
    if chart.target is not None:
        ty = y(chart.target)
        parts.append(f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}"/>')
    for number, (name, series) in enumerate(chart.series.items()):
        parts.append(_series(name, series, chart, number, x, y))
    for index, anomaly in chart.marks:
        mx = x(index)
        parts.append(
            f'<g class="anomaly-mark" data-kind="{escape(anomaly.kind)}" data-bucket="{index}">'
            f"<title>{escape(anomaly.message)}</title>"
            f'<line x1="{mx:.1f}" y1="{TOP}" x2="{mx:.1f}" y2="{TOP + plot_h}"/>'
            f'<path d="M{mx - 5:.1f},{TOP - 2} L{mx + 5:.1f},{TOP - 2} L{mx:.1f},{TOP + 6} Z"/></g>'
        )
    label = f"{chart.title} per bucket, {count} buckets, {len(chart.marks)} anomalies marked"
    return Markup(
        f'<svg class="chart" data-measure="{escape(chart.measure)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _series(
    name: str,
    series: list[float | None],
    chart: Chart,
    number: int,
    x: Callable[[int], float],
    y: Callable[[float], float],
) -> str:
    segments: list[list[str]] = [[]]
    dots = []
    for index, value in enumerate(series):
        if value is None:
            segments.append([])
            continue
        px, py = x(index), y(value)
        segments[-1].append(f"{px:.1f},{py:.1f}")
        when = compact_time(chart.starts[index])
        dots.append(
            f'<circle class="point s{number}" cx="{px:.1f}" cy="{py:.1f}" r="2.2" data-value="{value}">'
            f"<title>{when} · {escape(name)}: {compact_number(value)} {escape(chart.unit)}</title></circle>"
        )
    lines = "".join(
        f'<polyline class="line s{number}" points="{" ".join(segment)}"/>'
        for segment in segments
        if len(segment) > 1
    )
    return lines + "".join(dots)


def breakdown(time_spent: dict[str, float], longest: float) -> Markup:
    """A stacked bar of where a task's time went, scaled to the ``longest`` task's total."""
    total = sum(time_spent.values())
    if not total:
        return Markup("")
    width, offset, parts = 240.0, 0.0, []
    for kind, seconds in sorted(time_spent.items()):
        length = seconds / (longest or total) * width
        parts.append(
            f'<rect class="part part-{escape(kind.replace(" ", "-"))}" x="{offset:.1f}" width="{length:.1f}" '
            f'height="12"><title>{escape(kind)}: {seconds:.0f} s</title></rect>'
        )
        offset += length
    return Markup(
        f'<svg class="breakdown" viewBox="0 0 {width:.0f} 12" role="img" aria-label="time per kind">'
        f"{''.join(parts)}</svg>"
    )
