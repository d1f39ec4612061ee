"""Parse rate limits written the way people write them: ``"20/s"``, ``"1000/h"``, ``"100/10s"``."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from reliable_api.exceptions import ConfigurationError

_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(
    r"^\s*(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<multiple>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds."""

    count: float
    period: float

    @property
    def per_second(self) -> float:
        """The rate in requests per second."""
        return self.count / self.period

    @property
    def interval(self) -> float:
        """Seconds between two requests at this rate (GCRA's emission interval)."""
        return self.period / self.count

    def __str__(self) -> str:
        return f"{self.count:g}/{self.period:g}s"


def parse_rate(text: str, *, field: str = "rate_limit") -> Rate:
    """Parse ``text`` such as ``"20/s"``, ``"1000/h"``, ``"5/min"`` or ``"100/10s"``.

    :param field: the setting's name, used in the error message.
    :raises ConfigurationError: when ``text`` is not a positive rate; the message names ``field``.
    """
    match = _RATE.match(text) if isinstance(text, str) else None
    unit = match.group("unit").lower() if match else ""
    if unit not in _UNIT_SECONDS and unit.endswith("s"):
        unit = unit[:-1]  # plural: "hours", "mins"
    if not match or unit not in _UNIT_SECONDS:
        raise ConfigurationError(
            f"{field} must look like '20/s', '1000/h', '5/min' or '100/10s', got {text!r}"
        )
    count = float(match.group("count"))
    period = float(match.group("multiple") or 1) * _UNIT_SECONDS[unit]
    if count <= 0 or period <= 0:
        raise ConfigurationError(f"{field} must be a positive rate, got {text!r}")
    return Rate(count=count, period=period)


def parse_rates(text: str, *, field: str = "rate_limit") -> tuple[Rate, ...]:
    """Parse one rate or several, comma-separated, shortest window first: ``"25/s, 100000/d"``.

    Windows are sorted by period. Two windows of the same period contradict each other, and a
    longer window that allows more than the shorter ones could ever send in it never binds: both
    are configuration errors, named as such.

    :raises ConfigurationError: naming ``field`` and the window at fault.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(
            f"{field} must be a rate like '20/s' or a list like '25/s, 100000/d', got {text!r}"
        )
    rates = sorted((parse_rate(part, field=field) for part in text.split(",")), key=lambda rate: rate.period)
    for shorter, longer in itertools.pairwise(rates):
        if shorter.period == longer.period:
            raise ConfigurationError(
                f"{field} has two windows of {longer.period:g} s ({shorter} and {longer}): "
                "keep the stricter one"
            )
        if longer.count >= shorter.per_second * longer.period + shorter.count:
            raise ConfigurationError(
                f"{field}: the window {longer} never binds, since {shorter} allows at most "
                f"{shorter.per_second * longer.period + shorter.count:g} in {longer.period:g} s; remove it"
            )
    return tuple(rates)
