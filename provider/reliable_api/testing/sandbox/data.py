"""Deterministic, deliberately messy CRM data.

About 70% of the rows are clean: ISO 8601 dates, E.164 phone numbers, lower-case emails on ordinary
domains, every field present. The rest have one or two fields spoilt the way real CRM exports are:
dates as MM/DD/YYYY, DD.MM.YYYY, epoch seconds, "March 5, 2021" or garbage; phone numbers without
country code, with letters, with punctuation and extensions, or too short; emails malformed,
upper-case, padded or on disposable domains; missing fields; and people entered twice (same email
with other case or spacing). ``updated_at`` is spread over the 30 days before ``now``.

The generators draw from one :class:`random.Random` per seed and are streaming and cheap per row,
so a million rows take seconds; the first ``k`` rows do not depend on ``n``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TypeVar

Record = dict[str, object]
T = TypeVar("T")

CLEAN_SHARE = 0.7
UPDATED_WITHIN = timedelta(days=30)
#: Format of server-controlled timestamps; fixed width, so strings sort like the times they name.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Bjorn", "Chen", "Chloe", "Dmitri", "Elena", "Fatima", "Grace",
    "Hiro", "Ines", "Jamal", "Katarzyna", "Liam", "Lucia", "Mateo", "Mei", "Nadia", "Noah",
    "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Yara",
)  # fmt: skip
LAST_NAMES = (
    "Abara", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka",
    "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
MAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.io", "example.co.uk")
DISPOSABLE_DOMAINS = (
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "yopmail.com",
    "trashmail.com",
)
COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Soylent",
    "Cyberdyne", "Wonka", "Gringotts", "Monarch", "Oscorp",
)  # fmt: skip
COMPANY_SUFFIXES = ("Inc", "GmbH", "Ltd", "LLC", "SA", "BV", "Group", "Labs")
#: Area codes that libphonenumber accepts as valid US/UK/DE numbers with the subscriber shapes below.
PHONE_PLANS = (("+1", "212"), ("+1", "415"), ("+1", "617"), ("+44", "207"), ("+49", "30"))
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
GARBAGE_DATES = ("not a date", "31/31/2020", "0000-00-00", "yesterday", "N/A", "2021-13-45", "")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _Draw:
    """Random choices from one seeded stream.

    ``random()`` scaled to a range is several times faster than ``randrange``/``choice``, which
    matters at a million rows, and unbiased enough for test data.
    """

    def __init__(self, seed: str) -> None:
        self.random = random.Random(seed).random

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + int(self.random() * (high - low + 1))

    def choice(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]


def _clean_phone(rng: _Draw) -> str:
    country, area = rng.choice(PHONE_PLANS)
    return f"{country}{area}{rng.between(2, 9)}{rng.below(1_000_000):06d}"


def _messy_phone(rng: _Draw) -> str:
    national = f"{rng.choice(('212', '415', '617'))}{rng.between(2, 9)}{rng.below(1_000_000):06d}"
    area, exchange, line = national[:3], national[3:6], national[6:]
    return rng.choice(
        (
            national,  # no country code
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-CALL",  # letters
            f"+1 {area} {exchange[:2]}S {line}",
            f"+1 ({area}) {exchange}-{line} ext. {rng.between(1, 999)}",
            f"{area}.{exchange}.{line} x{rng.between(1, 99)}",
            national[:5],  # too short
        )
    )


def _clean_date(rng: _Draw, first_year: int, last_year: int) -> str:
    return f"{rng.between(first_year, last_year)}-{rng.between(1, 12):02d}-{rng.between(1, 28):02d}"


def _messy_date(rng: _Draw, first_year: int, last_year: int) -> object:
    year, month, day = rng.between(first_year, last_year), rng.between(1, 12), rng.between(1, 28)
    return rng.choice(
        (
            f"{month:02d}/{day:02d}/{year}",
            f"{day:02d}.{month:02d}.{year}",
            f"{year}-{month:02d}-{day:02d}T00:00:00+00:00",
            int((datetime(year, month, day, tzinfo=timezone.utc) - EPOCH).total_seconds()),
            f"{MONTHS[month - 1]} {day}, {year}",
            rng.choice(GARBAGE_DATES),
        )
    )


def _messy_email(rng: _Draw, local: str, domain: str) -> str:
    return rng.choice(
        (
            f"{local}@{domain}".upper(),
            f"  {local}@{domain} ",
            f"{local}@{rng.choice(DISPOSABLE_DOMAINS)}",
            f"{local}@",
            f"{local}.{domain}",
            f"{local}@@{domain}",
            f"{local.replace('.', ' ')}@{domain}",
        )
    )


def _respell(rng: _Draw, email: str) -> str:
    """The same email as a person would type it again: other case or stray spaces."""
    return rng.choice((email.upper(), email.title(), f" {email}", f"{email}  ", email.capitalize()))


def _timestamps(rng: _Draw, now: datetime) -> Callable[[], str]:
    window = int(UPDATED_WITHIN.total_seconds() * 1_000_000)

    def updated_at() -> str:
        return (now - timedelta(microseconds=rng.below(window))).strftime(TIMESTAMP_FORMAT)

    return updated_at


def generate_contacts(
    n: int, seed: int, *, now: datetime | None = None, companies: int = 50
) -> Iterator[Record]:
    """Yield ``n`` contacts (ids ``con_000001``...) generated from ``seed``.

    :param n: number of contacts.
    :param seed: the same seed gives the same contacts (except ``updated_at``, relative to ``now``).
    :param now: end of the 30 days over which ``updated_at`` is spread; default the current time.
    :param companies: number of companies that ``company_id`` may refer to.
    """
    rng = _Draw(f"contacts:{seed}")
    updated_at = _timestamps(rng, now or datetime.now(timezone.utc))
    # Recent people, so that some rows can be the same person entered again.
    recent: list[tuple[str, str, str]] = []
    for number in range(1, n + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}{number}".lower()
        domain = rng.choice(MAIL_DOMAINS)
        record: Record = {
            "id": f"con_{number:06d}",
            "external_id": f"CRM-{number:07d}",
            "first_name": first,
            "last_name": last,
            "email": f"{local}@{domain}",
            "phone": _clean_phone(rng),
            "company_id": f"cmp_{rng.between(1, companies):06d}" if companies else None,
            "birthday": _clean_date(rng, 1950, 2004),
            "signup_date": _clean_date(rng, 2015, 2024),
            "updated_at": updated_at(),
        }
        if rng.random() >= CLEAN_SHARE:
            for _ in range(rng.choice((1, 1, 2))):
                _spoil_contact(rng, record, local, domain, recent)
        elif len(recent) < 1000:
            recent.append((first, last, str(record["email"])))
        else:
            recent[rng.below(1000)] = (first, last, str(record["email"]))
        yield record


def _spoil_contact(
    rng: _Draw, record: Record, local: str, domain: str, recent: list[tuple[str, str, str]]
) -> None:
    flaw = rng.below(6)
    if flaw == 0:
        record["email"] = _messy_email(rng, local, domain)
    elif flaw == 1:
        record["phone"] = _messy_phone(rng)
    elif flaw == 2:
        record["birthday"] = _messy_date(rng, 1950, 2004)
    elif flaw == 3:
        record["signup_date"] = _messy_date(rng, 2015, 2024)
    elif flaw == 4:
        record.pop(rng.choice(("phone", "birthday", "last_name", "company_id", "email")), None)
    elif recent:
        record["first_name"], record["last_name"], email = rng.choice(recent)
        record["email"] = _respell(rng, email)


def generate_companies(n: int, seed: int, *, now: datetime | None = None) -> Iterator[Record]:
    """Yield ``n`` companies (ids ``cmp_000001``...) generated from ``seed``.

    :param n: number of companies.
    :param seed: the same seed gives the same companies (except ``updated_at``, relative to ``now``).
    :param now: end of the 30 days over which ``updated_at`` is spread; default the current time.
    """
    rng = _Draw(f"companies:{seed}")
    updated_at = _timestamps(rng, now or datetime.now(timezone.utc))
    for number in range(1, n + 1):
        domain = _company_domain(number)
        record: Record = {
            "id": f"cmp_{number:06d}",
            "external_id": f"ACC-{number:07d}",
            "name": f"{_company_word(number)} {rng.choice(COMPANY_SUFFIXES)}",
            "domain": domain,
            "phone": _clean_phone(rng),
            "founded": _clean_date(rng, 1900, 2023),
            "employees": rng.between(1, 50_000),
            "updated_at": updated_at(),
        }
        if rng.random() >= CLEAN_SHARE:
            _spoil_company(rng, record, domain, number)
        yield record


def _company_word(number: int) -> str:
    return COMPANY_WORDS[number % len(COMPANY_WORDS)]


def _company_domain(number: int) -> str:
    return f"{_company_word(number).lower()}-{number}.example.com"


def _spoil_company(rng: _Draw, record: Record, domain: str, number: int) -> None:
    flaw = rng.below(5)
    if flaw == 0:
        record["domain"] = rng.choice(
            (domain.upper(), f"www.{domain}", f"https://{domain}/", f" {domain}", f"{domain}.")
        )
    elif flaw == 1:
        record["phone"] = _messy_phone(rng)
    elif flaw == 2:
        record["founded"] = _messy_date(rng, 1900, 2023)
    elif flaw == 3:
        record["employees"] = rng.choice(
            (f"{rng.between(1, 49)},{rng.below(1000):03d}", "50-100", "unknown", None)
        )
    elif number > 1:
        # The same company entered again: an earlier company, its domain in capitals.
        earlier = rng.between(1, number - 1)
        record["name"], record["domain"] = _company_word(earlier), _company_domain(earlier).upper()
    else:
        del record["phone"]
