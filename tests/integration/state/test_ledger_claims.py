"""The ledger: intents, claims and leases, also with several processes at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine


def test_an_unknown_key_gets_a_pending_intent(state_db: Engine, integration: str) -> None:
    ledger = Ledger(state_db, integration, owner="a")
    entry = ledger.claim("k", "h1", "idem-1")
    assert entry is not None
    assert (entry.status, entry.payload_hash, entry.idempotency_key, entry.attempts) == (
        "pending",
        "h1",
        "idem-1",
        1,
    )
    assert ledger.get_many(["k", "other"]) == {"k": entry}


def test_a_held_claim_excludes_other_owners_until_released(state_db: Engine, integration: str) -> None:
    first, second = Ledger(state_db, integration, owner="a"), Ledger(state_db, integration, owner="b")
    assert first.claim("k", "h1", "idem-1") is not None
    assert second.claim("k", "h1", "idem-1") is None
    first.release("k")
    again = second.claim("k", "h2", "idem-2")
    assert again is not None
    # The intent keeps the key it may have been sent with; the claim count shows a possible send.
    assert (again.payload_hash, again.idempotency_key, again.attempts) == ("h1", "idem-1", 2)


def test_the_same_owner_takes_its_claim_back_and_an_expired_lease_is_free(
    state_db: Engine, integration: str
) -> None:
    crashed = Ledger(state_db, integration, owner="task-1", lease_seconds=0.0)
    assert crashed.claim("k", "h", "i") is not None
    assert Ledger(state_db, integration, owner="task-1").claim("k", "h", "i") is not None
    assert crashed.claim("j", "h", "i") is not None
    assert Ledger(state_db, integration, owner="other").claim("j", "h", "i") is not None


def test_created_entries_keep_the_remote_id_and_hash(state_db: Engine, integration: str) -> None:
    ledger = Ledger(state_db, integration, owner="a")
    ledger.claim("k", "h1", "idem-1")
    ledger.mark_created("k", "con_1", "h1")
    entry = ledger.get_many(["k"])["k"]
    assert (entry.status, entry.remote_id, entry.payload_hash, entry.idempotency_key) == (
        "created",
        "con_1",
        "h1",
        None,
    )
    assert Ledger(state_db, integration, owner="b").claim("k", "h2", "idem-2") is not None


def _claim_all(
    url: str, integration: str, owner: str, keys: list[str], results: multiprocessing.Queue[list[str]]
) -> None:
    ledger = Ledger(make_engine(url), integration, owner=owner)
    results.put([key for key in keys if ledger.claim(key, "h", f"i-{key}") is not None])


def test_concurrent_processes_never_win_the_same_claim(
    state_url: str, state_db: Engine, integration: str, run_processes: Callable[..., list[Any]]
) -> None:
    keys = [f"key-{n}" for n in range(150)]
    won = run_processes(_claim_all, *[(state_url, integration, f"owner-{n}", keys) for n in range(3)])
    claimed = [key for keys_won in won for key in keys_won]
    assert sorted(claimed) == sorted(keys)  # every key claimed once, by exactly one process
    assert all(entry.attempts == 1 for entry in Ledger(state_db, integration).get_many(keys).values())


def test_keys_differing_in_case_or_trailing_space_are_distinct(state_db: Engine, integration: str) -> None:
    # MySQL's default collations would make these one key; the ledger compares them exactly.
    ledger = Ledger(state_db, integration, owner="a")
    keys = ["ann@x.io", "Ann@x.io", "ann@x.io ", "änné"]
    for n, key in enumerate(keys):
        assert ledger.claim(key, f"h{n}", f"i{n}") is not None
    entries = ledger.get_many(keys)
    assert {key: entry.payload_hash for key, entry in entries.items()} == {
        key: f"h{n}" for n, key in enumerate(keys)
    }
