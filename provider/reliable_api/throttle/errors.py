"""The errors a limiter backend raises when its store fails, in the provider's taxonomy."""

from __future__ import annotations

from reliable_api.exceptions import ConfigurationError, TransientError


def unreachable(backend: str, where: str, error: BaseException) -> ConfigurationError:
    """The backend cannot be used at all (set-up): every request of the task would fail.

    :param where: the redacted URL or the path of the store.
    """
    return ConfigurationError(f"limiter backend {backend} at {where} is unreachable: {error}")


def failed(backend: str, where: str, error: BaseException) -> TransientError:
    """The store failed after it worked (restart, network loss, lock timeout): worth retrying.

    :param where: the redacted URL or the path of the store.
    """
    return TransientError(f"limiter backend {backend} at {where} failed: {error}")
