"""One API call under a connection's reliability settings, without Airflow.

:class:`ReliableClient` (requests) and :class:`AsyncReliableClient` (httpx, for triggers) send a
request the same way:

1. take a slot of the shared rate limit, or raise :class:`RateLimited` when the slot is further
   than ``defer_after`` (the operator then defers instead of sleeping);
2. send it with a connect and a read timeout, never without;
3. read what the API says of its limits (429, Retry-After, RateLimit headers) and tell the
   shared limiter, so one worker's 429 pauses every worker;
4. turn a failure into the taxonomy's error, retry the transient ones with backoff and jitter
   within a deadline, and raise the permanent ones at once.

The hooks build these clients from an Airflow connection; tests build them directly.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from reliable_api.core.redaction import redact_url
from reliable_api.exceptions import ConfigurationError, PermanentError, RateLimited
from reliable_api.http.classify import classify_exception, classify_status
from reliable_api.http.headers import parse_rate_limit_headers
from reliable_api.http.limiting import request_limit_key
from reliable_api.http.quota_headers import parse_quota_headers
from reliable_api.http.response_body import read_capped
from reliable_api.http.retry import RetryEvent, RetrySettings, build_async_retrying, build_retrying

if TYPE_CHECKING:
    import httpx
    import requests

    from reliable_api.exceptions import ReliableApiError
    from reliable_api.http.circuit_breaker import CircuitBreaker
    from reliable_api.http.settings import HttpSettings
    from reliable_api.throttle.limiter import SharedRateLimiter


log = logging.getLogger(__name__)


@dataclass
class RequestCounters:
    """What one client did, for run metrics: requests sent, 429s, retries, seconds throttled.

    ``deferred_seconds``: waits for a slot too long to sleep, handed to the triggerer instead
    (an exhausted quota, a long pause).
    """

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    deferred_seconds: float = 0.0
    #: The scarcest quota the API reported (vendor quota headers), for the quota burn check.
    quota_remaining: float | None = None
    quota_limit: float | None = None

    def note_quota(self, remaining: float, limit: float) -> None:
        """Keep the API's latest quota report; of several quotas, the scarcest (by share left)."""
        if limit <= 0:
            return
        known = self.quota_remaining is not None and self.quota_limit is not None
        if not known or remaining / limit <= (self.quota_remaining or 0) / (self.quota_limit or 1):
            self.quota_remaining, self.quota_limit = remaining, limit

    def as_dict(self) -> dict[str, float]:
        """A JSON-safe copy, e.g. for an operator's summary (quota fields only once reported)."""
        return {name: value for name, value in asdict(self).items() if value is not None}


class _Engine:
    """What both clients share: URLs, the limiter, the retry policy and the bookkeeping."""

    #: The connection's circuit breaker, shared by every worker (the hook sets it); ``None``: none.
    breaker: CircuitBreaker | None = None

    def __init__(
        self,
        base_url: str,
        settings: HttpSettings,
        *,
        limiter: SharedRateLimiter | None,
        rng: Callable[[], float],
        clock: Callable[[], float],
        counters: RequestCounters | None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.settings = settings
        self.limiter = limiter
        retry_settings = RetrySettings.from_http_settings(settings, deadline=settings.retry_deadline)
        # With a limiter, a 429 is retried at the limiter's next slot, not after a backoff.
        self.retry_settings = replace(retry_settings, paced=limiter is not None)
        self.counters = counters if counters is not None else RequestCounters()
        self._unreadable: set[str] = set()
        self._rng = rng
        self._clock = clock

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds: every request has both."""
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def url_for(self, endpoint: str) -> str:
        """The absolute URL of ``endpoint``; an absolute one must stay on the connection's host.

        :raises ConfigurationError: for an absolute URL on another scheme, host or port: the
            connection's credentials would go with it.
        """
        url = urljoin(self.base_url, endpoint.lstrip("/") if "://" not in endpoint else endpoint)
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise ConfigurationError(
                f"refusing to send the connection's credentials to {redact_url(url)}: "
                f"it is not on {redact_url(self.base_url)}"
            )
        return url

    def limiter_for(
        self, endpoint: str, params: Mapping[str, Any] | str | None, json: Any
    ) -> SharedRateLimiter | None:
        """The limiter this request counts against: the key's own when ``limit_key_field`` is set.

        :raises ConfigurationError: when the request lacks the key field (see
            :func:`~reliable_api.http.limiting.request_limit_key`).
        """
        field = self.settings.limit_key_field
        if self.limiter is None or not field:
            return self.limiter
        return self.limiter.for_key(request_limit_key(field, endpoint=endpoint, params=params, json=json))

    def take_slot(self, limiter: SharedRateLimiter | None, cost: float) -> None:
        """Wait for a slot of the shared limit, or raise :class:`RateLimited` to defer."""
        if limiter is None:
            return
        try:
            self.counters.throttled_seconds += limiter.acquire(max_wait=self.settings.defer_after, cost=cost)
        except RateLimited as wait:
            self.counters.deferred_seconds += wait.retry_after or 0.0
            raise

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        method: str,
        url: str,
        attempt: int,
        limiter: SharedRateLimiter | None,
    ) -> None:
        """Count the response, tell the limiter what the API said, raise the taxonomy's error."""
        self.counters.requests += 1
        if limiter is not None:
            self._report_quotas(limiter, headers)
        info = parse_rate_limit_headers(headers)
        error = classify_status(
            status,
            headers=headers,
            body=body,
            method=method,
            url=url,
            attempts=attempt,
            max_retry_after=self.settings.max_retry_after,
        )
        if isinstance(error, RateLimited):
            self.counters.rate_limited += status == 429
            if limiter is not None:
                limiter.on_rate_limited(error.retry_after, policy_interval=info.policy_interval)
        elif error is None and limiter is not None:
            limiter.on_success(
                policy_interval=info.policy_interval, remaining=info.remaining, reset_after=info.reset_after
            )
        if self.breaker is not None:
            self.breaker.record(error)
        if error is not None:
            raise error

    def send_retrying(
        self,
        send: Callable[[], requests.Response],
        *,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        limiter: SharedRateLimiter | None,
        cost: float,
        sleep: Callable[[float], None],
        return_rejections: bool = False,
    ) -> requests.Response:
        """Call ``send`` (one streamed requests attempt) under the limit and the breaker, with retries.

        What every synchronous request goes through: :class:`ReliableClient`'s and those of the
        transport adapter (:mod:`reliable_api.http.adapter`).

        :param return_rejections: return a response whose status is a permanent error (4xx)
            instead of raising it (``HttpHook``'s ``check_response=False``).
        :raises RateLimited: when the wait for a slot or the API's Retry-After passes ``defer_after``.
        :raises ReliableApiError: the taxonomy's error of the last attempt.
        """
        retrying = build_retrying(
            self.retry_settings,
            method=method,
            headers=headers,
            sleep=sleep,
            clock=self._clock,
            rng=self._rng,
            on_retry=self.count_retry,
        )
        for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                self.admit()
                self.take_slot(limiter, cost)
                try:
                    response = send()
                    body = read_capped(response, self.settings.max_response_bytes, attempts=number)
                except ConfigurationError:  # a body over max_response_bytes: no transport failure
                    raise
                except Exception as exc:  # every transport failure becomes a taxonomy error
                    error = classify_exception(exc, method=method, url=url, attempts=number)
                    raise self.transport_failed(error) from None
                try:
                    self.observe(
                        response.status_code,
                        response.headers,
                        body,
                        method=method,
                        url=url,
                        attempt=number,
                        limiter=limiter,
                    )
                except PermanentError:
                    if not return_rejections:
                        raise
                return response
        raise AssertionError("tenacity re-raises the last error")  # pragma: no cover

    def admit(self) -> None:
        """Raise :class:`~reliable_api.http.circuit_breaker.CircuitOpen` while the breaker is open."""
        if self.breaker is not None:
            self.breaker.admit()

    def transport_failed(self, error: ReliableApiError) -> ReliableApiError:
        """Count a transport failure (timeout, reset) against the breaker; return it to raise."""
        if self.breaker is not None:
            self.breaker.record(error)
        return error

    def count_retry(self, event: RetryEvent) -> None:
        self.counters.retries += 1

    def _report_quotas(self, limiter: SharedRateLimiter, headers: Mapping[str, str]) -> None:
        """Hand the API's own quota counts to the limiter; an unreadable header is logged once."""
        for report in parse_quota_headers(headers):
            if isinstance(report, ValueError):
                if str(report) not in self._unreadable:
                    self._unreadable.add(str(report))
                    log.warning("Ignoring an unreadable quota header (our own count holds): %s", report)
                continue
            limiter.on_quota(report.used, report.limit, report.period, source=report.source)
            self.counters.note_quota(max(0.0, report.limit - report.used), report.limit)


class ReliableClient(_Engine):
    """Send requests to one API through a ``requests.Session``.

    :param session: the session carrying the connection's auth and headers.
    :param base_url: the API's base URL; endpoints are relative to it.
    :param settings: the connection's reliability settings.
    :param limiter: the shared rate limiter, or ``None`` for no limit.
    :param sleep: how retries wait; tests pass one that records instead.
    :param clock: monotonic seconds, for the retry deadline.
    :param rng: random numbers in ``[0, 1)``, for the backoff jitter.
    :param counters: where to count; a fresh :class:`RequestCounters` by default.
    """

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        settings: HttpSettings,
        *,
        limiter: SharedRateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        counters: RequestCounters | None = None,
    ) -> None:
        super().__init__(base_url, settings, limiter=limiter, rng=rng, clock=clock, counters=counters)
        self.session = freeze_environment(session, base_url)
        self._sleep = sleep

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
        """Send one request under the limit with retries; return the successful response.

        :param cost: units of the rate limit this request takes (a bulk call may cost 10).

        :raises RateLimited: when the wait for a slot or the API's Retry-After passes
            ``defer_after``: defer and call again later.
        :raises ReliableApiError: the taxonomy's error of the last attempt.
        """
        method = method.upper()
        url = self.url_for(endpoint)

        def send() -> requests.Response:
            return self.session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=self.timeout,
                stream=True,
            )

        limiter = self.limiter_for(endpoint, params, json)
        return self.send_retrying(
            send, method=method, url=url, headers=headers, limiter=limiter, cost=cost, sleep=self._sleep
        )


def freeze_environment(session: requests.Session, base_url: str) -> requests.Session:
    """``session`` with what requests reads from the environment read once, for ``base_url``.

    With ``trust_env`` on, requests scans every environment variable for proxies (and checks
    ``NO_PROXY``), looks for a CA bundle and reads ``~/.netrc`` on every request: a fifth of a
    request's CPU in a profile here. A client talks to one host, so the answer cannot change
    between its requests: take it once, with requests' own precedence, and stop looking.
    """
    if not session.trust_env:
        return session
    from requests.utils import get_netrc_auth

    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies = found["proxies"]
    if session.verify is True:  # requests would let a CA bundle in the environment override
        session.verify = found["verify"]  # the connection's own bundle, or its verify=false
    session.cert = found["cert"]
    if session.auth is None:
        session.auth = get_netrc_auth(base_url)
    session.trust_env = False
    return session


class AsyncReliableClient(_Engine):
    """The same as :class:`ReliableClient` over ``httpx.AsyncClient``, for triggers.

    The limiter backends are synchronous: their calls run in a worker thread, so the
    triggerer's event loop never blocks on them.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        settings: HttpSettings,
        *,
        limiter: SharedRateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        counters: RequestCounters | None = None,
    ) -> None:
        super().__init__(base_url, settings, limiter=limiter, rng=rng, clock=clock, counters=counters)
        self.client = client

    async def request(
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
        """Send one request under the limit with retries; see :meth:`ReliableClient.request`.

        :param data: a form (a mapping) or a raw body (``str``/``bytes``), as requests takes it.
        """
        import httpx

        method = method.upper()
        url = self.url_for(endpoint)
        limiter = self.limiter_for(endpoint, params, json)
        retrying = build_async_retrying(
            self.retry_settings,
            method=method,
            headers=headers,
            clock=self._clock,
            rng=self._rng,
            on_retry=self.count_retry,
        )
        connect, read = self.timeout
        async for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                await asyncio.to_thread(self.admit)
                await asyncio.to_thread(self.take_slot, limiter, cost)
                try:
                    response = await self.client.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        data=data if isinstance(data, Mapping) else None,
                        content=data if isinstance(data, (str, bytes)) else None,
                        headers=headers,
                        timeout=httpx.Timeout(read, connect=connect),
                    )
                except Exception as exc:  # every transport failure becomes a taxonomy error
                    error = classify_exception(exc, method=method, url=url, attempts=number)
                    raise await asyncio.to_thread(self.transport_failed, error) from None
                await asyncio.to_thread(
                    self.observe,
                    response.status_code,
                    response.headers,
                    response.content,
                    method=method,
                    url=url,
                    attempt=number,
                    limiter=limiter,
                )
                return response
        raise AssertionError("tenacity re-raises the last error")  # pragma: no cover
