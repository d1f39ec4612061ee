"""Everything a running sandbox remembers, in one object the routes and the gateway share."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.data import TIMESTAMP_FORMAT, generate_companies, generate_contacts
from reliable_api.testing.sandbox.faults import FaultPlan
from reliable_api.testing.sandbox.idempotency import IdempotencyStore
from reliable_api.testing.sandbox.quota import QuotaCounter
from reliable_api.testing.sandbox.ratelimit import GcraLimiter
from reliable_api.testing.sandbox.stats import Stats
from reliable_api.testing.sandbox.store import RESOURCES, Collection

Webhook = dict[str, object]


class SandboxState:
    """Config, data and bookkeeping of one sandbox.

    :param config: the configuration to start with; :meth:`reset` can return to it.
    :param monotonic: monotonic clock in nanoseconds (rate limiting, windows, promises).
    :param wall: wall clock in epoch seconds (timestamps, headers naming a time).
    """

    def __init__(
        self,
        config: SandboxConfig,
        *,
        monotonic: Callable[[], int] = time.monotonic_ns,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.initial_config = config
        self.config = config
        self.monotonic = monotonic
        self.wall = wall
        # Generated updated_at values count back from here, so regenerated data is identical.
        self._data_now = datetime.fromtimestamp(wall(), timezone.utc)
        self.collections = self._generate()
        self._start_bookkeeping()

    def configure(self, config: SandboxConfig) -> None:
        """Switch to ``config``; a changed rate or burst starts the limiter afresh."""
        rate_changed = (config.rate, config.burst) != (self.config.rate, self.config.burst)
        self.config = config
        if rate_changed:
            self.limiter = self._new_limiter()

    def reset(self, *, data: bool = False, config: bool = False) -> None:
        """Clear counters, limiter state, idempotency keys, fault occurrences and webhooks.

        :param data: also regenerate the records from the seed (created ones are lost).
        :param config: also return to the configuration the sandbox started with.
        """
        if config:
            self.config = self.initial_config
        if data:
            self.collections = self._generate()
        self._start_bookkeeping()

    def timestamp(self) -> str:
        """The current time as records carry it in ``updated_at``."""
        return datetime.fromtimestamp(self.wall(), timezone.utc).strftime(TIMESTAMP_FORMAT)

    def _generate(self) -> dict[str, Collection]:
        config, now = self.config, self._data_now
        contacts = generate_contacts(config.contacts, config.seed, now=now, companies=config.companies)
        companies = generate_companies(config.companies, config.seed, now=now)
        return {
            "contacts": Collection(RESOURCES["contacts"], contacts),
            "companies": Collection(RESOURCES["companies"], companies),
        }

    def _start_bookkeeping(self) -> None:
        self.limiter = self._new_limiter()
        self.quota = QuotaCounter(clock=self.monotonic)
        self.idempotency = IdempotencyStore()
        self.faults = FaultPlan()
        self.stats = Stats(monotonic=self.monotonic, wall=self.wall)
        self.webhooks: dict[str, list[Webhook]] = {}
        #: client -> monotonic nanoseconds at which its burst of 429s (``p_429``) ends
        self.bursts_429: dict[str, int] = {}

    def _new_limiter(self) -> GcraLimiter | None:
        if self.config.rate == 0:
            return None
        return GcraLimiter(self.config.rate, self.config.burst, clock=self.monotonic)
