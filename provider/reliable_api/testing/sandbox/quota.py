"""A quota per API key (e.g. 15,000 calls a day) and the vendor headers that report it.

Real APIs count a quota besides their per-second rate, and tell each response how much is used:
Salesforce ``Sforce-Limit-Info: api-usage=18/15000``, Shopify ``X-Shopify-Shop-Api-Call-Limit:
32/40``, HubSpot ``X-HubSpot-RateLimit-Daily`` / ``-Daily-Remaining``. The sandbox counts the
quota in fixed windows of ``quota_period`` seconds from its start (or last reset) and renders the
style chosen by ``quota_headers``, so a client's quota-header parsers meet each vendor's format.
"""

from __future__ import annotations

import math
from collections.abc import Callable

NANOS = 1_000_000_000
QUOTA_HEADER_STYLES = ("none", "salesforce", "shopify", "hubspot")


class QuotaCounter:
    """Calls per API key in the current quota window.

    :param clock: monotonic time in nanoseconds.
    """

    def __init__(self, *, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._start = clock()
        self._used: dict[str, tuple[int, int]] = {}  # client -> (window number, calls)

    def take(self, client: str, *, quota: int, period: float) -> tuple[int, float]:
        """Count one call of ``client``: ``(used, seconds until the window ends)``.

        ``used`` is above ``quota`` when the call is refused (it is then not counted).
        """
        elapsed = (self._clock() - self._start) / NANOS
        window = math.floor(elapsed / period)
        ends_in = (window + 1) * period - elapsed
        seen, used = self._used.get(client, (window, 0))
        used = used if seen == window else 0
        if used >= quota:
            return used + 1, ends_in
        self._used[client] = (window, used + 1)
        return used + 1, ends_in


def vendor_quota_headers(style: str, *, used: int, quota: int) -> list[tuple[str, str]]:
    """The headers of ``style`` reporting ``used`` of ``quota`` (capped at the quota)."""
    used = min(used, quota)
    if style == "salesforce":
        return [("Sforce-Limit-Info", f"api-usage={used}/{quota}")]
    if style == "shopify":
        return [("X-Shopify-Shop-Api-Call-Limit", f"{used}/{quota}")]
    if style == "hubspot":
        return [
            ("X-HubSpot-RateLimit-Daily", str(quota)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(quota - used)),
        ]
    return []
