"""A requests transport adapter that sends every request under a connection's reliability settings.

``HttpHook`` (and so ``HttpOperator``, its ``pagination_function`` and anything else built on
``HttpHook.run``) sends through the adapters mounted on the session it builds. Mounted there,
:class:`ReliableAdapter` gives each of those requests what :class:`~reliable_api.http.client.
ReliableClient` gives its own: a slot of the shared rate limit, the circuit breaker, a connect
and a read timeout, a capped body, what the API says of its limits told to the limiter, and
retries of transient failures only. Redirects pass through it hop by hop, so each hop takes a slot.

It wraps the adapter ``HttpHook`` would have mounted (TCP keep-alive, or the caller's own), so
socket options and connection pooling stay as they were.
"""

from __future__ import annotations

import json as jsonlib
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from requests.adapters import BaseAdapter

from reliable_api.http.client import _Engine

if TYPE_CHECKING:
    import requests

    from reliable_api.http.client import RequestCounters
    from reliable_api.http.settings import HttpSettings
    from reliable_api.throttle.limiter import SharedRateLimiter

Timeout = float | tuple[float, float] | tuple[float, None] | None


class ReliableAdapter(BaseAdapter):
    """Send through ``inner`` with the shared limit, the breaker, timeouts and retries.

    :param inner: the adapter that does the sending (``HttpHook``'s keep-alive one by default).
    :param base_url: the connection's base URL: a request to another host is refused, since the
        connection's credentials would go with it.
    :param settings: the connection's reliability settings.
    :param limiter: the shared limiter, or ``None`` for no limit.
    :param counters: where to count requests, 429s and retries (the hook's, for run metrics).
    :param sleep: how retries wait; tests pass one that records instead.
    """

    #: ``False`` while a caller asked for error responses back (``HttpHook``'s
    #: ``check_response=False``): a permanent error status is returned instead of raised.
    check_response: bool = True

    def __init__(
        self,
        inner: BaseAdapter,
        base_url: str,
        settings: HttpSettings,
        *,
        limiter: SharedRateLimiter | None,
        counters: RequestCounters | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.engine = _Engine(
            base_url, settings, limiter=limiter, rng=random.random, clock=time.monotonic, counters=counters
        )
        self._sleep = sleep

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` under the limit with retries; return the successful response.

        ``timeout`` is the caller's when given (``HttpHook``'s ``extra_options["timeout"]``),
        else the connection's connect and read timeouts: never none.

        :raises RateLimited: when the wait for a slot or the API's Retry-After passes ``defer_after``.
        :raises ReliableApiError: the taxonomy's error of the last attempt.
        """
        engine = self.engine
        method = (request.method or "GET").upper()
        url = engine.url_for(request.url or "")
        endpoint = url.removeprefix(engine.base_url.rstrip("/"))  # path.<n> counts from the base URL
        limiter = engine.limiter_for(endpoint, _query(url), _json_body(request))
        return engine.send_retrying(
            lambda: self.inner.send(
                request,
                stream=True,
                timeout=engine.timeout if timeout is None else timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            ),
            method=method,
            url=url,
            headers=request.headers,
            limiter=limiter,
            cost=1.0,
            sleep=self._sleep,
            return_rejections=not self.check_response,
        )

    def close(self) -> None:
        """Close the wrapped adapter's connection pools."""
        self.inner.close()


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _json_body(request: requests.PreparedRequest) -> Any:
    """The JSON body of ``request`` (for ``limit_key_field = json.<name>``), else ``None``."""
    if "json" not in request.headers.get("Content-Type", "") or not request.body:
        return None
    try:
        return jsonlib.loads(request.body)
    except ValueError:
        return None
