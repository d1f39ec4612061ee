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
"""

from __future__ import annotations

import hashlib
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from reliable_api.exceptions import (
    ConfigurationError,
    InFlightConflict,
    RecordRejected,
    ReliableApiError,
)
from reliable_api.http.classify import api_error_details
from reliable_api.idempotency.keys import content_hash, idempotency_key, natural_key
from reliable_api.idempotency.ledger import MAX_KEY_LENGTH

if TYPE_CHECKING:
    import requests

    from reliable_api.idempotency.ledger import Ledger, LedgerEntry

#: Records whose ledger entries are read in one query.
CHUNK = 500
#: The error type an API sends on 422 when an ``Idempotency-Key`` came back with another request.
KEY_REUSED = "idempotency_key_reused"


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
    :raises ConfigurationError: for a wrong path template, or the unsafe combination.
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

    def __post_init__(self) -> None:
        if not self.natural_key:
            raise ConfigurationError("natural_key must name at least one field")
        _check_template("update_path", self.update_path, required={"id"})
        _check_template("create_path", self.create_path, required=set())
        if self.lookup_path is not None:
            _check_template("lookup_path", self.lookup_path, required=set())
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
        ``"after_create"`` and ``"ledger_written"`` where a crash matters; the crash-safety
        tests kill the process from it. Leave it ``None``.
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

    def run(self, records: Iterable[Mapping[str, Any]]) -> UpsertCounts:
        """Upsert ``records``; return the counts.

        :raises FailureBudgetExceeded: when more than ``max_failure_ratio`` were dead-lettered.
        :raises TransientError: e.g. :class:`~reliable_api.exceptions.RateLimited` past the hook's
            ``defer_after``; every record written so far is in the ledger, so a re-run resumes.
        """
        self.counts = UpsertCounts()
        self._total = 0
        batch = self._prepare(records)
        self._check_budget()
        waiting: list[_Pending] = []
        for chunk in _chunks(list(batch.values()), CHUNK):
            known = self.ledger.get_many(item.key for item in chunk)
            for item in chunk:
                entry = known.get(item.key)
                if entry and entry.status == "created" and entry.payload_hash == item.payload_hash:
                    self.counts.unchanged += 1
                elif not self._upsert_one(item):
                    waiting.append(item)
                self._check_budget()  # the share can only grow: stop as soon as it is over
        self._retry_waiting(waiting)
        self._check_budget()
        return self.counts

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
                self._reject(key or _fallback_key(record), payload, error)
                continue
            if key in batch:
                self.counts.duplicates_in_batch += 1
                del batch[key]  # the last occurrence wins, in its own position
            batch[key] = _Pending(key, record, payload_hash)
        return batch

    def _upsert_one(self, item: _Pending) -> bool:
        """Claim and write one record; ``False`` when it must wait (another run holds it)."""
        intent_key = idempotency_key(self.ledger.integration, item.key, item.payload_hash)
        entry = self.ledger.claim(item.key, item.payload_hash, intent_key)
        if entry is None:
            return False
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
        if self.resource.lookup_path and (recovering or self.resource.check_before_create):
            found = self._lookup(item.record)
            if found is not None:
                self._adopt(item, *found)
                return
        self._create(entry, item)

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
            details = api_error_details(error.body)
            if error.reason == "already_exists":
                self._adopt_existing(item, details.existing_id, error)
                return
            if details.type == KEY_REUSED:
                raise RecordRejected(
                    "the API refused the Idempotency-Key of an earlier try because the record "
                    "changed since; replay the dead letter once the earlier create is resolved",
                    reason=KEY_REUSED,
                    status=error.status,
                    body=error.body,
                ) from None
            raise
        self._step("after_create")
        self._mark_created(item, _remote_id(_json(response), resource.id_field, "create response"))
        self.counts.created += 1

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

    def _retry_waiting(self, waiting: list[_Pending]) -> None:
        """Records another run holds, or the API has in flight: retry them until the deadline."""
        deadline = time.monotonic() + self.claim_wait_seconds
        pause = 0.05
        while waiting:
            if time.monotonic() > deadline:
                raise InFlightConflict(
                    f"{len(waiting)} records are still being written by another run or request "
                    f"after {self.claim_wait_seconds:g} s; the next try resumes them"
                )
            self.sleep(pause)
            pause = min(pause * 2, 2.0)
            waiting = [item for item in waiting if not self._upsert_one(item)]

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


def _json(response: requests.Response) -> Any:
    from reliable_api.http.classify import parse_json_body

    return parse_json_body(response)


def _dig(body: Any, path: str | None) -> Any:
    for part in path.split(".") if path else ():
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


def _remote_id(body: Any, path: str, where: str) -> str:
    value = _dig(body, path)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ConfigurationError(f"the {where} has no id at id_field={path!r}")
    return str(value)


def _fallback_key(record: object) -> str:
    """A dead-letter key for a record without a usable natural key: a hash of what it holds."""
    return f"no-key:{hashlib.sha256(repr(record).encode()).hexdigest()[:24]}"


def _chunks(items: list[_Pending], size: int) -> Iterator[list[_Pending]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
