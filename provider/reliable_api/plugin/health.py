"""The health page: per integration, how its recent runs went (``reliable_api.monitoring``).

Health is per integration, and an integration is not tied to one DAG a permission could name,
so the page needs read access to DAGs as a whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request

from reliable_api.plugin.access import Access, current_access
from reliable_api.plugin.render import page
from reliable_api.plugin.svg import bar, pair, trend

if TYPE_CHECKING:
    from sqlalchemy import Engine

AccessDep = Annotated[Access, Depends(current_access)]


def health_rows(engine: Engine) -> list[dict[str, Any]]:
    """Each integration's health as a dict (see ``IntegrationHealth.to_dict``)."""
    from reliable_api.monitoring.health import integration_health

    return [health.to_dict() for health in integration_health(engine)]


def install(app: FastAPI) -> None:
    """Add ``GET /health`` and ``GET /api/health`` to ``app``."""

    @app.get("/health")
    def health_page(request: Request, access: AccessDep) -> Any:
        from reliable_api.monitoring.health import integration_health

        access.require("GET", None, "integration health")
        return page(
            request,
            "health.html",
            rows=integration_health(request.app.state.engine()),
            bar=bar,
            pair=pair,
            trend=trend,
            user=access.name,
        )

    @app.get("/api/health")
    def health_json(request: Request, access: AccessDep) -> dict[str, Any]:
        access.require("GET", None, "integration health")
        return {"integrations": health_rows(request.app.state.engine())}
