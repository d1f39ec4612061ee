"""A circuit breaker per connection, shared by every worker: stop sending into an outage.

States, in the connection's shared state (:mod:`reliable_api.http.shared_state`):

- ``closed``: requests go. Each attempt's outcome is counted; the breaker *opens* after
  ``failures`` consecutive transient failures (5xx, timeouts, resets; not 429, which the rate
  limiter handles, nor 4xx), or when at least ``min_requests`` attempts in the last ``window``
  seconds failed at more than ``error_ratio``.
- ``open``: no request goes for ``open_seconds``. :meth:`CircuitBreaker.admit` raises
  :class:`CircuitOpen`, a :class:`~reliable_api.exceptions.RateLimited` whose wait is the time
  left, so callers treat it as any long wait: an operator defers to the triggerer instead of
  retrying into the outage.
- ``half_open``: once ``open_seconds`` have passed, one worker's request is the probe (a lease
  of ``probe_seconds``; a probe that never reports is replaced after it). Success closes the
  breaker, failure opens it again for ``open_seconds``.

Exactly one worker sees each opening and each closing (every change is one atomic update of the
shared state), so ``on_change`` is called once per outage when it opens and once when it closes,
never for a failed probe: one alert each. The transitions are pure functions of the state, the
time and the outcome, tested without a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import ConfigurationError, NetworkError, RateLimited, ServerError

if TYPE_CHECKING:
    from reliable_api.http.shared_state import SharedState, State

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
#: Outcomes kept for the error ratio, at most (the oldest go first).
MAX_EVENTS = 200


class CircuitOpen(RateLimited):
    """The connection's circuit breaker is open: no request is sent until ``retry_after`` passes."""


@dataclass(frozen=True)
class BreakerSettings:
    """When a connection's breaker opens, and for how long (the connection's ``breaker_*`` settings).

    :param failures: consecutive transient failures that open it; 0: never by count.
    :param error_ratio: the failed share of recent attempts that opens it; 0: never by ratio.
    :param window: seconds of attempts the ratio looks at.
    :param min_requests: attempts in the window before the ratio counts.
    :param open_seconds: how long it stays open before a probe.
    :param probe_seconds: how long one probe may take before another worker probes instead.
    :raises ConfigurationError: naming the setting out of range.
    """

    failures: int = 10
    error_ratio: float = 0.0
    window: float = 60.0
    min_requests: int = 20
    open_seconds: float = 60.0
    probe_seconds: float = 30.0

    def __post_init__(self) -> None:
        checks = {
            "failures": (0, 10_000, int),
            "error_ratio": (0.0, 1.0, float),
            "window": (1.0, 86_400.0, float),
            "min_requests": (1, 1_000_000, int),
            "open_seconds": (0.1, 86_400.0, float),
            "probe_seconds": (0.1, 3_600.0, float),
        }
        for name, (low, high, kind) in checks.items():
            value = getattr(self, name)
            wrong_type = isinstance(value, bool) or not isinstance(
                value, (int, float) if kind is float else int
            )
            if wrong_type or not low <= value <= high:
                raise ConfigurationError(
                    f"breaker_{name} must be {'an integer' if kind is int else 'a number'} between "
                    f"{low:g} and {high:g}, got {value!r}"
                )


def _closed() -> State:
    return {"mode": CLOSED, "failures": 0, "events": []}


def admit(state: State | None, now: float, settings: BreakerSettings) -> tuple[float, State | None]:
    """Whether a request may go: ``(0, state)`` to send it, else ``(seconds to wait, state)``.

    Open past ``open_seconds``, or half open with the probe's lease gone: this request becomes
    the probe.
    """
    if state is None or state["mode"] == CLOSED:
        return 0.0, None
    until = state["open_until"] if state["mode"] == OPEN else state["probe_until"]
    if now < until:
        return until - now, None
    return 0.0, {**state, "mode": HALF_OPEN, "probe_until": now + settings.probe_seconds}


def record(
    state: State | None, now: float, ok: bool, settings: BreakerSettings
) -> tuple[str | None, State | None]:
    """Count one attempt's outcome; return ``("opened" | "closed" | None, new state)``."""
    state = state or _closed()
    mode = state["mode"]
    if mode == HALF_OPEN:
        if ok:
            return "closed", _closed()
        return None, {**state, "mode": OPEN, "open_until": now + settings.open_seconds}
    if mode == OPEN:  # an attempt admitted before it opened, ending late: the probe decides
        return None, None
    events = [event for event in state["events"] if event[0] > now - settings.window][-MAX_EVENTS + 1 :]
    events.append([now, ok])
    failures = 0 if ok else state["failures"] + 1
    failed = sum(1 for _, good in events if not good)
    by_count = settings.failures > 0 and failures >= settings.failures
    by_ratio = (
        settings.error_ratio > 0
        and len(events) >= settings.min_requests
        and failed / len(events) > settings.error_ratio
    )
    if by_count or by_ratio:
        opened = {
            "mode": OPEN,
            "opened_at": now,
            "open_until": now + settings.open_seconds,
            "failures": failures,
        }
        return "opened", {**opened, "events": [], "probe_until": 0.0}
    return None, {"mode": CLOSED, "failures": failures, "events": events}


def counts_against(error: BaseException | None) -> bool:
    """Whether an attempt's error is one of the outage's: a 5xx, a timeout, a reset."""
    return isinstance(error, (ServerError, NetworkError)) or (
        isinstance(error, RateLimited) and not isinstance(error, CircuitOpen) and (error.status or 0) >= 500
    )


@dataclass(frozen=True)
class BreakerChange:
    """The breaker of ``name`` opened or closed; for alerts, logs and metrics."""

    name: str
    change: str
    state: Mapping[str, Any]


class CircuitBreaker:
    """One connection's breaker over its shared state.

    :param store: the connection's shared state.
    :param name: the connection id; the state key and what alerts name.
    :param settings: when it opens, and for how long.
    :param on_change: called once when it opens and once when it closes (alerts, metrics).
    :param clock: wall-clock seconds (shared across machines).
    """

    def __init__(
        self,
        store: SharedState,
        name: str,
        settings: BreakerSettings,
        *,
        on_change: Callable[[BreakerChange], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.name = name
        self.key = f"breaker:{name}"
        self.settings = settings
        self.on_change = on_change
        self.clock = clock

    def admit(self) -> None:
        """Return when a request may go; raise :class:`CircuitOpen` with the wait otherwise."""
        now = self.clock()
        wait = self.store.update(self.key, lambda state: admit(state, now, self.settings))
        if wait > 0:
            raise CircuitOpen(
                f"the circuit breaker of connection {self.name!r} is open after repeated transient "
                f"failures; the next probe is in {wait:.1f} s",
                retry_after=wait,
            )

    def record(self, error: BaseException | None) -> None:
        """Count an attempt: ``None`` for a success; an error counts only if :func:`counts_against`."""
        if error is not None and not counts_against(error):
            return
        now = self.clock()
        changed: list[BreakerChange] = []

        def change(state: State | None) -> tuple[None, State | None]:
            changed.clear()  # a store may decide again on a newer state (redis after a race)
            what, new = record(state, now, error is None, self.settings)
            if what is not None:
                changed.append(BreakerChange(self.name, what, new or {}))
            return None, new

        self.store.update(self.key, change)
        if changed and self.on_change is not None:
            self.on_change(changed[-1])

    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``, as the shared state says now."""
        return str(self.store.update(self.key, lambda state: ((state or _closed())["mode"], None)))
