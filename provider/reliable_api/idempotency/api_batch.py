"""Batch creates of an API upsert: a batch's key, its request, and each record's part of the answer.

New records are queued and sent ``batch_size`` per request. Every member's intent names the
batch's ``Idempotency-Key``, derived from the members' keys, hashes and own intent keys, before
the request. Per record of the multi-status answer: 2xx writes the remote id, 409
``already_exists`` adopts, 400/404/422 dead-letters, 429/5xx stays pending and goes again in a
new batch under a new key. A batch lost to a crash is recovered per record by the lookup, or
without one by sending the same members again under the batch's key (the API replays its answer).
A batch whose answer was lost (5xx, timeout, reset) by an API without keys is resolved at once:
each member looked up, adopted if found, queued again if not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reliable_api.core.keys import batch_idempotency_key, idempotency_key
from reliable_api.exceptions import ConfigurationError, InFlightConflict, RecordRejected, TransientError
from reliable_api.http.classify import classify_status
from reliable_api.idempotency.api_calls import KEY_REUSED, Outcome, dig, explained, json_body, remote_id
from reliable_api.idempotency.upsert_decision import Action, Answer, decide

if TYPE_CHECKING:
    from reliable_api.exceptions import ReliableApiError
    from reliable_api.idempotency.api_calls import Claimed, ResourceCalls
    from reliable_api.idempotency.ledger import Ledger
    from reliable_api.idempotency.retry_budget import RetryBudget

#: Carries one claimed record on from an outcome (the upsert loop's own step).
Resolve = Callable[["Claimed", Outcome], None]


class BatchWriter:
    """Queue new records and create them a batch at a time.

    :param calls: sends the requests.
    :param ledger: the integration's ledger.
    :param budget: bounds the rounds of resolving a lost batch.
    :param resolve: takes each member the answer did not settle on (adopt, dead-letter, wait).
    :param step: the crash-test hook, once per batch request.
    """

    def __init__(
        self,
        calls: ResourceCalls,
        ledger: Ledger,
        budget: RetryBudget,
        resolve: Resolve,
        step: Callable[[str], None],
    ) -> None:
        self.calls = calls
        self.resource = calls.resource
        self.ledger = ledger
        self.budget = budget
        self.resolve = resolve
        self.step = step
        self.queued: list[Claimed] = []
        self.replays: dict[str, list[Claimed]] = {}

    def held(self) -> list[Claimed]:
        """The records claimed for a batch and not sent yet."""
        return [*self.queued, *(claimed for group in self.replays.values() for claimed in group)]

    def replay(self, claimed: Claimed) -> None:
        """Keep a record whose crashed try sent it in a batch, to send that batch again."""
        self.replays.setdefault(str(claimed[1].idempotency_key), []).append(claimed)

    def send_full(self) -> None:
        """Send a batch if a full one is queued."""
        while len(self.queued) >= self.resource.batch_size:
            self._send_queued()

    def send_all(self) -> None:
        """Send every queued record, then the batches a crashed try sent, each under its own key."""
        while self.queued:
            self._send_queued()
        replays, self.replays = self.replays, {}
        for key, members in replays.items():
            self._send(key, members)

    def _send_queued(self) -> None:
        """Create the next queued records in one batch, under a key derived from its members."""
        members = self.queued[: self.resource.batch_size]
        self.queued = self.queued[len(members) :]
        parts = [(item.key, item.payload_hash, entry.idempotency_key or "") for item, entry in members]
        key = batch_idempotency_key(self.ledger.integration, parts)
        self.ledger.assign_key(
            (item.key for item, _ in members), key
        )  # the intents name it before it is sent
        self._send(key, members)

    def _send(self, key: str, members: list[Claimed]) -> None:
        try:
            self._post(key, sorted(members, key=lambda claimed: claimed[0].key))  # same batch, same body
        except BaseException:
            # The intents stay as they are (pending, or settled): the next try recovers them.
            self.ledger.release_many(item.key for item, _ in members)
            raise

    def _post(self, key: str, members: list[Claimed]) -> None:
        resource = self.resource
        assert resource.batch_create_path is not None
        records = [dict(item.record) for item, _ in members]
        body = records if resource.batch_records_field is None else {resource.batch_records_field: records}
        headers = {"Idempotency-Key": key} if resource.supports_idempotency_keys else None
        self.step("before_create")
        try:
            response = self.calls.request("POST", resource.batch_create_path, json=body, headers=headers)
        except RecordRejected as error:  # the whole request: no record of it was created
            refused = explained(error)
            if refused.reason != KEY_REUSED:  # unless the key's first request was another batch
                self.ledger.settle(
                    {}, {item.key: _next_intent(item.key, item.payload_hash, key) for item, _ in members}
                )
            for claimed in members:
                self.resolve(claimed, Outcome(Answer.REJECTED, error=refused))
            return
        except InFlightConflict as error:  # a crashed try's request with this key is still running
            for claimed in members:
                self.resolve(claimed, Outcome(Answer.IN_FLIGHT, error=error))
            return
        except TransientError as error:
            self._lost(members, error)
            return
        self.step("after_create")
        self._settle(key, members, self._results(json_body(response), len(members)))

    def _lost(self, members: list[Claimed], error: TransientError) -> None:
        """The batch failed after the client's retries: it may have been created, in part or whole."""
        item, entry = members[0]
        if decide(entry, item.payload_hash, self.resource, Answer.LOST) is not Action.LOOKUP:
            raise error
        self.budget.pause([item.key for item, _ in members], error)
        self.calls.counts.resolved_lost += len(members)
        for claimed in members:
            self.resolve(claimed, self.calls.lookup(claimed[0].record))

    def _results(self, body: Any, count: int) -> list[Mapping[str, Any]]:
        """The per-record results, in request order.

        :raises ConfigurationError: when the response does not hold one result per record where
            the resource says; the records stay pending, so the next try recovers them.
        """
        resource = self.resource
        found = dig(body, resource.batch_results_path)
        results = found if isinstance(found, list) else []
        if len(results) != count or not all(isinstance(result, Mapping) for result in results):
            raise ConfigurationError(
                f"the batch response has no list of {count} result objects at "
                f"batch_results_path={resource.batch_results_path!r}"
            )
        if resource.batch_index_field is None:
            return results
        by_index = {result.get(resource.batch_index_field): result for result in results}
        if set(by_index) != set(range(count)):
            raise ConfigurationError(
                f"the batch results' {resource.batch_index_field!r} members are not 0 to {count - 1}"
            )
        return [by_index[index] for index in range(count)]

    def _settle(self, key: str, members: list[Claimed], results: list[Mapping[str, Any]]) -> None:
        """Write every result to the ledger at once, then handle the records that were not created."""
        resource = self.resource
        created: dict[str, tuple[str, str]] = {}
        failed: list[tuple[Claimed, ReliableApiError]] = []
        for (item, entry), result in zip(members, results, strict=True):
            status = result.get(resource.batch_status_field)
            if isinstance(status, bool) or not isinstance(status, int):
                raise ConfigurationError(
                    f"a batch result has no HTTP status at batch_status_field={resource.batch_status_field!r}"
                )
            error = classify_status(
                status,
                headers={},
                body=json.dumps(result),
                method="POST",
                url=resource.batch_create_path,
                attempts=None,
                max_retry_after=0.0,
            )
            if error is None:
                created[item.key] = (
                    remote_id(result, resource.batch_id_field, "batch result", "batch_id_field"),
                    item.payload_hash,
                )
            elif isinstance(error, (TransientError, RecordRejected)):
                failed.append(((item, entry), error))
            else:
                raise error  # 401/403: every record would fail
        # The API said these were not created: pending again as never sent, under new intent
        # keys, so neither a crash nor their next batch ties them to the key already answered.
        unsent = {item.key: _next_intent(item.key, item.payload_hash, key) for (item, _), _ in failed}
        self.ledger.settle(created, unsent)
        self.calls.counts.created += len(created)
        self.step("ledger_written")
        for claimed, error in failed:
            if isinstance(error, RecordRejected):
                self.resolve(claimed, self.calls.refused(claimed[0].record, error))
            else:  # 429, 5xx, its key in flight: later, in a new batch
                self.resolve(claimed, Outcome(Answer.NOT_DONE, error=error))


def _next_intent(key: str, payload_hash: str, failed_batch_key: str) -> tuple[str, str]:
    """The (payload hash, idempotency key) of a record's intent after its batch did not create it."""
    return payload_hash, idempotency_key(failed_batch_key, key, payload_hash)
