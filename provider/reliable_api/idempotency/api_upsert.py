"""API upserts that never create a record twice, whatever crashes, retries or parallel runs do.

Per record, with its natural key and content hash (:mod:`reliable_api.idempotency.keys`):

=======================================  ===================================================
the ledger says                          what happens
=======================================  ===================================================
created, same hash                       nothing: no request
created, other hash                      update (``PATCH {id}``)
unknown                                  a pending intent with a deterministic
                                         ``Idempotency-Key`` is written *first*; then lookup
                                         by natural key (when configured) and adopt a found
                                         id, else create with the key; then the remote id is
                                         written
pending (an earlier try may have sent)   lookup, or the same key again: never a blind create
=======================================  ===================================================

Responses: 409 ``already_exists`` adopts ``existing_id`` (or looks it up); 409 for a key in flight
waits and retries; 422 for a reused key, and 400/404/422 for a record, dead-letter the record with
the reason and the run goes on, until the dead-lettered share passes ``max_failure_ratio``.

Which APIs are safe: with ``Idempotency-Key`` support, or with a lookup by natural key, a crash at
any point is recovered without a duplicate (with keys only: within the API's key retention time,
often 24 h). With neither, a crash between the create and the ledger write can only be recovered
by a blind create; :class:`ApiResource` refuses that unless ``allow_unsafe=True``.

Batch creates (``batch_create_path``): new records (not found by the lookup, when one goes first)
are claimed a batch at a time and sent ``batch_size`` per request. Every member's intent names
the batch's ``Idempotency-Key``, derived from the members' keys, hashes and own intent keys,
before the request. Per record of the multi-status answer: 2xx writes the remote id, 409
``already_exists`` adopts, 400/404/422 dead-letters, 429/5xx stays pending and goes again in a
new batch under a new key. A batch lost to a crash is recovered per record by the lookup, or
without one by sending the same members again under the batch's key (the API replays its answer).
"""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from reliable_api.deadletter.keys import dead_letter_key
from reliable_api.exceptions import (
    ConfigurationError,
    InFlightConflict,
    RecordRejected,
    ReliableApiError,
    TransientError,
)
from reliable_api.http.classify import api_error_details, classify_status
from reliable_api.idempotency.keys import (
    batch_idempotency_key,
    content_hash,
    idempotency_key,
    is_batch_key,
    natural_key,
)
from reliable_api.idempotency.ledger import MAX_KEY_LENGTH

if TYPE_CHECKING:
    import requests

    from reliable_api.idempotency.ledger import Ledger, LedgerEntry

#: Records whose ledger entries are read in one query.
CHUNK = 500
#: The error type an API sends on 422 when an ``Idempotency-Key`` came back with another request.
KEY_REUSED = "idempotency_key_reused"
#: Where a batch create puts records and reads results: setting name -> whether ``None`` is allowed.
BATCH_FIELDS = {
    "batch_records_field": True,
    "batch_results_path": True,
    "batch_index_field": True,
    "batch_status_field": False,
    "batch_id_field": False,
}


class HttpClient(Protocol):
    """What the upsert needs of :class:`~reliable_api.hooks.http.ReliableHttpHook`."""

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; raise the taxonomy's errors."""


#: Stores one failed record: (record key, payload, error).
DeadLetter = Callable[[str, "Mapping[str, Any] | None", ReliableApiError], None]


@dataclass(frozen=True)
class ApiResource:
    """How an API creates, updates and finds one kind of record.

    :param natural_key: the fields that identify a record, e.g. ``("email",)``.
    :param create_path: where to create, e.g. ``/v1/contacts``.
    :param update_path: where to update, with ``{id}`` for the remote id, e.g. ``/v1/contacts/{id}``.
    :param create_method: ``POST`` unless the API says otherwise.
    :param update_method: ``PATCH`` (merge) or ``PUT``.
    :param lookup_path: a search by natural key, e.g. ``/v1/contacts/search``; ``None`` when the
        API has none.
    :param lookup_params: query parameter per natural key field; default the field's own name.
    :param lookup_records_path: dotted path of the matches in the lookup's body.
    :param id_field: dotted path of the remote id in the create response and in each match.
    :param ignore_fields: fields left out of the content hash (timestamps, computed fields).
    :param supports_idempotency_keys: whether the API honours the ``Idempotency-Key`` header.
    :param check_before_create: look up every new record before creating it, which adopts
        records that exist remotely but not in the ledger (one more request per new record).
        Pending intents left by a crash are looked up whatever this says.
    :param allow_unsafe: accept an API with neither idempotency keys nor a lookup, where a crash
        between a create and its ledger write can duplicate that one record.
    :param batch_create_path: a create of many records in one ``POST``, e.g. ``/v1/contacts/batch``,
        answering each record's own status (207 Multi-Status); ``None`` creates one by one.
    :param batch_size: records per batch create at most.
    :param batch_records_field: the member of the request body that holds the records; ``None``
        sends the bare list.
    :param batch_results_path: dotted path of the per-record results in the response; ``None``
        when the body is the list.
    :param batch_index_field: the member of a result naming the record's position in the
        request; ``None`` when results come in request order.
    :param batch_status_field: the member of a result with the record's HTTP status.
    :param batch_id_field: dotted path of the remote id in a successful result.
    :raises ConfigurationError: for a wrong path template, batch setting, or the unsafe combination.
    """

    natural_key: tuple[str, ...]
    create_path: str
    update_path: str
    create_method: str = "POST"
    update_method: str = "PATCH"
    lookup_path: str | None = None
    lookup_params: Mapping[str, str] = field(default_factory=dict)
    lookup_records_path: str | None = "data"
    id_field: str = "id"
    ignore_fields: tuple[str, ...] = ()
    supports_idempotency_keys: bool = True
    check_before_create: bool = True
    allow_unsafe: bool = False
    batch_create_path: str | None = None
    batch_size: int = 100
    batch_records_field: str | None = "records"
    batch_results_path: str | None = "results"
    batch_index_field: str | None = "index"
    batch_status_field: str = "status"
    batch_id_field: str = "id"

    def __post_init__(self) -> None:
        if not self.natural_key:
            raise ConfigurationError("natural_key must name at least one field")
        _check_template("update_path", self.update_path, required={"id"})
        _check_template("create_path", self.create_path, required=set())
        if self.lookup_path is not None:
            _check_template("lookup_path", self.lookup_path, required=set())
        if self.batch_create_path is not None:
            _check_template("batch_create_path", self.batch_create_path, required=set())
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        for name, optional in BATCH_FIELDS.items():
            value = getattr(self, name)
            if not (value is None and optional) and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{name} must be a non-empty field name, got {value!r}")
        unknown = set(self.lookup_params) - set(self.natural_key)
        if unknown:
            raise ConfigurationError(f"lookup_params names fields outside natural_key: {sorted(unknown)}")
        if not self.supports_idempotency_keys and self.lookup_path is None and not self.allow_unsafe:
            raise ConfigurationError(
                "supports_idempotency_keys=False with no lookup_path: a crash between a create and "
                "its ledger write could only be recovered by creating the record again. Give a "
                "lookup_path, or set allow_unsafe=True to accept that risk"
            )

    def update_endpoint(self, remote_id: str) -> str:
        """The update path of ``remote_id`` (quoted: an id never changes the path's shape)."""
        return self.update_path.format(id=quote(remote_id, safe=""))


@dataclass
class UpsertCounts:
    """What an upsert did; ``requests`` counts requests sent, retries by the hook not included."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    adopted: int = 0
    dead_lettered: int = 0
    duplicates_in_batch: int = 0
    requests: int = 0

    def to_dict(self) -> dict[str, int]:
        """A JSON-safe dict for XCom and run metrics."""
        return asdict(self)


@dataclass(frozen=True)
class _Pending:
    key: str
    record: Mapping[str, Any]
    payload_hash: str


class ApiUpserter:
    """Upsert records into one API resource under a ledger.

    :param client: sends the requests (a :class:`~reliable_api.hooks.http.ReliableHttpHook`).
    :param resource: the API's resource.
    :param ledger: the integration's ledger.
    :param dead_letter: stores each record that failed for good.
    :param max_failure_ratio: the dead-lettered share of the records above which the run fails.
    :param claim_wait_seconds: how long to wait for records that another run holds, or that
        the API reports in flight, before failing with :class:`InFlightConflict` (transient).
    :param sleep: injectable, so tests never sleep.
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
        sleep: Callable[[float], None] = time.sleep,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.ledger = ledger
        self.dead_letter = dead_letter
        self.max_failure_ratio = max_failure_ratio
        self.claim_wait_seconds = claim_wait_seconds
        self.sleep = sleep
        self.on_step = on_step
        self.counts = UpsertCounts()
        self._total = 0
        self._waiting: list[_Pending] = []
        self._queued: list[tuple[_Pending, str]] = []  # with the key of each one's intent
        self._replays: dict[str, list[_Pending]] = {}

    def run(self, records: Iterable[Mapping[str, Any]]) -> UpsertCounts:
        """Upsert ``records``; return the counts.

        :raises FailureBudgetExceeded: when more than ``max_failure_ratio`` were dead-lettered.
        :raises TransientError: e.g. :class:`~reliable_api.exceptions.RateLimited` past the hook's
            ``defer_after``; every record written so far is in the ledger, so a re-run resumes.
        """
        self.counts = UpsertCounts()
        self._total = 0
        self._waiting, self._queued, self._replays = [], [], {}
        batch = self._prepare(records)
        self._check_budget()
        try:
            for chunk in _chunks(list(batch.values()), CHUNK):
                known = self.ledger.get_many(item.key for item in chunk)
                todo = []
                for item in chunk:
                    entry = known.get(item.key)
                    if entry and entry.status == "created" and entry.payload_hash == item.payload_hash:
                        self.counts.unchanged += 1
                    else:
                        todo.append(item)
                self._process_all(todo)
            self._send_all_queued()
            self._retry_waiting()
        except BaseException:
            # Queued records were claimed but not sent: free them for other runs at once.
            held = [
                *(item for item, _ in self._queued),
                *(i for group in self._replays.values() for i in group),
            ]
            self.ledger.release_many(item.key for item in held)
            raise
        self._check_budget()
        return self.counts

    def _process_all(self, items: list[_Pending]) -> None:
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
                    self._process(item, claims[item.key])
            except BaseException:
                self.ledger.release_many(item.key for item in group)  # those not written yet
                raise

    def _process(self, item: _Pending, entry: LedgerEntry | None) -> None:
        """Write a claimed ``item`` (or queue it for a batch), or wait for it; send a full batch."""
        if entry is None or not self._upsert_one(item, entry):
            self._waiting.append(item)
        if len(self._queued) >= self.resource.batch_size:
            self._send_queued()
        self._check_budget()  # the share can only grow: stop as soon as it is over

    def _check_budget(self) -> None:
        from reliable_api.exceptions import FailureBudgetExceeded

        if self.counts.dead_lettered > self.max_failure_ratio * self._total:
            raise FailureBudgetExceeded(
                failed=self.counts.dead_lettered, total=self._total, max_failure_ratio=self.max_failure_ratio
            )

    def _prepare(self, records: Iterable[Mapping[str, Any]]) -> dict[str, _Pending]:
        """Key and hash every record; the last of duplicate keys wins; bad records dead-lettered."""
        batch: dict[str, _Pending] = {}
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
            batch[key] = _Pending(key, record, payload_hash)
        return batch

    def _upsert_one(self, item: _Pending, entry: LedgerEntry) -> bool:
        """Write one claimed record; ``False`` when it must wait (the API has it in flight)."""
        self._step("intent_written")
        try:
            self._write(entry, item)
        except RecordRejected as error:
            self.ledger.release(item.key)
            self._reject(item.key, item.record, error)
        except InFlightConflict:
            self.ledger.release(item.key)
            return False
        except BaseException:
            self.ledger.release(item.key)  # the intent stays pending: the next try recovers it
            raise
        return True

    def _write(self, entry: LedgerEntry, item: _Pending) -> None:
        if entry.status == "created" and entry.remote_id is not None:
            if entry.payload_hash == item.payload_hash:  # another run wrote it meanwhile
                self.ledger.release(item.key)
                self.counts.unchanged += 1
            else:
                self._update(entry.remote_id, item.record)
                self._mark_created(item, entry.remote_id)
                self.counts.updated += 1
            return
        # A pending intent claimed before may have been sent: it must be looked up or re-sent
        # with its own key, never created blindly.
        recovering = entry.attempts > 1
        resource = self.resource
        if resource.lookup_path and (recovering or resource.check_before_create):
            found = self._lookup(item.record)
            if found is not None:
                self._adopt(item, *found)
                return
        sent_key = entry.idempotency_key
        if recovering and not resource.lookup_path and is_batch_key(sent_key):
            # Only the same batch again under the same key tells what the lost request did: it
            # is rebuilt once every record has been claimed.
            self._replays.setdefault(str(sent_key), []).append(item)
        elif resource.batch_create_path is None or (recovering and not resource.lookup_path):
            self._create(entry, item)
        else:
            self._queued.append((item, sent_key or ""))

    def _create(self, entry: LedgerEntry, item: _Pending) -> None:
        resource = self.resource
        headers = None
        if resource.supports_idempotency_keys and entry.idempotency_key:
            headers = {"Idempotency-Key": entry.idempotency_key}
        self._step("before_create")
        try:
            response = self._request(
                resource.create_method, resource.create_path, json=dict(item.record), headers=headers
            )
        except RecordRejected as error:
            self._refused(item, error)
            return
        self._step("after_create")
        self._mark_created(item, _remote_id(_json(response), resource.id_field, "create response"))
        self.counts.created += 1

    def _refused(self, item: _Pending, error: RecordRejected) -> None:
        """A create the API refused: adopt the record that exists, else raise why, to dead-letter."""
        if error.reason == "already_exists":
            self._adopt_existing(item, api_error_details(error.body).existing_id, error)
            return
        raise _explained(error)

    def _send_queued(self) -> None:
        """Create the queued records in one batch, under a key derived from its members."""
        queued, self._queued = self._queued, []
        if queued:
            parts = [(item.key, item.payload_hash, intent) for item, intent in queued]
            key = batch_idempotency_key(self.ledger.integration, parts)
            members = [item for item, _ in queued]
            self.ledger.assign_key((m.key for m in members), key)  # the intents name it before it is sent
            self._send_batch(key, members)

    def _send_all_queued(self) -> None:
        """Send the queued batch, then the batches a crashed try sent, each under its own key."""
        self._send_queued()
        replays, self._replays = self._replays, {}
        for key, members in replays.items():
            self._send_batch(key, members)

    def _send_batch(self, key: str, members: list[_Pending]) -> None:
        try:
            self._post_batch(key, members)
        except BaseException:
            # The intents stay as they are (pending, or settled): the next try recovers them.
            self.ledger.release_many(member.key for member in members)
            raise

    def _post_batch(self, key: str, members: list[_Pending]) -> None:
        resource = self.resource
        assert resource.batch_create_path is not None
        members = sorted(members, key=lambda member: member.key)  # the same batch, the same body
        records = [dict(member.record) for member in members]
        body = records if resource.batch_records_field is None else {resource.batch_records_field: records}
        headers = {"Idempotency-Key": key} if resource.supports_idempotency_keys else None
        self._step("before_create")
        try:
            response = self._request("POST", resource.batch_create_path, json=body, headers=headers)
        except RecordRejected as error:  # the whole request: no record of it was created
            refused = _explained(error)
            if refused.reason != KEY_REUSED:  # unless the key's first request was another batch
                self.ledger.settle({}, {m.key: _next_intent(m, key) for m in members})
            self._give_up(members, refused)
            return
        except InFlightConflict:  # a crashed try's request with this key is still running
            self.ledger.release_many(member.key for member in members)
            self._waiting += members
            return
        self._step("after_create")
        self._settle(key, members, self._batch_results(_json(response), len(members)))

    def _batch_results(self, body: Any, count: int) -> list[Mapping[str, Any]]:
        """The per-record results, in request order.

        :raises ConfigurationError: when the response does not hold one result per record where
            the resource says; the records stay pending, so the next try recovers them.
        """
        resource = self.resource
        found = _dig(body, resource.batch_results_path)
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

    def _settle(self, key: str, members: list[_Pending], results: list[Mapping[str, Any]]) -> None:
        """Write every result to the ledger at once, then handle the records that were not created."""
        resource = self.resource
        created: dict[str, tuple[str, str]] = {}
        failed: list[tuple[_Pending, ReliableApiError]] = []
        for member, result in zip(members, results, strict=True):
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
                created[member.key] = (
                    _remote_id(result, resource.batch_id_field, "batch result", "batch_id_field"),
                    member.payload_hash,
                )
            else:
                failed.append((member, error))
        # The API said these were not created: pending again as never sent, under new intent
        # keys, so neither a crash nor their next batch ties them to the key already answered.
        self.ledger.settle(created, {member.key: _next_intent(member, key) for member, _ in failed})
        self.counts.created += len(created)
        self._step("ledger_written")
        for member, error in failed:
            self._not_created(member, error)

    def _not_created(self, member: _Pending, error: ReliableApiError) -> None:
        """One record of a batch that the API did not create: adopt, dead-letter or retry it."""
        if isinstance(error, TransientError):  # 429, 5xx, its key in flight: later, in a new batch
            self.ledger.release(member.key)
            self._waiting.append(member)
        elif isinstance(error, RecordRejected):
            try:
                self._refused(member, error)
            except RecordRejected as final:
                self._give_up([member], final)
        else:
            raise error  # 401/403: every record would fail

    def _give_up(self, members: list[_Pending], error: RecordRejected) -> None:
        self.ledger.release_many(member.key for member in members)
        for member in members:
            self._reject(member.key, member.record, error)

    def _adopt_existing(self, item: _Pending, existing_id: str | None, error: RecordRejected) -> None:
        """409 already exists: adopt the id the API named, or the one a lookup finds."""
        if existing_id is not None:
            self._adopt(item, existing_id, None)
            return
        found = self._lookup(item.record) if self.resource.lookup_path else None
        if found is None:
            raise error
        self._adopt(item, *found)

    def _adopt(self, item: _Pending, remote_id: str, remote: Mapping[str, Any] | None) -> None:
        """Link an existing remote record; update it unless it already holds our content."""
        ignored = set(self.resource.ignore_fields)
        same = remote is not None and all(
            remote.get(name) == value for name, value in item.record.items() if name not in ignored
        )
        if not same:
            self._update(remote_id, item.record)
        self._mark_created(item, remote_id)
        self.counts.adopted += 1

    def _lookup(self, record: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
        resource = self.resource
        assert resource.lookup_path is not None
        params = {resource.lookup_params.get(name, name): str(record[name]) for name in resource.natural_key}
        body = _json(self._request("GET", resource.lookup_path, params=params))
        matches = _dig(body, resource.lookup_records_path)
        if not isinstance(matches, list):
            raise ConfigurationError(
                f"the lookup's body has no list at lookup_records_path={resource.lookup_records_path!r}"
            )
        if not matches:
            return None
        first = matches[0]
        return _remote_id(first, resource.id_field, "lookup match"), first

    def _update(self, remote_id: str, record: Mapping[str, Any]) -> None:
        resource = self.resource
        self._request(resource.update_method, resource.update_endpoint(remote_id), json=dict(record))

    def _mark_created(self, item: _Pending, remote_id: str) -> None:
        self.ledger.mark_created(item.key, remote_id, item.payload_hash)
        self._step("ledger_written")

    def _request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        self.counts.requests += 1
        return self.client.request(method, endpoint, **kwargs)

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
            self._send_all_queued()

    def _reject(self, key: str, record: Mapping[str, Any] | None, error: ReliableApiError) -> None:
        self.dead_letter(key, record, error)
        self.counts.dead_lettered += 1

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)


def _check_template(name: str, template: str, *, required: set[str]) -> None:
    try:
        fields = {parsed[1] for parsed in string.Formatter().parse(template) if parsed[1] is not None}
    except ValueError as error:
        raise ConfigurationError(f"{name}={template!r} is not a valid path template: {error}") from None
    if fields != required:
        placeholders = ", ".join(f"{{{name}}}" for name in sorted(required))
        expected = f"exactly the placeholders {placeholders}" if required else "no placeholders"
        raise ConfigurationError(f"{name}={template!r} must have {expected}, found {sorted(fields)}")


def _next_intent(member: _Pending, failed_batch_key: str) -> tuple[str, str]:
    """The (payload hash, idempotency key) of a record's intent after its batch did not create it."""
    return member.payload_hash, idempotency_key(failed_batch_key, member.key, member.payload_hash)


def _explained(error: RecordRejected) -> RecordRejected:
    """``error``, or for a reused ``Idempotency-Key`` an error that says what to do about it."""
    if api_error_details(error.body).type != KEY_REUSED:
        return error
    return RecordRejected(
        "the API refused the Idempotency-Key of an earlier try because the record (or its batch) "
        "changed since; replay the dead letter once the earlier create is resolved",
        reason=KEY_REUSED,
        status=error.status,
        body=error.body,
    )


def _json(response: requests.Response) -> Any:
    from reliable_api.http.classify import parse_json_body

    return parse_json_body(response)


def _dig(body: Any, path: str | None) -> Any:
    for part in path.split(".") if path else ():
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


def _remote_id(body: Any, path: str, where: str, setting: str = "id_field") -> str:
    value = _dig(body, path)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ConfigurationError(f"the {where} has no id at {setting}={path!r}")
    return str(value)


def _chunks(items: list[_Pending], size: int) -> Iterator[list[_Pending]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
