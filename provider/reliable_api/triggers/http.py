"""``ReliableHttpTrigger``: the http provider's ``HttpTrigger``, sent under a connection's shared limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.http.triggers.http import HttpResponseSerializer, HttpTrigger
from airflow.triggers.base import TriggerEvent

if TYPE_CHECKING:
    import httpx
    import requests


class ReliableHttpTrigger(HttpTrigger):
    """Send ``HttpTrigger``'s one request with :class:`~reliable_api.hooks.http.ReliableHttpAsyncHook`.

    Same arguments and events as ``HttpTrigger`` (so ``HttpOperator.execute_complete`` reads
    them), but the request takes a slot of the connection's shared limit, passes its breaker and
    retries, and the connection's settings are never sent as headers. The connection's auth
    applies (``auth_type`` is kept for the event's shape only); ``extra_options`` are not
    supported: the connection's settings govern timeouts and retries.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``HttpTrigger``'s arguments, under this class's path."""
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Send the request; yield ``HttpTrigger``'s success event, or its error event naming why."""
        from reliable_api.hooks.http import ReliableHttpAsyncHook

        hook = ReliableHttpAsyncHook(method=self.method, http_conn_id=self.http_conn_id)
        method = self.method.upper()
        query = method in ("GET", "HEAD")
        try:
            answer = await hook.arequest(
                method,
                self.endpoint or "",
                params=self.data if query and isinstance(self.data, Mapping) else None,
                data=None if query else self.data,
                headers=self.headers,
            )
        except Exception as error:  # HttpOperator.execute_complete raises it on the worker
            yield TriggerEvent({"status": "error", "message": f"{type(error).__name__}: {error}"})  # type: ignore[no-untyped-call]
            return
        serialized = HttpResponseSerializer.serialize(_as_requests_response(answer))
        yield TriggerEvent({"status": "success", "response": serialized})  # type: ignore[no-untyped-call]


def _as_requests_response(answer: httpx.Response) -> requests.Response:
    """The ``requests.Response`` that ``HttpResponseSerializer`` carries to the worker."""
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = answer.status_code
    response._content = answer.content
    response.headers = CaseInsensitiveDict(answer.headers)
    response.url = str(answer.url)
    response.reason = answer.reason_phrase
    response.encoding = answer.encoding
    return response
