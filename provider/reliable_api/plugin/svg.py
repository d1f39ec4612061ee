"""Tiny inline SVG charts for the health page: no JavaScript, nothing fetched from elsewhere."""

from __future__ import annotations

from markupsafe import Markup, escape


def bar(share: float | None, *, width: int = 120, height: int = 12, label: str = "") -> Markup:
    """A horizontal bar filled to ``share`` (0..1); an empty outline when ``share`` is unknown."""
    filled = 0.0 if share is None else max(0.0, min(1.0, share)) * width
    colour = "#38a169" if share is not None and share >= 0.95 else "#dd6b20" if share else "#e53e3e"
    return Markup(
        f'<svg class="bar" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f'<rect width="{width}" height="{height}" fill="#edf2f7"/>'
        f'<rect width="{filled:.1f}" height="{height}" fill="{colour}"/></svg>'
    )


def pair(last: float | None, typical: float | None, *, width: int = 120, height: int = 18) -> Markup:
    """Two thin bars, ``last`` over ``typical``, on a common scale (is the last run out of line?)."""
    top = max(last or 0.0, typical or 0.0) or 1.0

    def length(value: float | None) -> float:
        return 0.0 if value is None else value / top * width

    label = f"last {last if last is not None else '?'}, median {typical if typical is not None else '?'}"
    half = height // 2 - 1
    return Markup(
        f'<svg class="pair" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f'<rect y="0" width="{length(last):.1f}" height="{half}" fill="#3182ce"/>'
        f'<rect y="{half + 2}" width="{length(typical):.1f}" height="{half}" fill="#a0aec0"/></svg>'
    )


def trend(points: list[tuple[float, str]], *, width: int = 160, height: int = 24) -> Markup:
    """The durations of a task's latest tries as a line, oldest first; failed tries as red dots."""
    if not points:
        return Markup("")
    top = max(seconds for seconds, _ in points) or 1.0
    step = width / max(1, len(points) - 1)

    def xy(index: int, seconds: float) -> tuple[float, float]:
        return index * step, height - 2 - seconds / top * (height - 4)

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, s) for i, (s, _) in enumerate(points)))
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#e53e3e"/>'
        for x, y, outcome in ((*xy(i, s), o) for i, (s, o) in enumerate(points))
        if outcome != "success"
    )
    failed = sum(1 for _, outcome in points if outcome != "success")
    label = f"durations of the last {len(points)} tries, longest {top:.1f} s, {failed} failed"
    return Markup(
        f'<svg class="trend" width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f'<polyline points="{line}" fill="none" stroke="#3182ce" stroke-width="1.5"/>{dots}</svg>'
    )
