"""Rendering of the rate-limit header families a sandbox response can carry.

- ``Retry-After`` (RFC 9110) on 429, as delta-seconds or an HTTP date;
- ``RateLimit-Policy`` and ``RateLimit`` as structured fields (draft-ietf-httpapi-ratelimit-headers-08+);
- legacy ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` (epoch or delta).

Every wait is rounded up to whole seconds: a client that honours a header must not come too early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import formatdate

from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.ratelimit import QuotaPolicy, RateDecision

POLICY_NAME = "default"


@dataclass(frozen=True)
class RetryAfter:
    """A ``Retry-After`` value and the wait it promises.

    :param value: the header value.
    :param promised_wait: seconds from now until the time the header names.
    """

    value: str
    promised_wait: float


def retry_after(wait: float, *, http_date: bool, now: float) -> RetryAfter:
    """Render a wait as ``Retry-After``.

    :param wait: seconds until the client may retry.
    :param http_date: render an HTTP date instead of delta-seconds.
    :param now: the current wall-clock time (epoch seconds).
    """
    if http_date:
        at = math.ceil(now + wait)
        return RetryAfter(formatdate(at, usegmt=True), at - now)
    seconds = math.ceil(wait)
    return RetryAfter(str(seconds), seconds)


def rate_limit_headers(
    decision: RateDecision, policy: QuotaPolicy, config: SandboxConfig, *, now: float
) -> list[tuple[str, str]]:
    """The RateLimit and legacy header families that ``config`` switches on, for one decision.

    :param decision: the limiter's decision for the request.
    :param policy: the limit as quota per window.
    :param config: which families to send and in which form.
    :param now: the current wall-clock time (epoch seconds).
    """
    # After a denial the quota is back when the request would be admitted; else when the burst refills.
    reset = math.ceil(decision.reset_after if decision.allowed else decision.retry_after)
    headers: list[tuple[str, str]] = []
    if config.ratelimit_headers:
        headers.append(("RateLimit-Policy", f'"{POLICY_NAME}";q={policy.quota};w={policy.window}'))
        headers.append(("RateLimit", f'"{POLICY_NAME}";r={decision.remaining};t={reset}'))
    if config.legacy_headers:
        reset_value = reset if config.legacy_reset == "delta" else math.ceil(now + reset)
        headers.append(("X-RateLimit-Limit", str(policy.quota)))
        headers.append(("X-RateLimit-Remaining", str(decision.remaining)))
        headers.append(("X-RateLimit-Reset", str(reset_value)))
    return headers
