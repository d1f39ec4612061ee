"""The health pages: every integration at a glance, and one integration's charts over a range.

Routes (JSON next to each page)::

    GET /health                          every integration: status, figures, anomalies, retired ones;
                                         each window of every reliable_http connection's rate limit
    GET /health/{integration}?range=7d   charts of every measure (24h, 7d, 30d), anomalies marked,
                                         where each task's time goes, notes on what is unknown
    GET /api/health, /api/health/{integration}?range=7d

Health is per integration, and an integration is not tied to one DAG a permission could name,
so the pages need read access to DAGs as a whole. A state DB that cannot be read, or a broken
monitoring config, is said plainly with a 503: unknown health is not good health.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status

from reliable_api.plugin.access import Access, current_access
from reliable_api.plugin.render import page
from reliable_api.plugin.svg import breakdown, compact_number, line_chart

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reliable_api.monitoring.health import IntegrationHealth
    from reliable_api.plugin.limits import ConnectionLimit

AccessDep = Annotated[Access, Depends(current_access)]
RangeQuery = Annotated[str, Query(alias="range", pattern="^(24h|7d|30d)$")]


def overview(engine: Callable[[], Engine]) -> list[IntegrationHealth]:
    """Every integration's health; :raises HTTPException: 503 naming what could not be read."""
    from reliable_api.monitoring.health import integration_health

    config = _config()
    found: list[IntegrationHealth] = _readable(lambda: integration_health(engine(), config=config))
    return found


def detail(engine_of: Callable[[], Engine], integration: str, span: str) -> dict[str, Any]:
    """One integration's health, charts over ``span`` and anomaly history, JSON-safe pieces."""
    from reliable_api.monitoring import anomaly_log
    from reliable_api.monitoring.charts import RANGES, charts, resolved_dead_letters
    from reliable_api.monitoring.health import integration_health
    from reliable_api.state.schema import utcnow

    config = _config()
    now = utcnow()
    rows: dict[str, Any] = {}

    def read() -> dict[str, Any]:
        engine = engine_of()
        (health,) = integration_health(engine, now=now, config=config, only=integration, rows=rows)
        since = now - RANGES[span][0]
        names = [integration, *health.renamed_from]
        past = anomaly_log.history(engine, integration, since)
        return {"health": health, "resolved": resolved_dead_letters(engine, names, since), "past": past}

    found = _readable(read)
    health = found["health"]
    if health.last_run_at is None and not health.open_dead_letters:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no integration {integration!r} has tries or dead letters"
        )
    current = {anomaly.key for anomaly in health.anomalies}
    earlier = [_as_anomaly(item) for item in found["past"]]
    marked = [*health.anomalies, *(a for a in earlier if a.key not in current)]
    return {
        "health": health,
        "charts": charts(
            rows.get(integration, []),
            now=now,
            span=span,
            objective=health.objective,
            resolved=found["resolved"],
            anomalies=marked,
        ),
        "anomaly_history": found["past"],
    }


def limits(request: Request) -> list[ConnectionLimit]:
    """Each connection's limit windows, read from their backends without taking a slot."""
    from reliable_api.plugin.limits import connection_limits

    found: list[ConnectionLimit] = connection_limits(request.app.state.limit_readings)
    return found


def install(app: FastAPI) -> None:
    """Add the health pages and their JSON to ``app``."""
    from reliable_api.monitoring.health_limits import Readings

    app.state.limit_readings = Readings()  # the previous view's readings, to measure each pace

    @app.get("/health")
    def health_page(request: Request, access: AccessDep) -> Any:
        access.require("GET", None, "integration health")
        rows = overview(request.app.state.engine)
        return page(
            request, "health.html", rows=rows, limits=limits(request), user=access.name, number=compact_number
        )

    @app.get("/api/health")
    def health_json(request: Request, access: AccessDep) -> dict[str, Any]:
        access.require("GET", None, "integration health")
        integrations = [item.to_dict() for item in overview(request.app.state.engine)]
        return {"integrations": integrations, "rate_limits": [item.to_dict() for item in limits(request)]}

    @app.get("/health/{integration}")
    def detail_page(request: Request, access: AccessDep, integration: str, span: RangeQuery = "7d") -> Any:
        access.require("GET", None, "integration health")
        found = detail(request.app.state.engine, integration, span)
        tasks = found["health"].tasks
        longest = max((sum(task.time_spent.values()) for task in tasks), default=0.0)
        return page(
            request,
            "health_detail.html",
            h=found["health"],
            charts=found["charts"],
            history=found["anomaly_history"],
            span=span,
            chart=line_chart,
            breakdown=lambda spent: breakdown(spent, longest),
            number=compact_number,
            user=access.name,
        )

    @app.get("/api/health/{integration}")
    def detail_json(request: Request, access: AccessDep, integration: str, span: RangeQuery = "7d") -> Any:
        access.require("GET", None, "integration health")
        found = detail(request.app.state.engine, integration, span)
        return {
            "range": span,
            "health": found["health"].to_dict(),
            "charts": [chart.to_dict() for chart in found["charts"]],
            "anomaly_history": found["anomaly_history"],
        }


def _config() -> Any:
    from reliable_api.exceptions import ConfigurationError
    from reliable_api.monitoring.settings import load_config

    try:
        return load_config()
    except ConfigurationError as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"monitoring config: {error}") from None


def _readable(read: Any) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from reliable_api.exceptions import ConfigurationError, TransientError

    try:
        return read()
    except (SQLAlchemyError, ConfigurationError, TransientError, OSError) as error:  # a lost connection
        detail = (
            f"the state DB cannot be read ({type(error).__name__}): integration health is unknown, "
            "not fine. Check the reliable_api_state connection and that the database is up."
        )
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from None


def _as_anomaly(item: dict[str, Any]) -> Any:
    from datetime import datetime

    from reliable_api.monitoring.anomalies import Anomaly

    at = datetime.fromisoformat(item["at"]) if item.get("at") else None
    return Anomaly(
        item["kind"],
        item["integration"],
        item["observed"],
        item["expected"],
        item["message"],
        item["dag_id"],
        item["task_id"],
        at,
    )
