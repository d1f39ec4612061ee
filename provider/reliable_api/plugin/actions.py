"""What the page's buttons do; each checks the user's right to edit the entry's DAG first.

An action on an entry in the wrong state changes nothing and says why (a 409 on the pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reliable_api.deadletter.queue import DeadLetter, DeadLetterQueue, redacted_fields
from reliable_api.exceptions import ConfigurationError
from reliable_api.plugin.access import Access
from reliable_api.plugin.replay import ReplayUnavailable, replay_dag_id, trigger_replay

#: The statuses a person may discard or replay from (the queue's own rule for discard).
ACTIONABLE = ("open", "replayed")


@dataclass(frozen=True)
class Outcome:
    """Whether the action happened, and what to tell the user (the run id for a replay)."""

    done: bool
    message: str
    #: the replay DAG run an accepted replay created
    run_id: str | None = None


def discard(queue: DeadLetterQueue, access: Access, entry: DeadLetter) -> Outcome:
    """Discard ``entry`` as ``access``'s user.

    :raises HTTPException: 403 when the user may not edit the entry's DAG.
    """
    access.require("PUT", entry.dag_id, f"discard dead letter {entry.id}")
    if entry.status not in ACTIONABLE:
        return _wrong_state(entry, "discarded")
    # The queue moves only entries still open or replayed: a replay that resolved it meanwhile wins.
    if not queue.transition("discarded", by=access.name, ids=[entry.id]):
        return _wrong_state(queue.get(entry.id), "discarded")
    return Outcome(True, f"dead letter {entry.id} discarded by {access.name}")


def replay(access: Access, entry: DeadLetter) -> Outcome:
    """Trigger the replay DAG of ``entry``'s integration for it, as ``access``'s user.

    :raises HTTPException: 403 when the user may not edit the entry's DAG or run the replay DAG.
    """
    from fastapi import HTTPException, status

    access.require("PUT", entry.dag_id, f"replay dead letter {entry.id}")
    if entry.status not in ACTIONABLE:
        return _wrong_state(entry, "replayed")
    if entry.payload is None:
        return Outcome(False, f"dead letter {entry.id} has no payload: there is nothing to send back")
    dag_id = replay_dag_or_none(entry.integration)
    if dag_id is None:
        return Outcome(
            False,
            f"no replay DAG for integration {entry.integration!r}: name one in [reliable_api] replay_dags "
            f"or deploy a DAG called {entry.integration}_replay; nothing changed",
        )
    if not access.may_trigger(dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{access.name} may not trigger DAG {dag_id!r}")
    try:
        run = trigger_replay(dag_id, [entry.id], user_name=access.name)
    except ReplayUnavailable as error:
        return Outcome(False, f"{error}; nothing changed")
    waits = " (the DAG is paused: the run waits until it is unpaused)" if run.paused else ""
    return Outcome(True, f"replay run {run.run_id} of {dag_id} queued{waits}", run_id=run.run_id)


def replay_dag_or_none(integration: str) -> str | None:
    """The integration's replay DAG; ``None`` also for a broken ``replay_dags`` setting."""
    try:
        return replay_dag_id(integration)
    except ConfigurationError:
        return None


def entry_json(entry: DeadLetter) -> dict[str, Any]:
    """An entry for the JSON endpoints: every field, the failure's reason and field, what is redacted."""
    from reliable_api.plugin.reasons import failure_of

    failure = failure_of(entry)
    extra = {"reason": failure.reason, "field": failure.field, "redacted_fields": redacted_fields(entry)}
    return {**entry.to_dict(), **extra}


def _wrong_state(entry: DeadLetter, action: str) -> Outcome:
    return Outcome(
        False,
        f"dead letter {entry.id} is {entry.status}: only {' or '.join(ACTIONABLE)} entries can be "
        f"{action}; nothing changed",
    )
