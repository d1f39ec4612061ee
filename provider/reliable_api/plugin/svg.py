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
