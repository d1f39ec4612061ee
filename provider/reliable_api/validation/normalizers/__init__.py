"""The normalizers a contract can name, a module per kind.

Each kind builds, per field, a callable that returns the normalized value or a
:class:`~reliable_api.validation.rejection.Rejection` and never raises on bad data. The
third-party libraries (pendulum, phonenumbers, email-validator) are imported when a normalizer
is built, not when this package is imported.
"""

from __future__ import annotations

from reliable_api.validation.normalizers.base import Defaults, Normalizer, NormalizerKind
from reliable_api.validation.normalizers.dates import DATE, DATETIME
from reliable_api.validation.normalizers.emails import EMAIL
from reliable_api.validation.normalizers.numeric import BOOLEAN, INTEGER, NUMBER
from reliable_api.validation.normalizers.phones import PHONE
from reliable_api.validation.normalizers.strings import ENUM, STRING

#: Every normalizer by the name a contract uses.
NORMALIZERS: dict[str, NormalizerKind] = {
    kind.name: kind for kind in (STRING, ENUM, INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, EMAIL, PHONE)
}
#: Every field type, each with the normalizer used when the field names none.
FIELD_TYPES: dict[str, str] = {name: name for name in NORMALIZERS}

__all__ = ["FIELD_TYPES", "NORMALIZERS", "Defaults", "Normalizer", "NormalizerKind"]
