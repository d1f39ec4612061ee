"""API upserts that never create a record twice, whatever crashes, retries or parallel runs do.

Per record, with its natural key and content hash (:mod:`reliable_api.core.keys`): the
ledger says created with the same hash: nothing is sent; created with another hash: update;
unknown: a pending intent with a deterministic ``Idempotency-Key`` is written *first*, then a
lookup by natural key (when configured) adopts a found id, else the record is created (alone, or
in a batch: :mod:`reliable_api.idempotency.api_batch`), then the remote id is written. A pending
intent that an earlier try may have sent is looked up, or sent again under its own key: never
created blindly. Each step's choice is :func:`~reliable_api.idempotency.upsert_decision.decide`,
with its table; the requests are in :mod:`reliable_api.idempotency.api_calls`.

Most APIs have no idempotency keys. A create that fails for a moment (5xx, timeout, reset) may
have happened anyway: it is resolved in the same try by a lookup, then adopted or created again,
spaced and bounded by the connection's retry settings (:mod:`reliable_api.idempotency.retry_budget`).
Two remote records for one natural key dead-letter the record with both ids.

Responses: 409 ``already_exists`` adopts ``existing_id`` (or looks it up); 409 for a key in flight
waits and retries; 422 for a reused key, and 400/404/422 for a record, dead-letter the record with
the reason and the run goes on, until the dead-lettered share passes ``max_failure_ratio``.

Which APIs are safe: with ``Idempotency-Key`` support, or with a lookup by natural key, a crash at
any point is recovered without a duplicate (with keys only: within the API's key retention time,
often 24 h). With neither, a crash between the create and the ledger write can only be recovered
by a blind create; :class:`ApiResource` refuses that unless ``allow_unsafe=True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from reliable_api.core.keys import content_hash, idempotency_key, natural_key
from reliable_api.deadletter.keys import dead_letter_key
from reliable_api.exceptions import InFlightConflict, RecordRejected, ReliableApiError, TransientError
from reliable_api.http.retry import RetrySettings
from reliable_api.http.settings import HttpSettings
from reliable_api.idempotency.api_batch import BatchWriter
from reliable_api.idempotency.api_calls import Claimed, Outcome, Pending, ResourceCalls, UpsertCounts
from reliable_api.idempotency.api_resource import ApiResource, DeadLetter, HttpClient
from reliable_api.idempotency.retry_budget import RetryBudget
from reliable_api.idempotency.upsert_decision import Action, Answer, decide
from reliable_api.state.schema import MAX_KEY_LENGTH

if TYPE_CHECKING:
    from reliable_api.idempotency.ledger import Ledger, LedgerEntry
    from reliable_api.idempotency.reconcile import Reconciler

__all__ = ["ApiResource", "ApiUpserter", "UpsertCounts"]

#: Records whose ledger entries are read in one query.
CHUNK = 500


class ApiUpserter:
    """Upsert records into one API resource under a ledger.

    :param client: sends the requests (a :class:`~reliable_api.hooks.http.ReliableHttpHook`).
    :param resource: the API's resource.
    :param ledger: the integration's ledger.
    :param dead_letter: stores each record that failed for good.
    :param max_failure_ratio: the dead-lettered share of the records above which the run fails.
    :param claim_wait_seconds: how long to wait for records that another run holds, or that
        the API reports in flight, before failing with :class:`InFlightConflict` (transient).
    :param retry: how a failed create without a key, or a failed PATCH, is resolved again in the
        same try; default the client's connection settings (``client.settings``), if it has them.
    :param sleep: injectable, so tests never sleep.
    :param reconciler: checks ledger entries against the API before they are skipped, and
        applies its policy to an update answered 404 (:mod:`reliable_api.idempotency.reconcile`);
        without one, such an update dead-letters the record.
    :param on_step: a test hook, called with ``"intent_written"``, ``"before_create"``,
        ``"after_create"`` and ``"ledger_written"`` where a crash matters (for a batch: once
        per batch request); the crash-safety tests kill the process from it. Leave it ``None``.
    """

    def __init__(
        self,
        client: HttpClient,
        resource: ApiResource,
        ledger: Ledger,
        dead_letter: DeadLetter,
        *,
        max_failure_ratio: float = 0.05,
        claim_wait_seconds: float = 300.0,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_step: Callable[[str], None] | None = None,
        reconciler: Reconciler | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.ledger = ledger
        self.dead_letter = dead_letter
        self.max_failure_ratio = max_failure_ratio
        self.claim_wait_seconds = claim_wait_seconds
        self.retry = retry or _connection_retry(client)
        self.sleep = sleep
        self.on_step = on_step
        self.reconciler = reconciler
        self.counts = UpsertCounts()
        self._total = 0
        self._waiting: list[Pending] = []

    def run(self, records: Iterable[Mapping[str, Any]]) -> UpsertCounts:
        """Upsert ``records``; return the counts.

        :raises FailureBudgetExceeded: when more than ``max_failure_ratio`` were dead-lettered.
        :raises TransientError: e.g. :class:`~reliable_api.exceptions.RateLimited` past the hook's
            ``defer_after``; every record written so far is in the ledger, so a re-run resumes.
        """
        self.counts = UpsertCounts()
        self._total = 0
        self._waiting = []
        self.budget = RetryBudget(self.retry, sleep=self.sleep)
        self.calls = ResourceCalls(self.client, self.resource, self.counts, self.budget)
        self.batches = BatchWriter(self.calls, self.ledger, self.budget, self._resolve, self._step)
        batch = self._prepare(records)
        self._check_budget()
        try:
            for chunk in _chunks(list(batch.values()), CHUNK):
                known = self.ledger.get_many(item.key for item in chunk)
                if self.reconciler is not None:
                    known, gone = self.reconciler.review(chunk, known)
                    for key, error in gone.items():
                        self._reject(key, batch[key].record, error)
                    chunk = [item for item in chunk if item.key not in gone]
                todo = []
                for item in chunk:
                    entry = known.get(item.key)
                    if entry and entry.status == "created" and entry.payload_hash == item.payload_hash:
                        self.counts.unchanged += 1
                    else:
                        todo.append(item)
                self._process_all(todo)
            self.batches.send_all()
            self._retry_waiting()
        except BaseException:
            # Queued records were claimed but not sent: free them for other runs at once.
            self.ledger.release_many(item.key for item, _ in self.batches.held())
            raise
        self._check_budget()
        return self.counts

    def _process_all(self, items: list[Pending]) -> None:
        """Claim and write ``items``: one by one, or a batch's worth per ledger transaction."""
        size = self.resource.batch_size if self.resource.batch_create_path else 1
        for group in _chunks(items, size):
            intents = [
                (i.key, i.payload_hash, idempotency_key(self.ledger.integration, i.key, i.payload_hash))
                for i in group
            ]
            claims = self.ledger.claim_many(intents)
            try:
                for item in group:
                    entry = claims[item.key]
                    if entry is None:  # another run holds it
                        self._waiting.append(item)
                    else:
                        self._step("intent_written")
                        self._resolve((item, entry), Outcome(Answer.NONE))
                    self.batches.send_full()
                    self._check_budget()  # the share can only grow: stop as soon as it is over
            except BaseException:
                self.ledger.release_many(item.key for item in group)  # those not written yet
                raise

    def _check_budget(self) -> None:
        from reliable_api.exceptions import FailureBudgetExceeded

        if self.counts.dead_lettered > self.max_failure_ratio * self._total:
            raise FailureBudgetExceeded(
                failed=self.counts.dead_lettered, total=self._total, max_failure_ratio=self.max_failure_ratio
            )

    def _prepare(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Pending]:
        """Key and hash every record; the last of duplicate keys wins; bad records dead-lettered."""
        batch: dict[str, Pending] = {}
        for record in records:
            self._total += 1
            key = None
            try:
                if not isinstance(record, Mapping):
                    raise RecordRejected(f"a record must be a JSON object, got {type(record).__name__}")
                key = natural_key(record, self.resource.natural_key)
                if len(key) > MAX_KEY_LENGTH:
                    raise RecordRejected(
                        f"natural key longer than {MAX_KEY_LENGTH} characters", reason="invalid_key"
                    )
                payload_hash = content_hash(record, ignore=self.resource.ignore_fields)
            except RecordRejected as error:
                payload = record if isinstance(record, Mapping) else None
                self._reject(dead_letter_key(key, record), payload, error)
                continue
            if key in batch:
                self.counts.duplicates_in_batch += 1
                del batch[key]  # the last occurrence wins, in its own position
            batch[key] = Pending(key, record, payload_hash)
        return batch

    def _resolve(self, claimed: Claimed, outcome: Outcome) -> None:
        """Carry one claimed record on from ``outcome`` until its turn ends; dead-letter or wait."""
        item = claimed[0]
        try:
            if not self._follow(claimed, outcome):
                self.ledger.release(item.key)
                self._waiting.append(item)
        except RecordRejected as error:
            self.ledger.release(item.key)
            self._reject(item.key, item.record, error)
        except BaseException:
            self.ledger.release(item.key)  # the intent stays pending: the next try recovers it
            raise

    def _follow(self, claimed: Claimed, outcome: Outcome) -> bool:
        """Act on :func:`decide` until the record is written or handed on; ``False``: wait."""
        item, entry = claimed
        while True:
            action = decide(entry, item.payload_hash, self.resource, outcome.answer)
            if action is Action.LOOKUP:
                if outcome.answer is Answer.LOST:
                    assert isinstance(outcome.error, TransientError)
                    self.budget.pause([item.key], outcome.error)
                    self.counts.resolved_lost += 1
                outcome = self.calls.lookup(item.record)
            elif action is Action.CREATE:
                outcome = self._create(entry, item)
            elif action in (Action.DEAD_LETTER, Action.FAIL):
                assert outcome.error is not None
                raise outcome.error
            elif action is Action.WAIT:
                return False
            else:
                try:
                    self._finish(action, claimed, outcome)
                except RecordRejected as error:
                    if action is not Action.UPDATE or error.status != 404 or self.reconciler is None:
                        raise
                    missing = self.reconciler.missing(item, entry, error)  # deleted remotely
                    if isinstance(missing, RecordRejected):
                        raise missing from error
                    claimed, entry, outcome = (item, missing), missing, Outcome(Answer.NONE)
                    continue
                return True

    def _finish(self, action: Action, claimed: Claimed, outcome: Outcome) -> None:
        """The actions that end the record's turn in this step."""
        item, entry = claimed
        if action is Action.SKIP:  # another run wrote it meanwhile
            self.ledger.release(item.key)
            self.counts.unchanged += 1
        elif action is Action.UPDATE:
            assert entry.remote_id is not None
            self.calls.update(item.key, entry.remote_id, item.record)
            self._mark_created(item, entry.remote_id)
            self.counts.updated += 1
        elif action is Action.ADOPT:
            assert outcome.remote_id is not None
            self._adopt(item, outcome.remote_id, outcome.remote)
        elif action is Action.RECORD:
            assert outcome.remote_id is not None
            self._mark_created(item, outcome.remote_id)
            self.counts.created += 1
        elif action is Action.QUEUE:
            self.batches.queued.append(claimed)
        else:
            assert action is Action.REPLAY_BATCH
            self.batches.replay(claimed)

    def _create(self, entry: LedgerEntry, item: Pending) -> Outcome:
        self._step("before_create")
        outcome = self.calls.create(item.record, entry.idempotency_key)
        if outcome.answer is Answer.CREATED:
            self._step("after_create")
        return outcome

    def _adopt(self, item: Pending, remote_id: str, remote: Mapping[str, Any] | None) -> None:
        """Link an existing remote record; update it unless it already holds our content."""
        ignored = set(self.resource.ignore_fields)
        same = remote is not None and all(
            remote.get(name) == value for name, value in item.record.items() if name not in ignored
        )
        if not same:
            self.calls.update(item.key, remote_id, item.record)
        self._mark_created(item, remote_id)
        self.counts.adopted += 1

    def _mark_created(self, item: Pending, remote_id: str) -> None:
        self.ledger.mark_created(item.key, remote_id, item.payload_hash)
        self._step("ledger_written")

    def _retry_waiting(self) -> None:
        """Retry records another run holds, or the API has in flight or failed for a moment.

        :raises InFlightConflict: when some are still waiting after ``claim_wait_seconds``.
        """
        deadline = time.monotonic() + self.claim_wait_seconds
        pause = 0.05
        while self._waiting:
            if time.monotonic() > deadline:
                raise InFlightConflict(
                    f"{len(self._waiting)} records are still being written by another run or request, "
                    f"or failing for a moment, after {self.claim_wait_seconds:g} s; the next try resumes them"
                )
            self.sleep(pause)
            pause = min(pause * 2, 2.0)
            waiting, self._waiting = self._waiting, []
            self._process_all(waiting)
            self.batches.send_all()

    def _reject(self, key: str, record: Mapping[str, Any] | None, error: ReliableApiError) -> None:
        self.dead_letter(key, record, error)
        self.counts.dead_lettered += 1

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)


def _connection_retry(client: HttpClient) -> RetrySettings:
    """The retry settings of ``client``'s connection, or the defaults for a client without one."""
    settings = getattr(client, "settings", None)
    if isinstance(settings, HttpSettings):
        return RetrySettings.from_http_settings(settings, deadline=settings.retry_deadline)
    return RetrySettings()


def _chunks(items: list[Pending], size: int) -> Iterator[list[Pending]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
