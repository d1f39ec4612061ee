"""The one exception a request handler raises to answer with a JSON error."""

from __future__ import annotations

from collections.abc import Sequence


class ApiError(Exception):
    """Answer the request with ``status`` and ``{"error": {"type": ..., "message": ..., **details}}``.

    :param status: HTTP status code.
    :param error_type: machine-readable error type (``validation_error``, ``not_found``, ...).
    :param message: what went wrong, for people.
    :param headers: response headers to send with it.
    :param details: more members of the error object (``field``, ``existing_id``, ...).
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        **details: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)
        self.body: dict[str, object] = {"error": {"type": error_type, "message": message, **details}}


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming the field at fault."""
    return ApiError(422, "validation_error", message, field=field)


def not_found(message: str) -> ApiError:
    """A 404."""
    return ApiError(404, "not_found", message)
