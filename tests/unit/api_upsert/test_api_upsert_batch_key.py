"""A batch's ``Idempotency-Key``: the same members give the same key, anything else another."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reliable_api.core.keys import (
    BATCH_KEY_PREFIX,
    KEY_SEPARATOR,
    batch_idempotency_key,
    idempotency_key,
    is_batch_key,
)

MEMBERS = [("a@x.io", "h1", "k1"), ("b@x.io", "h2", "k2"), ("c@x.io", "h3", "k3")]

members = st.lists(
    st.tuples(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1)),
    min_size=1,
    max_size=8,
    unique_by=lambda member: member[0],
)


@given(members=members, data=st.data())
def test_the_order_of_the_members_does_not_matter(
    members: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(members))
    assert batch_idempotency_key("crm", shuffled) == batch_idempotency_key("crm", members)


def test_every_part_of_a_member_and_the_integration_change_the_key() -> None:
    key = batch_idempotency_key("crm", MEMBERS)
    others = [
        batch_idempotency_key("other", MEMBERS),
        batch_idempotency_key("crm", MEMBERS[:2]),  # one fewer
        batch_idempotency_key("crm", [*MEMBERS, ("d@x.io", "h4", "k4")]),  # one more
        batch_idempotency_key("crm", [MEMBERS[0], MEMBERS[1], ("c@x.io", "changed", "k3")]),  # new content
        batch_idempotency_key("crm", [MEMBERS[0], MEMBERS[1], ("c@x.io", "h3", "retry")]),  # new intent
    ]
    assert len({key, *others}) == 1 + len(others)


def test_composite_keys_cannot_collide_by_their_separator() -> None:
    joined = batch_idempotency_key("crm", [(f"a{KEY_SEPARATOR}h{KEY_SEPARATOR}k", "h2", "k2")])
    split = batch_idempotency_key("crm", [("a", "h", "k"), ("h2", "k2", "")])
    assert joined != split


def test_a_batch_key_fits_the_ledger_and_is_told_apart_from_a_record_key() -> None:
    key = batch_idempotency_key("crm", MEMBERS)
    assert key.startswith(BATCH_KEY_PREFIX)
    assert len(key) <= 64  # the ledger's idempotency_key column
    assert is_batch_key(key)
    assert not is_batch_key(idempotency_key("crm", "a@x.io", "h1"))
    assert not is_batch_key(None)
