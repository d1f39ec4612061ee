"""``decide()``: every row of its table, as a pure function of ledger entry, resource and answer."""

from __future__ import annotations

from typing import Any

import pytest

from reliable_api.core.keys import BATCH_KEY_PREFIX
from reliable_api.idempotency.api_resource import ApiResource
from reliable_api.idempotency.ledger import LedgerEntry
from reliable_api.idempotency.upsert_decision import Action, Answer, decide

HASH = "h1"


def resource(*, keys: bool = True, lookup: bool = True, batch: bool = False, **extra: Any) -> ApiResource:
    return ApiResource(
        natural_key=("email",),
        create_path="/c",
        update_path="/c/{id}",
        lookup_path="/c/search" if lookup else None,
        supports_idempotency_keys=keys,
        batch_create_path="/c/batch" if batch else None,
        allow_unsafe=not keys and not lookup,
        **extra,
    )


def pending(*, attempts: int = 1, key: str = "rapi-1") -> LedgerEntry:
    return LedgerEntry("a@x.io", "pending", HASH, None, key, attempts)


def created(payload_hash: str = HASH) -> LedgerEntry:
    return LedgerEntry("a@x.io", "created", payload_hash, "id-1", None, 1)


def test_created_with_the_same_hash_is_skipped() -> None:
    assert decide(created(), HASH, resource()) is Action.SKIP


def test_created_with_another_hash_is_updated() -> None:
    assert decide(created("old"), HASH, resource()) is Action.UPDATE


@pytest.mark.parametrize(
    ("entry", "spec", "action"),
    [
        (pending(), resource(), Action.LOOKUP),  # check_before_create
        (pending(), resource(check_before_create=False), Action.CREATE),
        (pending(attempts=2), resource(check_before_create=False), Action.LOOKUP),  # a recovery
        (pending(), resource(lookup=False), Action.CREATE),
        (pending(attempts=2), resource(lookup=False), Action.CREATE),  # the same key again
        (pending(), resource(batch=True, check_before_create=False), Action.QUEUE),
        (pending(attempts=2), resource(lookup=False, batch=True), Action.CREATE),
        (
            pending(attempts=2, key=f"{BATCH_KEY_PREFIX}x"),
            resource(lookup=False, batch=True),
            Action.REPLAY_BATCH,
        ),
    ],
    ids=[
        "lookup-first",
        "create-at-once",
        "recovery-looks-up",
        "keys-only-creates",
        "keys-only-recovery-resends",
        "batch-queues",
        "batch-keys-only-recovery-alone",
        "batch-keys-only-recovery-replays-batch",
    ],
)
def test_a_pending_intent_before_any_request(entry: LedgerEntry, spec: ApiResource, action: Action) -> None:
    assert decide(entry, HASH, spec) is action


@pytest.mark.parametrize(("batch", "action"), [(False, Action.CREATE), (True, Action.QUEUE)])
def test_not_found_creates(batch: bool, action: Action) -> None:
    assert decide(pending(attempts=3), HASH, resource(batch=batch), Answer.NOT_FOUND) is action


@pytest.mark.parametrize(
    ("answer", "action"),
    [
        (Answer.FOUND, Action.ADOPT),
        (Answer.EXISTS, Action.ADOPT),
        (Answer.CREATED, Action.RECORD),
        (Answer.IN_FLIGHT, Action.WAIT),
        (Answer.NOT_DONE, Action.WAIT),
        (Answer.REJECTED, Action.DEAD_LETTER),
        (Answer.AMBIGUOUS, Action.DEAD_LETTER),
    ],
)
def test_answers_that_settle_the_record(answer: Answer, action: Action) -> None:
    for spec in (resource(), resource(keys=False), resource(lookup=False, batch=True)):
        assert decide(pending(), HASH, spec, answer) is action


@pytest.mark.parametrize(
    ("keys", "lookup", "action"),
    [
        (False, True, Action.LOOKUP),  # it may have been created: ask before creating again
        (True, True, Action.FAIL),  # the client resent it under its key already
        (True, False, Action.FAIL),
        (False, False, Action.FAIL),  # no way to tell: the next try's recovery decides
    ],
)
def test_a_lost_answer(keys: bool, lookup: bool, action: Action) -> None:
    for batch in (False, True):
        assert decide(pending(), HASH, resource(keys=keys, lookup=lookup, batch=batch), Answer.LOST) is action
