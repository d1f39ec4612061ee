"""The errors a limiter backend raises when its store fails, in the provider's taxonomy."""

from __future__ import annotations

from reliable_api.exceptions import ConfigurationError, RateLimited, TransientError


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


class QuotaExhausted(RateLimited):
    """A window of the limit (a quota such as ``100000/d``) has no room until it reopens.

    Raised by the limiter instead of sleeping when the wait passes the caller's ``max_wait``
    and a window other than the pacing one binds: the operator defers to the triggerer, and an
    alert names the quota.

    :param quota: the window, as :func:`~reliable_api.throttle.windows.describe` names it.
    :param used: units counted in it now.
    :param capacity: units it allows.
    :param window: its index among the limit's windows.
    """

    def __init__(
        self,
        message: str,
        *,
        quota: str = "",
        used: float = 0.0,
        capacity: float = 0.0,
        window: int = 0,
        **kwargs: object,
    ) -> None:
        self.quota = quota
        self.used = used
        self.capacity = capacity
        self.window = window
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _state(self) -> dict[str, object]:
        state = {"quota": self.quota, "used": self.used, "capacity": self.capacity, "window": self.window}
        return {**super()._state(), **state}
