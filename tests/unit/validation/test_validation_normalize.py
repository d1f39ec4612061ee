from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from reliable_api.testing.sandbox.data import generate_contacts
from reliable_api.validation.contract import Contract, packaged_contract
from reliable_api.validation.normalize import ContractNormalizer, normalize_records

CONTACTS = packaged_contract("contacts", check_expectations=False)
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def contacts() -> list[dict[str, Any]]:
    return list(generate_contacts(3000, seed=11, now=NOW))


def test_sandbox_contacts_split_into_good_and_rejected_with_nothing_dropped(
    contacts: list[dict[str, Any]],
) -> None:
    batch = normalize_records(contacts, CONTACTS)
    assert batch.total == len(batch.good) + len(batch.rejected) == len(contacts)
    # About 30% of the sandbox's rows are spoilt, some only in ways normalizing repairs (case,
    # padding, date formats): fewer than 30% are rejected, and a fair share are.
    assert 0.05 * len(contacts) < len(batch.rejected) < 0.3 * len(contacts)
    for rejected in batch.rejected:
        assert rejected.rejections
        assert all(rejection.reason for rejection in rejected.rejections)
        assert contacts[rejected.index] is rejected.record
    good_ids = [record["id"] for record in batch.good]
    rejected_ids = [rejected.record["id"] for rejected in batch.rejected]
    assert sorted(good_ids + rejected_ids) == [record["id"] for record in contacts]
    assert set(batch.reasons()) >= {
        "invalid_email",
        "disposable_email",
        "phone_contains_letters",
        "not_a_date",
    }


def test_good_contacts_are_normalized(contacts: list[dict[str, Any]]) -> None:
    batch = normalize_records(contacts, CONTACTS)
    for record in batch.good:
        assert list(record) == [spec.name for spec in CONTACTS.fields]
        assert record["email"] == record["email"].strip().lower()
        assert record["phone"] is None or record["phone"].startswith("+")
        assert record["birthday"] is None or len(record["birthday"]) == 10
        assert record["updated_at"].endswith("Z")


def test_required_and_optional_missing_values() -> None:
    base = next(generate_contacts(1, seed=1, now=NOW))
    no_email = {key: value for key, value in base.items() if key != "email"}
    blank_phone = {**base, "phone": "  "}
    batch = normalize_records([no_email, blank_phone], CONTACTS)
    assert [r.rejections[0].reason for r in batch.rejected] == ["missing_required"]
    assert batch.rejected[0].rejections[0].field == "email"
    assert batch.good[0]["phone"] is None


def test_every_failing_field_is_reported() -> None:
    base = next(generate_contacts(1, seed=1, now=NOW))
    batch = normalize_records([{**base, "email": "x@", "phone": "555-CALL", "birthday": "N/A"}], CONTACTS)
    assert Counter(r.field for r in batch.rejected[0].rejections) == {"email": 1, "phone": 1, "birthday": 1}


@pytest.mark.parametrize(
    ("policy", "good", "extra"), [("keep", 1, {"nickname": "Ada"}), ("drop", 1, {}), ("reject", 0, None)]
)
def test_undeclared_fields_follow_the_contract(policy: str, good: int, extra: dict[str, str] | None) -> None:
    contract: Contract = replace(CONTACTS, undeclared_fields=policy)
    base = next(generate_contacts(1, seed=1, now=NOW))
    batch = normalize_records([{**base, "nickname": "Ada"}], contract)
    assert len(batch.good) == good
    if extra is None:
        assert batch.rejected[0].rejections[0].reason == "undeclared_field"
        assert batch.rejected[0].rejections[0].field == "nickname"
    else:
        assert {key: batch.good[0][key] for key in batch.good[0] if key == "nickname"} == extra


def test_an_empty_batch() -> None:
    batch = normalize_records([], CONTACTS, processes=2)
    assert (batch.good, batch.rejected) == ([], [])


def test_the_cache_and_two_processes_change_nothing_but_speed(contacts: list[dict[str, Any]]) -> None:
    plain = normalize_records(contacts, CONTACTS, cache_size=0)
    cached = normalize_records(contacts, CONTACTS)
    forked = normalize_records(contacts, CONTACTS, processes=2)
    assert plain == cached == forked


def test_the_cache_serves_repeated_values_and_stays_bounded(contacts: list[dict[str, Any]]) -> None:
    normalizer = ContractNormalizer(CONTACTS, cache_size=100)
    first = normalizer.normalize(contacts)
    assert normalizer.normalize(contacts) == first
    stats = normalizer.stats()
    assert stats["first_name"].hit_rate > 0.9
    assert stats["id"].hit_rate == 0.0
