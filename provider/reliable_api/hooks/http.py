"""``ReliableHttpHook``: the http provider's ``HttpHook`` for ``reliable_http`` connections."""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs
from airflow.providers.http.hooks.http import HttpHook

from reliable_api.http.setting_fields import SETTING_NAMES
from reliable_api.http.settings import HttpSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection


def without_reliability_settings(conn: Connection) -> Connection:
    """Return a copy of ``conn`` whose extra lacks this provider's settings.

    ``HttpHook`` sends every extra key it does not know as an HTTP header: left in, a
    ``limiter_conn_id`` or ``rate_limit`` would be sent to the API on every request.
    """
    extra = conn.extra_dejson
    if not SETTING_NAMES & extra.keys():
        return conn
    remaining = {key: value for key, value in extra.items() if key not in SETTING_NAMES}
    return attrs.evolve(conn, extra=json.dumps(remaining) if remaining else None)


class ReliableHttpHook(HttpHook):
    """Interact with an HTTP API under the reliability settings of a ``reliable_http`` connection.

    Keeps what users know from ``HttpHook`` (base URL, auth, extra headers, ``run``) and reads
    the connection's reliability settings (rate limit, retries, timeouts) from its extra.

    :param method: the HTTP method of :meth:`run`.
    :param http_conn_id: the ``reliable_http`` connection.
    :param settings_overrides: per-hook overrides of the connection's settings, e.g.
        ``{"max_retries": 0}``; validated like the connection's own values.
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "reliable_http_default"
    conn_type = "reliable_http"
    hook_name = "Reliable HTTP"

    def __init__(
        self,
        method: str = "GET",
        http_conn_id: str = default_conn_name,
        *,
        settings_overrides: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(method=method, http_conn_id=http_conn_id, **kwargs)
        self.settings_overrides = dict(settings_overrides or {})

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """Return the connection without this provider's settings in its extra (see above)."""
        return without_reliability_settings(super().get_connection(conn_id))

    @cached_property
    def settings(self) -> HttpSettings:
        """The validated reliability settings of the connection, with the overrides applied.

        :raises ConfigurationError: naming the setting whose value is invalid.
        """
        raw = HttpHook.get_connection(self.http_conn_id)
        return HttpSettings.from_extra(raw.extra_dejson, **self.settings_overrides)

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> Any:
        """Send one request like ``HttpHook.run``, never without a connect and read timeout."""
        options = dict(extra_options or {})
        options.setdefault("timeout", (self.settings.connect_timeout, self.settings.read_timeout))
        return super().run(endpoint, data, headers, options, **request_kwargs)
