"""HTML of the pages: jinja2 templates with autoescaping on, so no stored string becomes markup."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from reliable_api.deadletter.queue import DeadLetter, redacted_fields

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """The templates, autoescaped, failing on an undefined name instead of rendering nothing."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
    return env


def when(value: datetime | None) -> Markup:
    """A compact time (``Dec 6 14:05``, the year only when not this year), the full one on hover."""
    if value is None:
        return Markup("")
    full = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    short = value.strftime("%b %-d %H:%M" if value.year == datetime.now(timezone.utc).year else "%b %-d %Y")
    return Markup(f'<time datetime="{value.isoformat()}" title="{full}">{short}</time>')


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` and the app's base paths."""
    from reliable_api.plugin import URL_PREFIX

    base = str(request.scope.get("root_path", "")).rstrip("/")
    # The Airflow UI is served from where this app is mounted, less its prefix.
    ui_base = base[: -len(URL_PREFIX)] if base.endswith(URL_PREFIX) else ""
    # Inside Airflow's frame (Plugins -> Reliable API) Airflow's own nav is there: no second one.
    framed = request.headers.get("sec-fetch-dest") == "iframe" or request.query_params.get("framed") == "1"
    theme = request.query_params.get("theme")
    html = (
        environment()
        .get_template(template)
        .render(
            base=base,
            ui_base=ui_base,
            framed=framed,
            theme=theme if theme in ("light", "dark") else None,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code)


def payload_rows(entry: DeadLetter) -> list[tuple[str, str, bool]]:
    """``(field, shown value, redacted)`` per payload field.

    A redacted field shows as redacted, without even its stored hash: what is secret was decided
    by the load task's ``redact=`` when the entry was written, and the value was never kept.
    """
    payload = entry.payload or {}
    redacted = set(redacted_fields(entry))
    return [
        (name, "redacted", True)
        if name in redacted
        else (name, json.dumps(value, ensure_ascii=False, default=str), False)
        for name, value in payload.items()
    ]
