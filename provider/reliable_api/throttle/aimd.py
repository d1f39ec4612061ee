"""How adaptive mode moves a limit's shared rate, and how wide pacing keeps its margin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reliable_api.exceptions import ConfigurationError


@dataclass(frozen=True)
class Aimd:
    """How adaptive mode moves the shared rate.

    :param decrease: multiply the rate by this on a 429 (between 0 and 1).
    :param increase: after ``increase_cooldown`` seconds, add this share of the target rate.
    :param increase_cooldown: seconds between two probes up.
    :param min_share: the rate never drops below this share of the configured rate.
    :param headroom: keep this share below a policy the API announces. An API that enforces
        its rate with no tolerance (burst 1) answers 429 to two requests that arrive a little
        closer than the interval, as scheduling jitter makes them at exactly its rate.
    :param margin: slots are spaced this share wider than the configured interval (also when
        not adaptive), and the actual gap between two sends is at least half of it wider.
    :param margin_step: a 429 of the pacing's own widens the shared interval by this share;
        0 takes every 429 for a wrong rate.
    :param hold: with ``burst`` 1, a 2xx that took longer than this worker's fastest answer may
        have reached the API late by the difference (a busy server reads its clock late): the
        next send of the limit waits that much longer, up to this share of the interval. Only an
        answer that comes back before the next send can hold it, so an API slower than its
        interval is never held; 0 turns it off.
    :param quiet: intervals (at the rate in force) after a slow-down within which a 429 for a
        request sent after it means the rate is wrong; a 429 after a quiet stretch without
        Retry-After is taken for the pacing's own.
    :raises ConfigurationError: naming the value out of range.
    """

    decrease: float = 0.9
    increase: float = 0.01
    increase_cooldown: float = 4.0
    min_share: float = 1 / 64
    headroom: float = 0.02
    margin: float = 0.02
    margin_step: float = 0.02
    hold: float = 0.1
    quiet: int = 20

    def __post_init__(self) -> None:
        checks = {
            "decrease": 0 < self.decrease < 1,
            "increase": 0 < self.increase < math.inf,
            "increase_cooldown": 0 <= self.increase_cooldown < math.inf,
            "min_share": 0 < self.min_share <= 1,
            "headroom": 0 <= self.headroom < 1,
            "margin": 0 <= self.margin < 1,
            "margin_step": 0 <= self.margin_step < 1,
            "hold": 0 <= self.hold < 1,
            "quiet": self.quiet >= 0,
        }
        for name, valid in checks.items():
            if not valid:
                raise ConfigurationError(f"Aimd.{name} is out of range: {getattr(self, name)!r}")


#: The defaults, shared.
DEFAULT_AIMD = Aimd()
