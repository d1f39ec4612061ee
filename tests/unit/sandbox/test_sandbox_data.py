from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import phonenumbers
import pytest
from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

from reliable_api.testing.sandbox.data import TIMESTAMP_FORMAT, Record, generate_companies, generate_contacts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CONTACT_FIELDS = ("id", "external_id", "first_name", "last_name", "email", "phone", "company_id", "birthday",
                  "signup_date", "updated_at")  # fmt: skip


@pytest.fixture(scope="module")
def contacts() -> list[Record]:
    return list(generate_contacts(20_000, seed=7, now=NOW))


def is_valid_email(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def is_e164(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\+[1-9]\d{7,14}", value):
        return False
    return phonenumbers.is_valid_number(phonenumbers.parse(value, None))


def is_iso_date(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:  # e.g. the garbage "2021-13-45"
        return False
    return True


def is_clean(contact: Record, seen_emails: set[str]) -> bool:
    email = contact.get("email")
    return (
        all(contact.get(field) is not None for field in CONTACT_FIELDS)
        and isinstance(email, str)
        and email == email.strip().lower()
        and is_valid_email(email)
        and email.rpartition("@")[2] not in blocklist
        and email not in seen_emails
        and is_e164(contact["phone"])
        and is_iso_date(contact["birthday"])
        and is_iso_date(contact["signup_date"])
    )


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = list(generate_contacts(300, seed=1, now=NOW))
    assert first == list(generate_contacts(300, seed=1, now=NOW))
    assert first != list(generate_contacts(300, seed=2, now=NOW))
    assert list(generate_companies(50, seed=1, now=NOW)) == list(generate_companies(50, seed=1, now=NOW))


def test_first_rows_do_not_depend_on_the_row_count() -> None:
    assert (
        list(generate_contacts(100, seed=3, now=NOW)) == list(generate_contacts(1000, seed=3, now=NOW))[:100]
    )


def test_is_a_lazy_stream() -> None:
    rows = generate_contacts(10**9, seed=1, now=NOW)
    assert [row["id"] for row in itertools.islice(rows, 3)] == ["con_000001", "con_000002", "con_000003"]


def test_about_seventy_percent_are_clean(contacts: list[Record]) -> None:
    seen: set[str] = set()
    clean = 0
    for contact in contacts:
        clean += is_clean(contact, seen)
        if isinstance(contact.get("email"), str):
            seen.add(str(contact["email"]).strip().lower())
    assert 0.65 <= clean / len(contacts) <= 0.75


def test_ids_and_natural_keys_are_unique_and_ordered(contacts: list[Record]) -> None:
    ids = [contact["id"] for contact in contacts]
    assert ids == [f"con_{n:06d}" for n in range(1, len(contacts) + 1)]
    assert len({contact["external_id"] for contact in contacts}) == len(contacts)


def test_updated_at_spreads_over_the_last_thirty_days(contacts: list[Record]) -> None:
    times = [
        datetime.strptime(str(c["updated_at"]), TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
        for c in contacts
    ]
    assert all(NOW - timedelta(days=30) <= moment <= NOW for moment in times)
    days = Counter((NOW - moment).days for moment in times)
    assert set(days) == set(range(30))
    assert len({c["updated_at"] for c in contacts}) == len(contacts)


def test_emails_are_messy_in_every_declared_way(contacts: list[Record]) -> None:
    emails = [str(c["email"]) for c in contacts if "email" in c]
    assert len(emails) < len(contacts), "some contacts have no email"
    assert any(e != e.strip() for e in emails), "padded"
    assert any(e.strip() == e.strip().upper() and "@" in e for e in emails), "upper-case"
    assert any(is_valid_email(e) and e.rpartition("@")[2] in blocklist for e in emails), "disposable"
    assert sum(not is_valid_email(e.strip()) for e in emails) > 100, "malformed"


def test_the_same_person_appears_more_than_once(contacts: list[Record]) -> None:
    spellings: dict[str, set[str]] = {}
    for contact in contacts:
        if "email" in contact:
            spellings.setdefault(str(contact["email"]).strip().lower(), set()).add(str(contact["email"]))
    respelt = [variants for variants in spellings.values() if len(variants) > 1]
    assert len(respelt) > 100


def test_phones_are_messy_in_every_declared_way(contacts: list[Record]) -> None:
    phones = [str(c["phone"]) for c in contacts if "phone" in c]
    assert len(phones) < len(contacts), "some contacts have no phone"
    assert any(re.fullmatch(r"\d{10}", p) for p in phones), "no country code"
    assert any(re.search(r"[A-Z]", p) for p in phones), "letters"
    assert any(re.search(r"(ext\.|x)\s?\d+$", p) for p in phones), "extension"
    assert any(re.fullmatch(r"\d{5}", p) for p in phones), "too short"
    assert sum(is_e164(p) for p in phones) / len(phones) > 0.8


@pytest.mark.parametrize(
    ("form", "pattern"),
    [
        ("MM/DD/YYYY", r"\d{2}/\d{2}/\d{4}"),
        ("DD.MM.YYYY", r"\d{2}\.\d{2}\.\d{4}"),
        ("ISO date", r"\d{4}-\d{2}-\d{2}"),
        ("ISO date-time", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00"),
        ("month name", r"[A-Z][a-z]+ \d{1,2}, \d{4}"),
        ("garbage", r"not a date|yesterday|N/A|0000-00-00|"),
    ],
)
def test_dates_come_in_every_declared_form(contacts: list[Record], form: str, pattern: str) -> None:
    values = [c[field] for c in contacts for field in ("birthday", "signup_date") if field in c]
    assert any(isinstance(v, str) and re.fullmatch(pattern, v) for v in values), form


def test_dates_include_epoch_seconds(contacts: list[Record]) -> None:
    assert any(isinstance(c.get("birthday"), int) for c in contacts)


def test_companies_have_messy_domains_and_duplicates() -> None:
    companies = list(generate_companies(2000, seed=7, now=NOW))
    domains = [str(c["domain"]) for c in companies]
    normalized = Counter(d.strip().lower() for d in domains)
    assert any(count > 1 for count in normalized.values()), "duplicate companies"
    assert any(d.startswith(("www.", "https://")) for d in domains)
    assert any(isinstance(c["employees"], str) for c in companies)
    assert [c["id"] for c in companies[:2]] == ["cmp_000001", "cmp_000002"]
