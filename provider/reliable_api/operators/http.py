"""``ReliableHttpOperator``: ``HttpOperator`` whose deferrable mode keeps the shared limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.http.operators.http import HttpOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from requests import Response

    from reliable_api.triggers.http import ReliableHttpTrigger


class ReliableHttpOperator(HttpOperator):
    """``HttpOperator`` for ``reliable_http`` connections, every argument as there.

    Not deferrable, it is ``HttpOperator`` (whose hook is then :class:`ReliableHttpHook`).
    Deferrable, each request (each page of a ``pagination_function``) is sent in the triggerer
    by :class:`~reliable_api.triggers.http.ReliableHttpTrigger`, under the connection's shared
    limit. The stock ``HttpOperator`` on such a connection runs synchronously instead (ADR 0030).
    """

    def execute_async(self, context: Context) -> None:
        """Defer the first request to :class:`ReliableHttpTrigger`."""
        self.defer(
            trigger=self._trigger(endpoint=self.endpoint, data=self.data, headers=self.headers),
            method_name="execute_complete",
        )

    def paginate_async(
        self, context: Context, response: Response, previous_responses: list[Any] | None = None
    ) -> Any:
        """Defer the next page, as ``HttpOperator`` does, to :class:`ReliableHttpTrigger`.

        The pages so far travel serialized (``HttpResponseSerializer``): ``HttpOperator`` passes
        ``requests.Response`` objects in the deferral's kwargs, which Airflow 3.3 cannot serialize.
        """
        from airflow.providers.http.triggers.http import HttpResponseSerializer

        if not self.pagination_function:
            return self.process_response(context=context, response=response)
        earlier = [HttpResponseSerializer.deserialize(page) for page in previous_responses or []]
        responses = [*earlier, response]
        next_page = self.pagination_function(response)
        if not next_page:
            return self.process_response(context=context, response=responses)
        merged = self._merge_next_page_parameters(next_page)
        self.defer(
            trigger=self._trigger(
                endpoint=merged["endpoint"], data=merged["data"], headers=merged["headers"]
            ),
            method_name="execute_complete",
            kwargs={"paginated_responses": [HttpResponseSerializer.serialize(page) for page in responses]},
        )

    def _trigger(self, *, endpoint: str | None, data: Any, headers: dict[str, str]) -> ReliableHttpTrigger:
        from reliable_api.triggers.http import ReliableHttpTrigger

        return ReliableHttpTrigger(
            http_conn_id=self.http_conn_id, method=self.method, endpoint=endpoint, headers=headers, data=data
        )
