"""A task retry policy that follows the API (Airflow 3.3+ ``retry_policy=``).

Importing this module fails with ``ImportError`` on Airflow before 3.3, which has no retry
policies; operators import it inside ``try`` and go without it there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

from reliable_api.exceptions import PermanentError, RateLimited

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context


class ApiRetryPolicy(RetryPolicy):
    """Retry a task the way the API asks: after its Retry-After, never for a permanent error.

    - :class:`RateLimited` with a ``retry_after``: retry after exactly that long (capped at
      ``max_delay``), instead of the task's fixed ``retry_delay``;
    - permanent errors (authentication, configuration, failure budget): fail now, retries
      cannot help;
    - anything else: the task's own retry settings.

    :param max_delay: the longest retry delay the API may ask for, in seconds.
    """

    def __init__(self, max_delay: float = 3600.0) -> None:
        self.max_delay = max_delay

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        """Decide the retry of a failed try from the type of its exception."""
        if isinstance(exception, RateLimited) and exception.retry_after is not None:
            delay = min(max(exception.retry_after, 0.0), self.max_delay)
            return RetryDecision.retry(
                delay=timedelta(seconds=delay), reason=f"the API asked to wait {delay:.0f} s (Retry-After)"
            )
        if isinstance(exception, PermanentError):
            kind = type(exception).__name__
            return RetryDecision.fail(reason=f"{kind} is permanent: every retry would fail the same way")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        """JSON-safe form for DAG serialization."""
        return {"max_delay": self.max_delay}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ApiRetryPolicy:
        """Rebuild from :meth:`serialize` output."""
        return cls(max_delay=float(data["max_delay"]))
