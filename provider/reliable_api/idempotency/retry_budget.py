"""How long an upsert keeps resolving a record's failed write within one try.

The HTTP client retries what is safe to send twice (GET, PUT, a POST under an
``Idempotency-Key``). A create without a key, or a PATCH, fails at its first transient error;
the upsert then resolves it itself (lookup, then adopt or create again; the PATCH again), and
this budget spaces and bounds those rounds with the connection's own retry settings: the same
backoff with full jitter, at most ``max_retries`` rounds per record, none that would end past
``deadline`` seconds after the record's first failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable

from reliable_api.exceptions import RateLimited, TransientError
from reliable_api.http.retry import RetrySettings, backoff_delay


class RetryBudget:
    """Rounds of resolution per record key, under :class:`RetrySettings`.

    :param settings: the connection's retry settings.
    :param sleep: waits between rounds; tests pass one that records.
    :param clock: monotonic seconds, for the deadline.
    :param rng: numbers in ``[0, 1)``, for the jitter.
    """

    def __init__(
        self,
        settings: RetrySettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self._rounds: dict[str, int] = {}
        self._first_failure: dict[str, float] = {}

    def pause(self, keys: Iterable[str], error: TransientError) -> None:
        """Wait before the next round for the records ``keys`` that just failed with ``error``.

        :raises TransientError: ``error`` itself when the budget of any of them is spent, or when
            the API asks for a wait to defer rather than sleep; the ledger keeps their intents,
            so the next try resumes them.
        """
        if self.settings.must_defer(error):
            raise error
        keys = list(keys)
        now = self.clock()
        round_number = 1 + max((self._rounds.get(key, 0) for key in keys), default=0)
        started = min((self._first_failure.setdefault(key, now) for key in keys), default=now)
        wait = backoff_delay(
            round_number,
            base=self.settings.backoff_base,
            cap=self.settings.backoff_cap,
            random_fraction=self.rng(),
            retry_after=error.retry_after if isinstance(error, RateLimited) else None,
        )
        deadline = self.settings.deadline
        if round_number > self.settings.max_retries or (
            deadline is not None and now - started + wait > deadline
        ):
            raise error
        for key in keys:
            self._rounds[key] = round_number
        self.sleep(wait)
