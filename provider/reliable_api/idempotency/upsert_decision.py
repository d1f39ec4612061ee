"""What an API upsert does next for one record: a pure function of its ledger entry and the answer.

The loop (:mod:`reliable_api.idempotency.api_upsert`) claims a record, asks :func:`decide`, carries
out the action (a request, a ledger write), turns what came back into an :class:`Answer` and asks
again, until the action ends the record's turn. No request, clock or database is involved here,
so every row below is a unit test.

===========================  ===========================================  ======================
answer                       ledger entry / resource                      next action
===========================  ===========================================  ======================
none (nothing sent yet)      created, same hash                           ``SKIP``
none                         created, other hash                          ``UPDATE``
none                         pending; a lookup, and a recovery (claimed   ``LOOKUP``
                             before: an earlier try may have sent it) or
                             ``check_before_create``
none, ``NOT_FOUND``          pending, recovery without a lookup, the      ``REPLAY_BATCH``
                             intent names a batch key
none, ``NOT_FOUND``          pending, recovery without a lookup, or no    ``CREATE``
                             batch create
none, ``NOT_FOUND``          pending, batch create                        ``QUEUE``
``FOUND``, ``EXISTS``        (the API has it)                             ``ADOPT``
``CREATED``                                                               ``RECORD``
``LOST`` (5xx, timeout,      no ``Idempotency-Key`` support, a lookup     ``LOOKUP``, after a
reset: it may exist now)                                                  pause, within budget
``LOST``                     with keys (the client resent it under its    ``FAIL``: the next
                             key already), or neither keys nor lookup     try resumes
``IN_FLIGHT``, ``NOT_DONE``  (another request holds it; a batch said      ``WAIT``: again later
                             "not created, try again")                    in this try
``REJECTED``, ``AMBIGUOUS``  (400/404/422; two remote records match)      ``DEAD_LETTER``
===========================  ===========================================  ======================
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from reliable_api.core.keys import is_batch_key

if TYPE_CHECKING:
    from reliable_api.idempotency.api_resource import ApiResource
    from reliable_api.idempotency.ledger import LedgerEntry


class Answer(enum.Enum):
    """What the last step learnt about the record."""

    NONE = "none"  # nothing asked yet: only the ledger speaks
    FOUND = "found"  # the lookup found exactly one remote record
    NOT_FOUND = "not_found"  # the lookup found none
    AMBIGUOUS = "ambiguous"  # the lookup found several: which one is ours cannot be told
    CREATED = "created"  # the create answered 2xx with an id
    EXISTS = "exists"  # the create answered 409 already exists, with the id (named or looked up)
    LOST = "lost"  # the create failed transiently: it may or may not have happened
    IN_FLIGHT = "in_flight"  # 409: a request with its key is still running
    NOT_DONE = "not_done"  # a batch's answer said this record was not created (429/5xx)
    REJECTED = "rejected"  # 400/404/422: this record cannot be written as it is


class Action(enum.Enum):
    """What to do next with the record."""

    SKIP = "skip"
    UPDATE = "update"
    LOOKUP = "lookup"
    CREATE = "create"
    QUEUE = "queue"
    REPLAY_BATCH = "replay_batch"
    ADOPT = "adopt"
    RECORD = "record"
    WAIT = "wait"
    DEAD_LETTER = "dead_letter"
    FAIL = "fail"


_SETTLED = {
    Answer.FOUND: Action.ADOPT,
    Answer.EXISTS: Action.ADOPT,
    Answer.CREATED: Action.RECORD,
    Answer.IN_FLIGHT: Action.WAIT,
    Answer.NOT_DONE: Action.WAIT,
    Answer.REJECTED: Action.DEAD_LETTER,
    Answer.AMBIGUOUS: Action.DEAD_LETTER,
}


def decide(
    entry: LedgerEntry, payload_hash: str, resource: ApiResource, answer: Answer = Answer.NONE
) -> Action:
    """The next action for a claimed record (see the module's table).

    :param entry: the record's ledger entry as claimed.
    :param payload_hash: the content hash of the record being written.
    :param resource: what the API can do (keys, lookup, batch create).
    :param answer: what the last step learnt; :attr:`Answer.NONE` before the first.
    """
    if answer in _SETTLED:
        return _SETTLED[answer]
    if answer is Answer.LOST:
        return (
            Action.LOOKUP if resource.lookup_path and not resource.supports_idempotency_keys else Action.FAIL
        )
    if answer is Answer.NONE:
        if entry.status == "created" and entry.remote_id is not None:
            return Action.SKIP if entry.payload_hash == payload_hash else Action.UPDATE
        recovering = entry.attempts > 1
        if resource.lookup_path and (recovering or resource.check_before_create):
            return Action.LOOKUP
    return _create(entry, resource)


def _create(entry: LedgerEntry, resource: ApiResource) -> Action:
    """How to create a record that is not (known to be) remote yet."""
    # A pending intent claimed before, with no lookup to ask, may have been sent: only its own
    # key again tells, alone or with the rest of its batch. Never a blind create in a new batch.
    blind_recovery = entry.attempts > 1 and not resource.lookup_path
    if blind_recovery and is_batch_key(entry.idempotency_key):
        return Action.REPLAY_BATCH
    if resource.batch_create_path is None or blind_recovery:
        return Action.CREATE
    return Action.QUEUE
