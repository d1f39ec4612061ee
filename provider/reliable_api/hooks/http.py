"""``ReliableHttpHook``: the http provider's ``HttpHook`` for ``reliable_http`` connections."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs
from airflow.providers.http.hooks.http import HttpHook

from reliable_api.defaults import STATE_CONN_ID
from reliable_api.hooks.connection_checks import check_connection, connection_extra
from reliable_api.http.setting_fields import SETTING_NAMES
from reliable_api.http.settings import HttpSettings

if TYPE_CHECKING:
    import httpx
    import requests
    from airflow.sdk import Connection

    from reliable_api.http.circuit_breaker import CircuitBreaker
    from reliable_api.http.client import ReliableClient, RequestCounters
    from reliable_api.http.pagination import Page, Paginator
    from reliable_api.throttle.base import LimiterBackend
    from reliable_api.throttle.errors import QuotaExhausted
    from reliable_api.throttle.limiter import SharedRateLimiter

#: Where the ``redis`` limiter backend lives when the connection names no ``limiter_conn_id``
#: (the ``postgres`` one lives in the state DB).
DEFAULT_REDIS_CONN_ID = "redis_default"


def without_reliability_settings(conn: Connection) -> Connection:
    """Return a copy of ``conn`` whose extra lacks this provider's settings.

    ``HttpHook`` sends every extra key it does not know as an HTTP header: left in, a
    ``limiter_conn_id`` or ``rate_limit`` would be sent to the API on every request.
    """
    extra = connection_extra(conn)  # not extra_dejson: it hands "10/s" to the secret masker
    if not SETTING_NAMES & extra.keys():
        return conn
    remaining = {key: value for key, value in extra.items() if key not in SETTING_NAMES}
    new_extra = json.dumps(remaining) if remaining else None
    if attrs.has(type(conn)):
        return attrs.evolve(conn, extra=new_extra)
    # Airflow 3.1 outside a task (tests, the API server) gives its ORM model, not the SDK's attrs class.
    return type(conn)(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        description=conn.description,
        host=conn.host,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        port=conn.port,
        extra=new_extra,
    )


class ReliableHttpHook(HttpHook):
    """Call an HTTP API under the reliability settings of a ``reliable_http`` connection.

    Keeps what users know from ``HttpHook`` (base URL, auth, extra headers, ``run``) and adds
    what it lacks: one rate limit shared by every worker (``rate_limit``, ``limiter_backend``),
    adaptive to 429s and RateLimit headers; retries of transient failures only, with backoff and
    jitter; timeouts always; errors from the provider's taxonomy instead of a bare
    ``AirflowException``. A wait longer than ``defer_after`` raises
    :class:`~reliable_api.exceptions.RateLimited` so that an operator can defer.

    :param method: the HTTP method of :meth:`run`.
    :param http_conn_id: the ``reliable_http`` connection.
    :param limit_key: which limit of the connection requests count against; endpoints with
        their own limits get their own key.
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
        limit_key: str = "default",
        settings_overrides: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(method=method, http_conn_id=http_conn_id, **kwargs)
        self.limit_key = limit_key
        self.settings_overrides = dict(settings_overrides or {})
        self._check_response = True  # run()'s extra_options["check_response"], for the adapter

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """Return the connection without this provider's settings in its extra (see above)."""
        conn = super().get_connection(conn_id)
        check_connection(conn)
        return without_reliability_settings(conn)

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """``HttpHook``'s session, sending through :class:`~reliable_api.http.adapter.ReliableAdapter`.

        Whatever ``HttpHook`` builds on it (``run``, ``HttpOperator`` and its
        ``pagination_function``) then takes the shared limit, with retries and timeouts.
        """
        from reliable_api.http.adapter import ReliableAdapter

        session = self._session(headers, extra_options)
        adapter = ReliableAdapter(
            session.get_adapter(self.base_url),  # HttpHook's own (TCP keep-alive) sends
            self.base_url,
            self.settings,
            limiter=self.limiter,
            counters=self.counters,
        )
        adapter.engine.breaker = self.breaker
        adapter.check_response = self._check_response
        session.mount(self.base_url.split("://")[0] + "://", adapter)
        return session

    def _session(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """``HttpHook``'s session with the connection's auth, TLS verification on unless turned off.

        Off, a warning names the connection (see :mod:`reliable_api.http.tls`).
        """
        from reliable_api.hooks.oauth2 import connection_auth
        from reliable_api.http.tls import tls_verification

        session = super().get_conn(headers, extra_options)
        session.verify = tls_verification(session.verify, self.http_conn_id, self.log)
        session.auth = connection_auth(self.http_conn_id, self.settings) or session.auth
        return session

    @cached_property
    def settings(self) -> HttpSettings:
        """The validated reliability settings of the connection, with the overrides applied.

        :raises ConfigurationError: naming the setting whose value is invalid.
        """
        raw = HttpHook.get_connection(self.http_conn_id)
        check_connection(raw)
        return HttpSettings.from_extra(connection_extra(raw), **self.settings_overrides)

    @cached_property
    def client(self) -> ReliableClient:
        """The client that sends every request of this hook (built on first use)."""
        from reliable_api.http.client import ReliableClient

        client = ReliableClient(
            self._session(), self.base_url, self.settings, limiter=self.limiter, counters=self.counters
        )
        client.breaker = self.breaker
        return client

    @cached_property
    def breaker(self) -> CircuitBreaker | None:
        """The connection's circuit breaker, shared by every worker; ``None`` unless configured."""
        from reliable_api.hooks.breaker import connection_breaker

        return connection_breaker(self.http_conn_id, self.settings)

    @cached_property
    def limiter(self) -> SharedRateLimiter | None:
        """The shared limiter of ``(connection, limit_key)``; ``None`` without a ``rate_limit``."""
        from reliable_api.http.limiting import build_limiter

        if self.settings.rate_limit is None:
            return None
        return build_limiter(self.settings, self._limiter_backend(), f"{self.http_conn_id}:{self.limit_key}")

    @cached_property
    def counters(self) -> RequestCounters:
        """Requests, 429s, retries and seconds throttled so far, by every path, for run metrics."""
        from reliable_api.http.client import RequestCounters

        return RequestCounters()

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> Any:
        """``HttpHook.run``, every argument as there: ``data`` is the query of a GET, else the body.

        Sent through :meth:`get_conn`'s adapter: rate-limited, retried and classified (see the
        class docstring). ``extra_options`` are ``HttpHook``'s (``timeout`` replaces the
        connection's timeouts for this call; with ``check_response: False`` a 4xx answer is
        returned rather than raised; transient failures are still retried, then raised).

        :raises RateLimited: when the wait passes ``defer_after``; defer and call again.
        :raises QuotaExhausted: as :meth:`request` does, with its one alert.
        :raises ReliableApiError: the taxonomy's error of the last attempt.
        """
        import requests

        from reliable_api.http.classify import classify_exception

        self._check_response = bool((extra_options or {}).get("check_response", True))
        try:
            with self._alert_when_quota_spent():
                return super().run(endpoint, data, headers, extra_options, **request_kwargs)
        except requests.RequestException as exc:  # raised by the session around the adapter:
            # a redirect loop (TooManyRedirects) never reaches the adapter's classification
            url = exc.request.url if exc.request is not None else None
            raise classify_exception(exc, method=self.method, url=url, attempts=None) from None
        finally:
            self._check_response = True

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | str | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        cost: float = 1.0,
    ) -> requests.Response:
        """Send one ``method`` request to ``endpoint`` (relative to the connection's base URL).

        :param cost: units of the rate limit it takes (a bulk call may cost more than one).
        :raises QuotaExhausted: when a quota is spent past ``defer_after``: defer and call again
            (one alert goes to ``quota_alert_conn_id``, see :mod:`reliable_api.hooks.quota_alert`).
        """
        with self._alert_when_quota_spent():
            return self.client.request(
                method, endpoint, params=params, json=json, data=data, headers=headers, cost=cost
            )

    @contextmanager
    def _alert_when_quota_spent(self) -> Iterator[None]:
        """Re-raise a :class:`QuotaExhausted` after its one alert to ``quota_alert_conn_id``."""
        from reliable_api.throttle.errors import QuotaExhausted

        try:
            yield
        except QuotaExhausted as spent:
            self._alert_quota_spent(spent)
            raise

    def _alert_quota_spent(self, spent: QuotaExhausted) -> None:
        from reliable_api.hooks.quota_alert import alert_quota_spent

        if self.limiter is not None:
            alert_quota_spent(
                spent,
                self.limiter,
                conn_id=self.http_conn_id,
                alert_conn_id=self.settings.quota_alert_conn_id,
            )

    def paginate(
        self,
        endpoint: str,
        paginator: Paginator,
        *,
        params: Mapping[str, str] | None = None,
        records_path: str | None = "data",
        state: Mapping[str, Any] | None = None,
    ) -> Iterator[Page]:
        """Walk the pages of ``endpoint``; each :class:`Page` carries the ``state`` to resume after it.

        :raises ConfigurationError: for a next URL on another host than the connection's (the
            credentials would go with it), a paginator that loops, or a body without records.
        """
        from reliable_api.http.classify import parse_json_body
        from reliable_api.http.pagination import PageRequest, PageResponse, iter_pages

        def fetch(request: PageRequest) -> PageResponse:
            response = self.request(
                "GET", request.url or endpoint, params=None if request.url else request.params
            )
            return PageResponse(url=response.url, body=parse_json_body(response), headers=response.headers)

        base = self.client.base_url
        return iter_pages(
            fetch, paginator, base_url=base, params=params, records_path=records_path, state=state
        )

    def _limiter_backend(self) -> LimiterBackend:
        from reliable_api.core.connection_urls import postgres_url, redis_url
        from reliable_api.throttle.factory import make_backend

        backend = self.settings.limiter_backend
        if backend in ("memory", "sqlite"):
            return make_backend(backend)
        default = DEFAULT_REDIS_CONN_ID if backend == "redis" else STATE_CONN_ID
        conn = HttpHook.get_connection(self.settings.limiter_conn_id or default)
        return make_backend(backend, url=redis_url(conn) if backend == "redis" else postgres_url(conn))


class ReliableHttpAsyncHook(ReliableHttpHook):
    """The async twin of :class:`ReliableHttpHook`, for triggers: same connection, same rules.

    Requests go through :class:`~reliable_api.http.client.AsyncReliableClient` (httpx), under the
    same shared limit as the synchronous hook's workers; :attr:`counters` add up every call.
    """

    @cached_property
    def async_counters(self) -> RequestCounters:
        """Requests, 429s, retries and seconds throttled by :meth:`arequest` so far."""
        from reliable_api.http.client import RequestCounters

        return RequestCounters()

    async def arequest(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cost: float = 1.0,
    ) -> httpx.Response:
        """Send one request under the limit with retries; see :meth:`ReliableHttpHook.request`.

        :param cost: units of the rate limit it takes (a bulk call may cost more than one).
        :raises QuotaExhausted: when a quota is spent past ``defer_after``, after its one alert
            (sent from a thread: the alert's webhook call must not block the triggerer's loop).
        """
        import httpx
        from requests.auth import HTTPBasicAuth

        from reliable_api.http.client import AsyncReliableClient
        from reliable_api.throttle.errors import QuotaExhausted

        session = self.get_conn()  # the connection's auth and headers, as the sync hook sends them
        auth = (
            (session.auth.username, session.auth.password)
            if isinstance(session.auth, HTTPBasicAuth)
            else None
        )
        default_headers = {name: str(value) for name, value in session.headers.items()}
        # A CA bundle path is a context for httpx.
        bundle = session.verify
        verify = ssl.create_default_context(cafile=bundle) if isinstance(bundle, str) else bundle is not False
        async with httpx.AsyncClient(auth=auth, headers=default_headers, verify=verify) as client:
            engine = AsyncReliableClient(
                client, self.base_url, self.settings, limiter=self.limiter, counters=self.async_counters
            )
            engine.breaker = self.breaker
            try:
                return await engine.request(
                    method, endpoint, params=params, json=json, data=data, headers=headers, cost=cost
                )
            except QuotaExhausted as spent:
                await asyncio.to_thread(self._alert_quota_spent, spent)
                raise
