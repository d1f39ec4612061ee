"""``WebhookNotifier``: alerts posted to a Slack incoming webhook or any JSON webhook.

The URL comes from an Airflow connection only, read like the Slack provider's webhook hook does:
the password holds the secret part of the URL (``T000/B000/XXXX``) and the host the endpoint
(``https://hooks.slack.com/services`` when empty), or the password holds the whole URL. The URL of
a Slack webhook is itself a credential: it is never logged, and errors are logged without it.

Delivery goes through :class:`~reliable_api.http.client.ReliableClient` with the connection's
reliability settings (``rate_limit``, retries, timeouts in its extra), defaulting to few retries
and short timeouts: a notifier reports on a failing task and must never fail or hang it.

Each webhook is paced at one message per second by default (Slack's limit for a webhook, which
posts to one channel), shared by every process through the connection's ``limiter_backend``
(``sqlite`` by default: the machine's processes); set ``rate_limit`` in the extra to change it, or
to ``""`` for none. Where that backend cannot be used (``sqlite`` under a distributed executor),
pacing falls back to this process, with a warning, rather than losing the alert. A storm of more
than ``defer_after`` (10) alerts a second waits no longer: the rest are logged as not delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from airflow.sdk import BaseNotifier

from reliable_api.exceptions import ConfigurationError, ReliableApiError

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

    from reliable_api.alerting.alert import Alert
    from reliable_api.hooks.http import ReliableHttpHook
    from reliable_api.throttle.limiter import SharedRateLimiter

log = logging.getLogger(__name__)

#: The context key under which the callback factories hand a built alert to notifiers.
ALERT_CONTEXT_KEY = "alert"
#: Where the endpoint of a Slack webhook connection lives when its host is empty.
SLACK_WEBHOOK_ENDPOINT = "https://hooks.slack.com/services"
#: Delivery settings unless the connection's extra sets them: a few quick tries, then give up.
DELIVERY_DEFAULTS: Mapping[str, Any] = {
    "rate_limit": "1/s",
    "max_retries": 2,
    "backoff_base": 0.5,
    "backoff_cap": 5.0,
    "connect_timeout": 5.0,
    "read_timeout": 10.0,
    "retry_deadline": 30.0,
    "defer_after": 10.0,
    "max_retry_after": 30.0,
}

Format = Literal["slack", "json"]


class WebhookNotifier(BaseNotifier):
    """Post an alert about the failure in the context to a webhook; never raises.

    Use it as a callback (``on_failure_callback=WebhookNotifier(...)``), or through the factories
    of :mod:`reliable_api.alerting.callbacks`, which add storm grouping and the DLQ count.

    :param webhook_conn_id: the connection holding the webhook URL (see the module docstring).
    :param format: ``"slack"`` for Slack's incoming-webhook format (blocks and a ``text``
        fallback, trimmed to Slack's limits), ``"json"`` for the alert as a flat JSON object.
    :param settings_overrides: delivery settings that win over the connection's and the
        defaults in :data:`DELIVERY_DEFAULTS`, e.g. ``{"max_retries": 0}``.
    :param context: set by Airflow when it builds the notifier itself, e.g. as the
        ``AsyncCallback`` of a Deadline Alert.
    """

    template_fields: Sequence[str] = ("webhook_conn_id",)

    def __init__(
        self,
        *,
        webhook_conn_id: str = "reliable_api_webhook",
        format: Format = "slack",
        settings_overrides: Mapping[str, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if format not in ("slack", "json"):
            raise ConfigurationError(f"format must be 'slack' or 'json', got {format!r}")
        super().__init__(context=context)
        self.webhook_conn_id = webhook_conn_id
        self.format: Format = format
        self.settings_overrides = dict(settings_overrides or {})

    def notify(self, context: Context) -> None:
        """Send the alert of ``context`` (the factories' ``context["alert"]``, else built from it)."""
        self.send(self._alert(context))

    async def async_notify(self, context: Context) -> None:
        """Send from the triggerer: the blocking delivery runs in a worker thread."""
        await asyncio.to_thread(self.notify, context)

    def send(self, alert: Alert) -> bool:
        """Post ``alert``; return whether the webhook accepted it.

        Every failure (missing connection, bad settings, a receiver answering 5xx or timing out
        after the bounded retries, a rejected payload) is logged with its reason, never raised.
        """
        from reliable_api.notifications.payloads import json_payload, slack_payload

        payload = slack_payload(alert) if self.format == "slack" else json_payload(alert)
        if payload.trimmed:
            log.warning(
                "Alert trimmed to fit Slack's limits (%s): %s", ", ".join(payload.trimmed), alert.title
            )
        try:
            self._post(payload.body)
        except ReliableApiError as error:
            log.error(
                "Alert not delivered to webhook connection %r: %s: %s (status %s, %s attempt(s)): %s",
                self.webhook_conn_id,
                type(error).__name__,
                error.message,
                error.status,
                error.attempts or 1,
                alert.title,
            )
            return False
        except Exception as error:  # a notifier never fails the task it reports on
            log.error(
                "Alert not delivered to webhook connection %r: unexpected %s: %s",
                self.webhook_conn_id,
                type(error).__name__,
                alert.title,
            )
            return False
        log.info("Alert delivered to webhook connection %r: %s", self.webhook_conn_id, alert.title)
        return True

    def _alert(self, context: Mapping[str, Any]) -> Alert:
        from reliable_api.alerting.alert import Alert, alert_from_context

        given = context.get(ALERT_CONTEXT_KEY)
        if isinstance(given, Alert):
            return given
        # Used directly as a callback: a Deadline Alert's context has "deadline", a DAG
        # callback's has "reason"; a task's has neither.
        if "deadline" in context:
            return alert_from_context(context, "deadline_missed")
        return alert_from_context(context, "dag_failure" if "reason" in context else "task_failure")

    def _post(self, body: dict[str, Any]) -> None:
        """POST ``body`` to the connection's webhook under its reliability settings.

        :raises ReliableApiError: the taxonomy's error of the last attempt; a
            :class:`ConfigurationError` for a missing connection or one without a URL.
        """
        import requests

        from reliable_api.connections import find_connection
        from reliable_api.hooks.http import ReliableHttpHook
        from reliable_api.http.client import ReliableClient

        conn = find_connection(self.webhook_conn_id)
        if conn is None:
            raise ConfigurationError(f"the webhook connection {self.webhook_conn_id!r} does not exist")
        url = webhook_url(conn)
        defaults = {name: value for name, value in DELIVERY_DEFAULTS.items() if name not in conn.extra_dejson}
        # The hook gives the connection's validated settings and its shared rate limit, if any.
        hook = ReliableHttpHook(
            method="POST",
            http_conn_id=self.webhook_conn_id,
            limit_key="alerts",
            settings_overrides={**defaults, **self.settings_overrides},
        )
        parts = urlsplit(url)
        # The key makes the POST safe to retry: a receiver that dedupes sees one alert.
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with requests.Session() as session, hidden_in_logs(url, parts.path):
            client = ReliableClient(
                session, f"{parts.scheme}://{parts.netloc}", hook.settings, limiter=self._limiter(hook)
            )
            client.request("POST", url, json=body, headers={"Idempotency-Key": key})

    def _limiter(self, hook: ReliableHttpHook) -> SharedRateLimiter | None:
        """The webhook's shared limiter, or this process's when its backend cannot be used."""
        try:
            return hook.limiter
        except ConfigurationError as error:
            from reliable_api.http.limiting import build_limiter
            from reliable_api.throttle.factory import process_memory_backend

            log.warning(
                "Pacing webhook connection %r in this process only: %s", self.webhook_conn_id, error.message
            )
            return build_limiter(hook.settings, process_memory_backend(), f"{self.webhook_conn_id}:alerts")


def webhook_url(conn: Connection) -> str:
    """The webhook URL of ``conn``, as the Slack provider's webhook hook reads it.

    The password is the whole URL when it contains ``://``; else it is the secret path, appended
    to the host (``{schema or https}://{host}`` when the host has no scheme; Slack's endpoint when
    there is no host).

    :raises ConfigurationError: when the password is empty or the URL is not an http(s) URL.
    """
    from airflow.sdk.log import mask_secret

    secret = (conn.password or "").strip()
    if not secret:
        raise ConfigurationError(
            f"the webhook connection {conn.conn_id!r} has no password: put the webhook URL, or its "
            "secret path under the host, in the password field"
        )
    if "://" in secret:
        url = secret
    else:
        base = conn.host or SLACK_WEBHOOK_ENDPOINT
        if "://" not in base:
            base = f"{conn.schema or 'https'}://{base}"
        url = base.rstrip("/") + "/" + secret.lstrip("/")
    mask_secret(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"the webhook connection {conn.conn_id!r} does not give an http(s) URL")
    return url


#: Loggers that write request URLs: the retry log of :mod:`reliable_api.http.retry` and urllib3's
#: debug log. A webhook URL is a secret, so they see it only redacted.
URL_LOGGERS = ("reliable_api.http.retry", "urllib3.connectionpool")


class _Redact(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = sorted(secrets, key=len, reverse=True)  # the URL before its own path

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


@contextmanager
def hidden_in_logs(*secrets: str) -> Iterator[None]:
    """While inside, :data:`URL_LOGGERS` write ``***`` in place of each of ``secrets``.

    Airflow's secrets masker does the same in task logs; this covers every other handler.
    """
    redact = _Redact([secret for secret in secrets if len(secret) > 1])
    loggers = [logging.getLogger(name) for name in URL_LOGGERS]
    for logger in loggers:
        logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redact)
