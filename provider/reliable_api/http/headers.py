"""What an API says about its limits: ``Retry-After``, the ``RateLimit`` families and ``Link``.

Every parser here is total: any text yields a value or ``None``, never an exception, never a
negative or NaN number. Capping long waits is the caller's job (``max_retry_after``).

Header families read by :func:`parse_rate_limit_headers`:

- IETF draft-ietf-httpapi-ratelimit-headers, 08 and later (structured fields):
  ``RateLimit-Policy: "default";q=100;w=60`` and ``RateLimit: "default";r=50;t=30``;
- the older drafts: ``RateLimit-Policy: 100;w=60``, ``RateLimit: limit=100, remaining=50, reset=30``
  and the separate ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds);
- legacy ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``, ``-Reset-After``, also spelled
  ``X-Rate-Limit-*``. ``X-RateLimit-Reset`` is read by :func:`legacy_reset_after`.

Times the API gives as dates are measured against the response's own ``Date`` header when it
has one, so a worker whose clock is off does not come back too early.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

#: ``X-RateLimit-Reset`` values above this are epoch seconds, at or below it seconds from now.
#: No API announces a reset 31 years away, and no epoch timestamp since 2001 is this small.
EPOCH_SECONDS_THRESHOLD = 1e9
#: Values above this are epoch milliseconds (as some APIs send): 1e11 epoch seconds is year 5138.
EPOCH_MILLISECONDS_THRESHOLD = 1e11

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_LEGACY_PREFIXES = ("x-ratelimit-", "x-rate-limit-")
_T = TypeVar("_T")


@dataclass(frozen=True)
class RateLimitInfo:
    """What one response says about the API's rate limit; ``None`` wherever it says nothing.

    When the API announces several policies (e.g. per minute and per day), the fields describe
    the one that binds now: see :func:`parse_rate_limit_headers`.

    :param retry_after: seconds to wait, from ``Retry-After``.
    :param limit: requests allowed per window (the quota).
    :param window: length of the quota's window in seconds.
    :param remaining: requests left in the current window.
    :param reset_after: seconds until the quota is restored.
    """

    retry_after: float | None = None
    limit: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset_after: float | None = None

    @property
    def policy_interval(self) -> float | None:
        """Seconds per request that keep a client within the quota (``window / limit``)."""
        if self.window is None or not self.limit:
            return None
        return self.window / self.limit

    @property
    def suggested_wait(self) -> float | None:
        """Seconds to wait before the next request: ``Retry-After``, else the reset of a spent quota."""
        if self.retry_after is not None:
            return self.retry_after
        if self.remaining == 0:
            return self.reset_after
        return None


@dataclass(frozen=True)
class Link:
    """One link of an RFC 8288 ``Link`` header.

    :param url: the target as written (possibly relative).
    :param rels: the link relation types, lower-cased.
    :param params: the other parameters, names lower-cased, values unquoted.
    """

    url: str
    rels: frozenset[str]
    params: Mapping[str, str]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks to wait, or ``None`` when it cannot be read.

    Accepts delta-seconds and the three HTTP-date forms of RFC 9110 (IMF-fixdate, RFC 850,
    asctime). A negative delay or a date in the past means "now": ``0.0``.

    :param value: the header value.
    :param now: the reference time for a date (default: the current time); naive means UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _finite(max(0.0, float(text)))
    when = _http_date(text)
    if when is None:
        return None
    return max(0.0, (when - _aware(now or datetime.now(timezone.utc))).total_seconds())


def parse_rate_limit_headers(headers: Mapping[str, str], *, now: datetime | None = None) -> RateLimitInfo:
    """Read every rate-limit header family of a response into one :class:`RateLimitInfo`.

    Header names match case-insensitively. Fields that cannot be read are left out one by one.
    The IETF draft headers win over the legacy ``X-RateLimit-*`` family when a response has both.
    Of several announced policies, the one that binds now is reported: a spent quota (the one
    that resets last, if several are spent), else the one that needs the slowest pace to last
    until its reset (``reset / remaining``), else the slowest quota (``window / limit``).

    :param headers: the response headers.
    :param now: the reference time for dates; default: the response's ``Date`` header, else the
        current time.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    reference = now or _http_date(lowered.get("date", "")) or datetime.now(timezone.utc)
    # The legacy X-RateLimit-* family is read only when the IETF draft headers are absent: APIs
    # that send both describe the same limits twice, and the legacy epoch reset measured against
    # a Date rounded to the second can overstate a 20 ms reset as 3 s.
    policies = list(_draft_policies(lowered)) or list(_legacy_policies(lowered, reference))
    binding = max(policies, key=_urgency, default=_Policy())
    return RateLimitInfo(
        retry_after=parse_retry_after(lowered.get("retry-after"), now=reference),
        limit=binding.limit,
        window=binding.window,
        remaining=binding.remaining,
        reset_after=binding.reset_after,
    )


def legacy_reset_after(value: str | None, *, now: datetime) -> float | None:
    """Return the seconds until an ``X-RateLimit-Reset`` value, or ``None`` when unreadable.

    APIs send either a delay or a Unix time in this header. A value above
    :data:`EPOCH_SECONDS_THRESHOLD` is a Unix time (above :data:`EPOCH_MILLISECONDS_THRESHOLD`,
    in milliseconds); anything smaller is a delay in seconds.

    :param value: the header value.
    :param now: the reference time.
    """
    number = _non_negative(value)
    if number is None or number <= EPOCH_SECONDS_THRESHOLD:
        return number
    epoch = number / 1000 if number > EPOCH_MILLISECONDS_THRESHOLD else number
    return max(0.0, epoch - _aware(now).timestamp())


def parse_link_header(value: str | None) -> list[Link]:
    """Parse an RFC 8288 ``Link`` header; members that cannot be read are skipped.

    :param value: the header value, e.g. ``<https://api/x?page=2>; rel="next", </x?page=9>; rel=last``.
    """
    links = []
    for member in split_outside_quotes(value or "", ","):
        target, *params = split_outside_quotes(member, ";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        parsed = dict(_parameters(params))
        links.append(Link(target[1:-1].strip(), frozenset(parsed.pop("rel", "").lower().split()), parsed))
    return links


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split ``text`` at ``separator`` except inside ``"quoted strings"`` and ``<URLs>``.

    A backslash inside a quoted string escapes the next character, as in RFC 9110.
    """
    parts: list[str] = []
    start, quoted, bracketed, escaped = 0, False, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            escaped = char == "\\"
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in "<>":
            bracketed = char == "<"
        elif char == separator and not bracketed:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class _Policy:
    name: str | None = None
    limit: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset_after: float | None = None

    def merged(self, other: _Policy) -> _Policy:
        """Return a copy with the fields it lacks taken from ``other``."""
        return _Policy(
            self.name,
            _first(self.limit, other.limit),
            _first(self.window, other.window),
            _first(self.remaining, other.remaining),
            _first(self.reset_after, other.reset_after),
        )


def _urgency(policy: _Policy) -> tuple[float, float]:
    # Seconds per request the policy demands now; ties (two spent quotas) go to the later reset.
    if policy.remaining is not None and policy.reset_after is not None:
        pace = math.inf if policy.remaining == 0 else policy.reset_after / policy.remaining
    elif policy.limit and policy.window is not None:
        pace = policy.window / policy.limit
    else:
        pace = 0.0
    return pace, policy.reset_after or 0.0


def _draft_policies(headers: Mapping[str, str]) -> Iterator[_Policy]:
    declared = list(_declared_policies(headers.get("ratelimit-policy", "")))
    statuses = list(_announced_statuses(headers))
    for status in statuses:
        match = _matching_policy(status, declared)
        if match is not None:
            declared.remove(match)
            status = status.merged(match)
        yield status
    yield from declared


def _declared_policies(value: str) -> Iterator[_Policy]:
    # 08+: '"name";q=100;w=60'; older drafts: '100;w=60' (the quota is the item, no name).
    for head, params in _members(value):
        quota = _positive_int(head)
        yield _Policy(
            name=None if quota is not None else _unquote(head),
            limit=quota if quota is not None else _positive_int(params.get("q")),
            window=_positive(params.get("w")),
        )


def _announced_statuses(headers: Mapping[str, str]) -> Iterator[_Policy]:
    unnamed = _Policy(
        limit=_positive_int(_first_member(headers.get("ratelimit-limit"))),
        remaining=_non_negative_int(_first_member(headers.get("ratelimit-remaining"))),
        reset_after=_non_negative(_first_member(headers.get("ratelimit-reset"))),
    )
    for head, params in _members(headers.get("ratelimit", "")):
        if "=" in head:  # draft 07 dictionary: 'limit=100, remaining=50, reset=30'
            key, _, raw = head.partition("=")
            unnamed = unnamed.merged(_dictionary_member(key.strip().lower(), raw.strip()))
        else:
            yield _Policy(
                name=_unquote(head),
                remaining=_non_negative_int(params.get("r")),
                reset_after=_non_negative(params.get("t")),
            )
    if unnamed != _Policy():
        yield unnamed


def _dictionary_member(key: str, value: str) -> _Policy:
    if key == "limit":
        return _Policy(limit=_positive_int(value))
    if key == "remaining":
        return _Policy(remaining=_non_negative_int(value))
    if key == "reset":
        return _Policy(reset_after=_non_negative(value))
    return _Policy()


def _matching_policy(status: _Policy, declared: list[_Policy]) -> _Policy | None:
    # By name; an unnamed status (older drafts) also by its quota when it gives one. Ambiguous: none.
    matches = [p for p in declared if p.name == status.name and status.limit in (None, p.limit)]
    return matches[0] if len(matches) == 1 else None


def _legacy_policies(headers: Mapping[str, str], now: datetime) -> Iterator[_Policy]:
    for prefix in _LEGACY_PREFIXES:
        reset = legacy_reset_after(headers.get(f"{prefix}reset"), now=now)
        policy = _Policy(
            limit=_positive_int(headers.get(f"{prefix}limit")),
            remaining=_non_negative_int(headers.get(f"{prefix}remaining")),
            reset_after=_first(_non_negative(headers.get(f"{prefix}reset-after")), reset),
        )
        if policy != _Policy():
            yield policy


def _members(value: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (item, parameters) of a structured-field list, leniently."""
    for member in split_outside_quotes(value, ","):
        head, *params = split_outside_quotes(member, ";")
        if head.strip():
            yield head.strip(), dict(_parameters(params))


def _parameters(params: list[str]) -> Iterator[tuple[str, str]]:
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip():
            yield key.strip().lower(), _unquote(raw.strip())


def _first_member(value: str | None) -> str | None:
    # Some drafts allowed a list here ('100, 100;w=60'): the first item is the current value.
    return None if value is None else split_outside_quotes(value, ",")[0].partition(";")[0]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _http_date(text: str) -> datetime | None:
    try:
        return _aware(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _aware(moment: datetime) -> datetime:
    # HTTP dates are GMT; the asctime form and '-0000' parse as naive datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _finite(number: float) -> float | None:
    return number if math.isfinite(number) else None


def _non_negative(value: str | None) -> float | None:
    text = (value or "").strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = _finite(float(text))
    return number if number is not None and number >= 0 else None


def _non_negative_int(value: str | None) -> int | None:
    number = _non_negative(value)
    return int(number) if number is not None and number.is_integer() else None


def _positive(value: str | None) -> float | None:
    number = _non_negative(value)
    return number if number else None


def _positive_int(value: str | None) -> int | None:
    number = _non_negative_int(value)
    return number if number else None


def _first(value: _T | None, fallback: _T | None) -> _T | None:
    return value if value is not None else fallback
