"""A fast check for phone numbers already written in valid E.164 (``+12125550123``).

``phonenumbers.parse`` plus ``is_valid_number`` costs about 45 µs a number, most of it spent
walking the metadata for every call. For text that is ``+`` and digits only, this module answers
the same question from the same metadata compiled once per country: the region that claims the
number (leading digits, else the first region whose number types match), then the general pattern
and any number-type pattern, each guarded by its possible lengths, exactly as
``phonenumberutil._number_type_helper`` does.

It only ever says "valid, and the E.164 form is the text itself"; everything else (an invalid
number, a national prefix that ``parse`` might strip, a leading zero, a non-geographic country
code) returns ``None`` and the caller takes the full path. A Hypothesis test holds the two paths
to the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_E164 = re.compile(r"\+[1-9][0-9]{3,14}")
Check = Callable[[str], bool]


def _desc_check(desc: Any) -> tuple[tuple[int, ...], re.Pattern[str]] | None:
    """The lengths a description allows (empty: any) and its pattern; ``None`` when it matches nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    return tuple(desc.possible_length), re.compile(desc.national_number_pattern)


class _RegionCheck:
    """Whether a national significant number has a known type in one region."""

    def __init__(self, metadata: Any) -> None:
        self.general = _desc_check(metadata.general_desc)
        descs = [
            metadata.premium_rate,
            metadata.toll_free,
            metadata.shared_cost,
            metadata.voip,
            metadata.personal_number,
            metadata.pager,
            metadata.uan,
            metadata.voicemail,
            metadata.fixed_line,
        ]
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        self.types = [check for check in (_desc_check(desc) for desc in descs) if check]
        # One alternation per length: a number of that length has a type if any pattern matches.
        self.by_length: dict[int, re.Pattern[str] | None] = {}

    def known_type(self, nsn: str) -> bool:
        if self.general is None:
            return False
        lengths, pattern = self.general
        if (lengths and len(nsn) not in lengths) or not pattern.fullmatch(nsn):
            return False
        length = len(nsn)
        if length not in self.by_length:
            patterns = [p.pattern for allowed, p in self.types if not allowed or length in allowed]
            self.by_length[length] = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        combined = self.by_length[length]
        return combined is not None and combined.fullmatch(nsn) is not None


class _CountryCheck:
    """Validity of national numbers under one country calling code, as ``is_valid_number``."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        from phonenumbers.phonemetadata import PhoneMetadata

        self.regions: list[tuple[re.Pattern[str] | None, _RegionCheck]] = []
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue
            leading = re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
            self.regions.append((leading, _RegionCheck(metadata)))
        main = PhoneMetadata.metadata_for_region(regions[0].upper(), None)
        prefix = main.national_prefix_for_parsing if main is not None else None
        self.national_prefix = re.compile(prefix) if prefix else None

    def valid(self, nsn: str) -> bool | None:
        """True or False as ``is_valid_number``; ``None`` when ``parse`` might strip a prefix."""
        if self.national_prefix is not None and self.national_prefix.match(nsn):
            return None
        for leading, check in self.regions:
            if leading is not None:
                if leading.match(nsn):
                    return check.known_type(nsn)
            elif check.known_type(nsn):
                return True
        return False


class E164FastPath:
    """``check(text)`` is ``text`` when it is a valid number in E.164, else ``None`` (use parse)."""

    def __init__(self) -> None:
        from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

        self._regions: dict[int, tuple[str, ...]] = COUNTRY_CODE_TO_REGION_CODE
        self._countries: dict[int, _CountryCheck | None] = {}

    def check(self, text: str) -> str | None:
        """``text`` when it is a valid number in E.164; ``None``: take the full path."""
        if _E164.fullmatch(text) is None:
            return None
        for size in (1, 2, 3):
            code = int(text[1 : 1 + size])
            if code in self._regions:
                break
        else:
            return None
        nsn = text[1 + size :]
        if nsn.startswith("0") or len(nsn) < 2:
            return None
        if code not in self._countries:
            regions = self._regions[code]
            # Non-geographic codes (+800...) parse with other metadata: always the full path.
            self._countries[code] = None if "001" in regions else _CountryCheck(regions)
        country = self._countries[code]
        if country is None or not country.valid(nsn):
            return None
        return text
