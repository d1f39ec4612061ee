"""What a normalizer returns for a value it cannot accept."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value a normalizer refused, and why.

    :param field: the contract field the value was for.
    :param value: the value as received.
    :param reason: a short stable code (``"phone_too_short"``), fit for counting per reason.
    :param detail: words for a person, e.g. which region a phone number is not valid for.
    """

    field: str
    value: Any
    reason: str
    detail: str = ""


def is_missing(value: Any) -> bool:
    """True for ``None``, a float NaN and a string that is empty or only whitespace."""
    if value is None:
        return True
    if type(value) is str:
        return not value or value.isspace()
    return isinstance(value, float) and math.isnan(value)
