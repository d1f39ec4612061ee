"""One alert when a quota of a connection is spent: which quota, how much used, when it reopens.

Every worker that meets the spent quota defers; only the one that wins the limiter's claim
(:meth:`~reliable_api.throttle.limiter.SharedRateLimiter.claim_alert`) alerts, once until the quota
reopens, to the connection's ``quota_alert_conn_id``. An alert never fails the request path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reliable_api.throttle.errors import QuotaExhausted
    from reliable_api.throttle.limiter import SharedRateLimiter

log = logging.getLogger(__name__)


def alert_quota_spent(
    spent: QuotaExhausted, limiter: SharedRateLimiter, *, conn_id: str, alert_conn_id: str | None
) -> bool:
    """Send the one alert of ``spent`` if this worker claims it; return whether it was sent."""
    from reliable_api.alerting.alert import Alert
    from reliable_api.notifications.webhook import WebhookNotifier

    log.warning("%s: tasks defer until it reopens", spent.message)
    try:
        if not alert_conn_id or not limiter.claim_alert(spent):
            return False
        alert = Alert(
            kind="quota_exhausted",
            dag_id=None,
            integration=conn_id,
            error_class="QuotaExhausted",
            error_kind="transient",
            message=(
                f"Quota {spent.quota} of connection {conn_id!r} is spent: {spent.used:.0f} of "
                f"{spent.capacity:g} used; it reopens in {spent.retry_after or 0:.0f} s. "
                "Tasks defer to the triggerer until then."
            ),
        )
        return WebhookNotifier(webhook_conn_id=alert_conn_id, format="json").send(alert)
    except Exception as error:  # an alert never fails the request path
        log.error("Quota alert for connection %r not sent: %s", conn_id, type(error).__name__)
        return False
