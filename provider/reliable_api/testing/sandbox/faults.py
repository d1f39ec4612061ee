"""Seeded fault injection that does not depend on how concurrent requests interleave.

A shared random stream would hand out faults in arrival order, so two runs with the same seed
would differ as soon as two clients race. Instead each request is identified by what it asks for
(method, path, query, and its idempotency key or natural keys), and the fault is a pure function
of ``(seed, identity, n)`` where ``n`` counts earlier requests with the same identity. Requests with
the same identity are indistinguishable, so only their own order matters.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping

from reliable_api.testing.sandbox.config import FAULT_PROBABILITIES, SandboxConfig

#: Body fields that identify a record across retries (see :mod:`reliable_api.testing.sandbox.store`).
IDENTIFYING_FIELDS = ("email", "domain", "external_id")


class Fault(enum.Enum):
    """What the sandbox does to one request instead of (or before) serving it normally.

    Each value ``v`` except ``none`` has its probability in the config option ``p_v``.
    """

    NONE = "none"
    ERROR_500 = "500"
    ERROR_502 = "502"
    ERROR_503 = "503"
    SLOW = "slow"
    RESET = "reset"
    MALFORMED = "malformed"
    LOST_502 = "lost_502"
    LOST_STALL = "lost_stall"
    BURST_429 = "429"


#: Faults that serve the request (a create commits) and lose its answer: what a client cannot tell
#: from a failure before the API acted, and why a create without a key must be looked up after one.
LOST_ANSWERS = frozenset({Fault.LOST_502, Fault.LOST_STALL})


def request_identity(
    method: str, path: str, query: Iterable[tuple[str, str]], idempotency_key: str | None, body: object
) -> str:
    """A string naming what a request asks for, stable across retries of the same request.

    :param method: HTTP method.
    :param path: URL path.
    :param query: query parameters (order does not matter).
    :param idempotency_key: the request's Idempotency-Key, if any; it names the request best.
    :param body: the parsed JSON body, if any; its natural keys name the record(s) it writes.
    """
    parts = [method, path, "&".join(sorted(f"{name}={value}" for name, value in query))]
    if idempotency_key is not None:
        parts.append(f"key={idempotency_key}")
    else:
        parts.extend(_natural_keys(body))
    return "\x1f".join(parts)


def _natural_keys(body: object) -> list[str]:
    records = body.get("records") if isinstance(body, Mapping) and "records" in body else [body]
    if not isinstance(records, list):
        return []
    return [
        f"{name}={record[name]}"
        for record in records
        if isinstance(record, Mapping)
        for name in IDENTIFYING_FIELDS
        if name in record
    ]


def fault_draw(seed: int, identity: str, occurrence: int) -> float:
    """A uniform number in [0, 1) determined by the seed, the request identity and its occurrence."""
    digest = hashlib.blake2b(f"{seed}\x1f{identity}\x1f{occurrence}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultPlan:
    """Decides the fault of each request and remembers how often each identity was seen."""

    def __init__(self) -> None:
        self._occurrences: Counter[str] = Counter()

    def decide(self, config: SandboxConfig, identity: str) -> Fault:
        """The fault for the next request with ``identity`` under ``config``'s seed and probabilities.

        :param config: the seed and the fault probabilities.
        :param identity: from :func:`request_identity`.
        """
        occurrence = self._occurrences[identity]
        self._occurrences[identity] = occurrence + 1
        draw = fault_draw(config.seed, identity, occurrence)
        threshold = 0.0
        for option in FAULT_PROBABILITIES:
            threshold += getattr(config, option)
            if draw < threshold:
                return Fault(option.removeprefix("p_"))
        return Fault.NONE


def refused_status(config: SandboxConfig, natural_key: str) -> int | None:
    """404 or 422 when ``natural_key`` falls in ``fail_404_share`` / ``fail_422_share``, else ``None``.

    One draw per key and seed, whatever the request: a refused record is refused for good, as a
    record that breaks an API's own rules is.

    :param config: the seed and the shares.
    :param natural_key: the key as the store compares it (``normalize_key``).
    """
    if not (config.fail_404_share or config.fail_422_share):
        return None
    draw = fault_draw(config.seed, f"refused\x1f{natural_key}", 0)
    if draw < config.fail_404_share:
        return 404
    if draw < config.fail_404_share + config.fail_422_share:
        return 422
    return None
