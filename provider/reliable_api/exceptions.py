"""The error taxonomy of the provider.

Every error the provider raises on purpose is a :class:`ReliableApiError`. Code decides what to do
with an error by its type, never by its message text::

    ReliableApiError (AirflowException)
    ├── TransientError            worth retrying with backoff
    │   ├── RateLimited           429, or the shared limiter paused; carries ``retry_after``
    │   ├── ServerError           5xx, 408, 425
    │   ├── NetworkError          timeouts, connection resets, truncated or unreadable bodies
    │   └── InFlightConflict      409: the idempotency key is being used by another request
    └── PermanentError            retrying cannot help: also an ``AirflowFailException``, so the
        │                         task fails at once, without its Airflow retries, and alerts
        ├── RecordRejected        this record only (400/404/422, failed validation): dead-lettered,
        │                         the task goes on
        ├── AuthenticationError   401/403: every record would fail, so the task fails and alerts
        ├── ConfigurationError    bad settings or connection; fails the task at once
        │   └── ContractError     a validation contract names something unknown or is malformed
        └── FailureBudgetExceeded the dead-lettered share of a batch passed ``max_failure_ratio``

HTTP errors carry the status code, the method, the URL with its secrets redacted, the attempt count
and the start of the API's error body.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

try:  # the class Airflow 3.2+'s task runner catches to fail a task without retries
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1: its task runner catches the one in airflow.exceptions
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

from reliable_api.core.redaction import redact_url

#: How much of an API's error body an exception keeps: enough to read the API's reason,
#: not so much that a huge HTML error page floods logs and alerts.
MAX_BODY_CHARS = 2000


def truncate_body(body: str | bytes | None, limit: int = MAX_BODY_CHARS) -> str | None:
    """Return ``body`` decoded and cut to ``limit`` characters, marking the cut."""
    if body is None:
        return None
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


class ReliableApiError(AirflowException):
    """Root of every error raised by the provider.

    :param message: what went wrong, in words a data engineer understands.
    :param status: the HTTP status code, when an API answered.
    :param method: the HTTP method of the failed request.
    :param url: the request URL; stored redacted, so it is safe to log and alert.
    :param attempts: how many times the request was sent before giving up.
    :param body: the API's error body; stored truncated to :data:`MAX_BODY_CHARS`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method.upper() if method else None
        self.url = redact_url(url) if url else None
        self.attempts = attempts
        self.body = truncate_body(body)
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message]
        if self.method or self.url:
            parts.append(f"request: {self.method or '?'} {self.url or '?'}")
        if self.status is not None:
            parts.append(f"status: {self.status}")
        if self.attempts is not None:
            parts.append(f"attempts: {self.attempts}")
        if self.body:
            parts.append(f"body: {self.body}")
        return "; ".join(parts)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling, which Airflow uses to
        # carry exceptions between processes (triggers, task runner).
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, object]:
        return {
            "status": self.status,
            "method": self.method,
            "url": self.url,
            "attempts": self.attempts,
            "body": self.body,
        }


def _rebuild(cls: type[ReliableApiError], message: str, state: dict[str, object]) -> ReliableApiError:
    return cls(message, **state)  # type: ignore[arg-type]


class TransientError(ReliableApiError):
    """A failure worth retrying: the same request may succeed later."""


class RateLimited(TransientError):
    """The API (429) or the shared limiter asked us to wait.

    :param retry_after: seconds to wait before the next request, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _state(self) -> dict[str, object]:
        return {**super()._state(), "retry_after": self.retry_after}


class ServerError(TransientError):
    """The API failed on its side (5xx, 408 Request Timeout, 425 Too Early)."""


class NetworkError(TransientError):
    """The request or its response was lost: timeout, reset, truncated or unreadable body."""


class InFlightConflict(TransientError):
    """409 for an idempotency key that another request is still using: retry after it finishes."""


class PermanentError(ReliableApiError, AirflowFailException):
    """A failure that retrying cannot fix.

    Being an ``AirflowFailException``, it fails the task at once on every supported Airflow
    release: the task runner skips the task's ``retries`` (and 3.3's ``retry_policy``) and runs
    its ``on_failure_callback``, so the failure still alerts. A :class:`RecordRejected` caught
    by an operator only dead-letters its record.
    """


class RecordRejected(PermanentError):
    """One record cannot be processed (400/404/422 or failed validation); it goes to the DLQ.

    :param record_key: the natural key of the rejected record, when known.
    :param reason: a short machine-friendly reason, e.g. ``"http_422"`` or ``"invalid_email"``.
    """

    def __init__(
        self,
        message: str,
        *,
        record_key: str | None = None,
        reason: str | None = None,
        **kwargs: object,
    ) -> None:
        self.record_key = record_key
        self.reason = reason
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _state(self) -> dict[str, object]:
        return {**super()._state(), "record_key": self.record_key, "reason": self.reason}


class AuthenticationError(PermanentError):
    """401/403: the credentials are wrong or lack permission; every record would fail."""


class ConfigurationError(PermanentError):
    """A setting, connection or argument is invalid; the message names which one."""


class ContractError(ConfigurationError):
    """A validation contract is malformed or names something unknown; the message names it and the file."""


class FailureBudgetExceeded(PermanentError):
    """Too large a share of a batch was dead-lettered: fail loudly instead of quietly.

    :param failed: records dead-lettered.
    :param total: records in the batch.
    :param max_failure_ratio: the budget that was exceeded.
    """

    def __init__(self, *, failed: int, total: int, max_failure_ratio: float) -> None:
        self.failed = failed
        self.total = total
        self.max_failure_ratio = max_failure_ratio
        share = failed / total if total else 1.0
        super().__init__(
            f"{failed} of {total} records ({share:.1%}) were dead-lettered, "
            f"more than max_failure_ratio={max_failure_ratio:.1%}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_budget,
            (self.failed, self.total, self.max_failure_ratio),
        )


def _rebuild_budget(failed: int, total: int, max_failure_ratio: float) -> FailureBudgetExceeded:
    return FailureBudgetExceeded(failed=failed, total=total, max_failure_ratio=max_failure_ratio)
