"""Replay: send dead letters back through their load path, then settle what came through.

A replay is two halves around the integration's usual load tasks (validation, upsert):

1. :func:`stage_replay` writes the payloads of the chosen entries as a staged batch, the same
   input the load tasks take from an extract, and marks the entries ``replayed`` under a replay
   id. The batch's XCom dict carries that id under ``"replay"``.
2. The load path runs. A record that fails again is dead-lettered as usual, which re-opens its
   entry (attempts + 1, last seen). When the last load task succeeds, it calls
   :func:`settle_replay`: the entries still ``replayed`` under that id came through and become
   ``resolved``.

Every load is idempotent (ledger, upsert on a key), so an entry replayed twice, by a replay that
died half-way and the next one, is still written once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reliable_api.deadletter.queue import DeadLetterQueue, redacted_fields, replayable_payload

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: The XCom key of a staged batch that says it is a replay.
REPLAY_KEY = "replay"


@dataclass
class ReplayBatch:
    """What a replay staged: the batch, and the entries that could not be sent back."""

    integration: str
    replay_id: str
    staged: dict[str, Any]
    entries: int = 0
    without_payload: list[int] = field(default_factory=list)
    #: entry id -> fields that were stored redacted and so are left out of the replayed record
    without_fields: dict[int, list[str]] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        """The staged batch's XCom dict, with the replay's id for :func:`settle_replay`."""
        replay = {"integration": self.integration, "id": self.replay_id, "entries": self.entries}
        return {**self.staged, REPLAY_KEY: replay}


def stage_replay(
    queue: DeadLetterQueue,
    *,
    integration: str,
    directory: str | ObjectStoragePath,
    replay_id: str,
    ids: Collection[int] = (),
    statuses: Collection[str] = ("open", "replayed"),
    limit: int = 100_000,
) -> ReplayBatch:
    """Stage the chosen entries' payloads under ``directory`` and mark them ``replayed``.

    Entries are marked only after the batch is written: a crash in between leaves them as they
    were, for the next replay.

    :param replay_id: who replays (e.g. ``replay:<dag>/<run>``); stored on the entries.
    :param ids: only these entries (default all of the integration in ``statuses``).
    """
    from reliable_api.staging.files import StagedWriter

    entries = queue.find(integration=integration, statuses=statuses, ids=ids, limit=limit)
    writer = StagedWriter(directory)
    batch = ReplayBatch(integration=integration, replay_id=replay_id, staged={})
    replayed: list[int] = []
    for entry in entries:
        payload = replayable_payload(entry)
        if payload is None:
            batch.without_payload.append(entry.id)
            continue
        if missing := redacted_fields(entry):
            batch.without_fields[entry.id] = missing
        writer.write([payload])
        replayed.append(entry.id)
    batch.staged = writer.close().to_xcom()
    if replayed:
        batch.entries = queue.transition("replayed", by=replay_id, integration=integration, ids=replayed)
    return batch


def settle_replay(queue: DeadLetterQueue, staged: Mapping[str, Any] | str | list[Any]) -> int:
    """Resolve the entries of the replay behind ``staged`` that did not fail again.

    :param staged: the input a load task was given; only a replay's batch dict settles anything.
    :returns: how many entries were resolved.
    """
    replay = staged.get(REPLAY_KEY) if isinstance(staged, Mapping) else None
    if not isinstance(replay, Mapping):
        return 0
    replay_id = str(replay["id"])
    return queue.transition(
        "resolved",
        by=replay_id,
        integration=str(replay["integration"]),
        statuses=("replayed",),
        marked_by=replay_id,
    )
