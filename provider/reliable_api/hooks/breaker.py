"""The circuit breaker of a ``reliable_http`` connection, built from its settings.

The breaker's state lives where the connection's rate limit lives (``limiter_backend``), so
every worker shares it. Its one opening and one closing per outage are logged, counted in
Airflow's ``Stats`` (``reliable_api.breaker.<conn_id>.opened`` / ``.closed``) and, with a
``breaker_alert_conn_id``, sent to that webhook connection as one alert each.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from reliable_api.defaults import STATE_CONN_ID

if TYPE_CHECKING:
    from reliable_api.http.circuit_breaker import BreakerChange, CircuitBreaker
    from reliable_api.http.settings import HttpSettings
    from reliable_api.http.shared_state import SharedState

log = logging.getLogger(__name__)
#: Where the ``redis`` shared state lives when the connection names no ``limiter_conn_id``.
DEFAULT_REDIS_CONN_ID = "redis_default"


def connection_breaker(conn_id: str, settings: HttpSettings) -> CircuitBreaker | None:
    """The breaker of ``conn_id``; ``None`` unless ``breaker_failures`` or ``breaker_error_ratio`` is set."""
    from reliable_api.http.circuit_breaker import BreakerSettings, CircuitBreaker

    if not settings.breaker_failures and not settings.breaker_error_ratio:
        return None
    breaker_settings = BreakerSettings(
        failures=settings.breaker_failures,
        error_ratio=settings.breaker_error_ratio,
        window=settings.breaker_window,
        min_requests=settings.breaker_min_requests,
        open_seconds=settings.breaker_open_seconds,
        probe_seconds=settings.connect_timeout + settings.read_timeout,
    )
    return CircuitBreaker(
        connection_state(settings),
        conn_id,
        breaker_settings,
        on_change=BreakerReporter(conn_id, settings.breaker_alert_conn_id),
    )


def connection_state(settings: HttpSettings) -> SharedState:
    """The shared state of a connection: in its ``limiter_backend``."""
    from airflow.providers.http.hooks.http import HttpHook

    from reliable_api.core.connection_urls import postgres_url, redis_url
    from reliable_api.http.shared_state import shared_state

    backend = settings.limiter_backend
    if backend in ("memory", "sqlite"):
        return shared_state(backend)
    default = DEFAULT_REDIS_CONN_ID if backend == "redis" else STATE_CONN_ID
    conn = HttpHook.get_connection(settings.limiter_conn_id or default)
    return shared_state(backend, url=redis_url(conn) if backend == "redis" else postgres_url(conn))


class BreakerReporter:
    """Log, count and alert one opening or closing of a connection's breaker.

    :param conn_id: the connection.
    :param alert_conn_id: the webhook connection to alert, or ``None``.
    """

    def __init__(self, conn_id: str, alert_conn_id: str | None) -> None:
        self.conn_id = conn_id
        self.alert_conn_id = alert_conn_id

    def __call__(self, change: BreakerChange) -> None:
        """Report ``change`` (called by the one worker that made it)."""
        if change.change == "opened":
            log.error(
                "Circuit breaker of connection %r opened: the API keeps failing; requests wait %.0f s "
                "for a probe, tasks defer",
                self.conn_id,
                change.state.get("open_until", 0.0) - change.state.get("opened_at", 0.0),
            )
        else:
            log.warning("Circuit breaker of connection %r closed: the probe succeeded", self.conn_id)
        try:
            from reliable_api.monitoring.stats import _stats

            _stats().incr(f"reliable_api.breaker.{self.conn_id}.{change.change}")
        except Exception:  # metrics never fail a request
            log.debug("Stats unavailable for the breaker of %r", self.conn_id, exc_info=True)
        if self.alert_conn_id:
            self._alert(change)

    def _alert(self, change: BreakerChange) -> None:
        from reliable_api.alerting.alert import Alert
        from reliable_api.notifications.webhook import WebhookNotifier

        opened = change.change == "opened"
        message = (
            f"The API of connection {self.conn_id!r} keeps failing (5xx, timeouts, resets): every "
            "worker stops sending and its tasks defer until a probe succeeds."
            if opened
            else f"The API of connection {self.conn_id!r} answers again: the breaker closed."
        )
        alert = Alert(
            kind="circuit_opened" if opened else "circuit_closed",
            dag_id=None,
            integration=self.conn_id,
            error_class="CircuitOpen" if opened else None,
            error_kind="transient" if opened else None,
            message=message,
        )
        WebhookNotifier(webhook_conn_id=self.alert_conn_id or "", format="json").send(alert)
