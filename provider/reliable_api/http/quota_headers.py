"""Vendor quota headers: how much of its quota the API itself counts as used.

The API's count wins over ours: calls by other clients of the same account (another tool, a
colleague's script) count against the same quota, and only the API sees them. Each parser
reads one vendor's header into a :class:`QuotaReport`; the limiter then sets the matching quota
window's shared state from it (:meth:`~reliable_api.throttle.limiter.SharedRateLimiter.on_quota`).

Built in:

- ``salesforce``: ``Sforce-Limit-Info: api-usage=18/15000`` (per rolling 24 hours);
- ``shopify``: ``X-Shopify-Shop-Api-Call-Limit: 32/40`` (a leaky bucket draining in 20 s);
- ``hubspot``: ``X-HubSpot-RateLimit-Daily`` and ``X-HubSpot-RateLimit-Daily-Remaining``;
- ``ratelimit``: the IETF ``RateLimit``/``RateLimit-Policy`` and the ``X-RateLimit-*`` headers,
  when they name a window (see :func:`~reliable_api.http.headers.parse_rate_limit_headers`).

Add one with :func:`register_quota_parser`. A parser returns ``None`` when its header is absent
and raises ``ValueError`` when it is present but unreadable; the client logs that once per
header and goes on with its own count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from reliable_api.http.headers import parse_rate_limit_headers

DAY = 86400.0


@dataclass(frozen=True)
class QuotaReport:
    """One quota as the API counts it.

    :param used: units used in the window.
    :param limit: units the window allows.
    :param period: the window's length in seconds, when the vendor's is known.
    :param source: the parser's name, for logs.
    """

    used: float
    limit: float
    period: float | None
    source: str


QuotaParser = Callable[[Mapping[str, str]], "QuotaReport | None"]
QUOTA_PARSERS: dict[str, QuotaParser] = {}
# ASCII digits only: a header is ASCII, and int() would also take '٣' or refuse '²' with its own words.
_FRACTION = re.compile(r"\s*([0-9]{1,18})\s*/\s*([0-9]{1,18})\s*")
_COUNT = re.compile(r"\s*([0-9]{1,18})\s*")


def register_quota_parser(name: str, parser: QuotaParser) -> None:
    """Add (or replace) the parser ``name``; every response is offered to every parser."""
    QUOTA_PARSERS[name] = parser


def parse_quota_headers(headers: Mapping[str, str]) -> Iterator[QuotaReport | ValueError]:
    """Every quota the response reports, or the ``ValueError`` of a header that does not parse."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for parser in QUOTA_PARSERS.values():
        try:
            report = parser(lowered)
        except ValueError as error:
            yield error
            continue
        if report is not None:
            yield report


def _fraction(value: str, header: str) -> tuple[int, int]:
    match = _FRACTION.fullmatch(value)
    if not match or int(match.group(2)) <= 0:
        raise ValueError(f"{header}: expected '<used>/<limit>', got {value[:60]!r}")
    return int(match.group(1)), int(match.group(2))


def salesforce(headers: Mapping[str, str]) -> QuotaReport | None:
    """``Sforce-Limit-Info: api-usage=18/15000``."""
    value = headers.get("sforce-limit-info")
    if value is None:
        return None
    for part in value.split(","):
        name, _, fraction = part.partition("=")
        if name.strip() == "api-usage":
            used, limit = _fraction(fraction, "Sforce-Limit-Info")
            return QuotaReport(used, limit, DAY, "salesforce")
    raise ValueError(f"Sforce-Limit-Info: no api-usage in {value[:60]!r}")


def shopify(headers: Mapping[str, str]) -> QuotaReport | None:
    """``X-Shopify-Shop-Api-Call-Limit: 32/40``: Shopify's buckets drain in 20 s (40 at 2/s)."""
    value = headers.get("x-shopify-shop-api-call-limit")
    if value is None:
        return None
    used, limit = _fraction(value, "X-Shopify-Shop-Api-Call-Limit")
    return QuotaReport(used, limit, 20.0, "shopify")


def hubspot(headers: Mapping[str, str]) -> QuotaReport | None:
    """``X-HubSpot-RateLimit-Daily: 250000`` with ``X-HubSpot-RateLimit-Daily-Remaining: 249000``."""
    limit, remaining = (
        headers.get("x-hubspot-ratelimit-daily"),
        headers.get("x-hubspot-ratelimit-daily-remaining"),
    )
    if limit is None or remaining is None:
        return None
    daily, left = _COUNT.fullmatch(limit), _COUNT.fullmatch(remaining)
    if not daily or not left or int(daily.group(1)) <= 0:
        raise ValueError(
            f"X-HubSpot-RateLimit-Daily: expected whole numbers, got {limit[:30]!r}/{remaining[:30]!r}"
        )
    total = int(daily.group(1))
    return QuotaReport(max(0, total - int(left.group(1))), total, DAY, "hubspot")


def ratelimit(headers: Mapping[str, str]) -> QuotaReport | None:
    """The IETF and ``X-RateLimit-*`` headers, when they give a limit, a window and what remains."""
    info = parse_rate_limit_headers(headers)
    if info.limit is None or info.window is None or info.remaining is None:
        return None
    return QuotaReport(max(0, info.limit - info.remaining), info.limit, info.window, "ratelimit")


for _name, _parser in (
    ("salesforce", salesforce),
    ("shopify", shopify),
    ("hubspot", hubspot),
    ("ratelimit", ratelimit),
):
    register_quota_parser(_name, _parser)
