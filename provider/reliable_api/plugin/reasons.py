"""Why a dead letter failed, in two short words: the reason and the failing field.

The queue stores the error's class, HTTP status and message. The messages the provider writes
have a known shape (``normalization failed: email: invalid_email (...)``, ``failed
expectations: ...``), and an API's error body often names the field (``"field": "email"``,
``"loc": ["body", "email"]``). This reads them for display and grouping only; nothing decides on
it. An entry the shapes do not cover is grouped by its HTTP status, else its error class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reliable_api.deadletter.queue import DeadLetter

_NORMALIZATION = re.compile(r"normalization failed: (?P<field>[\w.\-]+): (?P<reason>[\w:.\-]+)")
_EXPECTATIONS = re.compile(r"failed expectations: (?P<reason>[\w:.\-]+)")
_BODY_FIELD = re.compile(r"""["'](?:field|param|parameter|property)["']\s*:\s*["'](?P<field>[\w.\-]+)["']""")
_BODY_LOC = re.compile(r"""["']loc["']\s*:\s*\[[^\]]*?["'](?P<field>[\w.\-]+)["']\s*\]""")


@dataclass(frozen=True)
class Failure:
    """What a person scans a list by: why, and which field (``None`` when unknown)."""

    reason: str
    field: str | None


def failure_of(entry: DeadLetter) -> Failure:
    """The reason and field of ``entry``'s failure."""
    return failure(entry.message, entry.http_status, entry.error_class)


def failure(message: str | None, http_status: int | None, error_class: str) -> Failure:
    """The reason and field of a failure with this message, HTTP status and error class."""
    message = message or ""
    if match := _NORMALIZATION.search(message):
        return Failure(match["reason"], match["field"])
    if match := _EXPECTATIONS.search(message):
        field = _body_field(message)
        return Failure(f"expectation {match['reason']}", field)
    field = _body_field(message)
    if http_status is not None:
        return Failure(f"HTTP {http_status}", field)
    return Failure(error_class, field)


def _body_field(message: str) -> str | None:
    for pattern in (_BODY_FIELD, _BODY_LOC):
        if match := pattern.search(message):
            return match["field"]
    return None
