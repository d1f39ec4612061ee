"""Reconciliation: the ledger notices records deleted or changed behind its back.

The ledger says "created, same content" and the upsert skips the record without a request; if
someone deleted or edited the record in the API meanwhile, it would be skipped forever. A
reconciling run reads the remote record of ledger entries first (``GET`` on the resource's
update path) for a share of the batch (``mode="sample"``, chosen per run) or all of it
(``mode="full"``, on demand), and:

=====================  ===========================================================================
the API answers        what happens
=====================  ===========================================================================
the record, same       nothing (counted as checked)
the record, changed    drift: the ledger entry is marked stale, so this run updates the record
404                    missing: by ``policy``, ``"recreate"`` (default) re-opens the entry as a
                       pending intent under a new ``Idempotency-Key`` and this run creates it
                       again; ``"dead_letter"`` files the record for a person to look at
=====================  ===========================================================================

An update answered 404 (the record vanished since the ledger wrote it) follows the same policy,
reconciling or not. Only records in the batch are checked: a record deleted remotely and no
longer extracted has nothing to re-create it from, so a full pass wants a full extract.

Content is compared by the hash the ledger keeps: the remote record without its id, the
``server_fields`` the API adds, and the resource's ``ignore_fields``. An API that adds other
computed fields reports drift on every check until they are listed in ``server_fields``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from reliable_api.core.keys import content_hash, idempotency_key
from reliable_api.exceptions import ConfigurationError, RecordRejected

if TYPE_CHECKING:
    from reliable_api.idempotency.api_resource import ApiResource, HttpClient
    from reliable_api.idempotency.ledger import Ledger, LedgerEntry

MODES = ("off", "sample", "full")
POLICIES = ("recreate", "dead_letter")
_EXAMPLE = 'e.g. reconcile=Reconciliation(mode="sample", sample_ratio=0.05, policy="recreate")'


class Item(Protocol):
    """A record of the batch, keyed and hashed (the upsert's own items)."""

    @property
    def key(self) -> str: ...  # noqa: D102

    @property
    def record(self) -> Mapping[str, Any]: ...  # noqa: D102

    @property
    def payload_hash(self) -> str: ...  # noqa: D102


@dataclass(frozen=True)
class Reconciliation:
    """How a run checks the ledger against the API.

    :param mode: ``"off"``, ``"sample"`` (a share of the batch, chosen anew per run) or
        ``"full"`` (every record of the batch).
    :param sample_ratio: the share checked in ``"sample"`` mode, between 0 and 1.
    :param policy: what a record the API no longer has becomes: ``"recreate"`` or ``"dead_letter"``.
    :param server_fields: fields the API adds to a record (besides its id), left out of the
        content check.
    :raises ConfigurationError: naming the setting and showing a correct example.
    """

    mode: str = "off"
    sample_ratio: float = 0.05
    policy: str = "recreate"
    server_fields: tuple[str, ...] = field(default=("created_at", "updated_at"))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(
                f"reconcile mode must be one of {', '.join(MODES)}, got {self.mode!r}; {_EXAMPLE}"
            )
        if self.policy not in POLICIES:
            raise ConfigurationError(
                f"reconcile policy must be one of {', '.join(POLICIES)}, got {self.policy!r}; {_EXAMPLE}"
            )
        ratio = self.sample_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ConfigurationError(
                f"reconcile sample_ratio must be between 0 and 1, got {ratio!r}; {_EXAMPLE}"
            )

    @classmethod
    def of(cls, value: Reconciliation | str | Mapping[str, Any] | None) -> Reconciliation:
        """Accept what an operator argument (templated, from a run's conf) may hold.

        ``None`` or ``""`` -> off; ``"sample"``/``"full"`` -> that mode with the defaults; a dict
        -> its fields.
        """
        if isinstance(value, Reconciliation):
            return value
        if value is None or value == "":
            return cls()
        if isinstance(value, str):
            return cls(mode=value.strip())
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ConfigurationError(f"unknown reconcile setting(s) {sorted(unknown)}; {_EXAMPLE}")
            return cls(**value)
        raise ConfigurationError(f"reconcile must be a Reconciliation, a mode or a dict, got {value!r}")

    def chooses(self, key: str, salt: str) -> bool:
        """Whether this run checks ``key``; ``salt`` (the run) makes each run pick another share."""
        if self.mode == "full":
            return True
        if self.mode == "off" or self.sample_ratio <= 0:
            return False
        digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < self.sample_ratio * 2**64


@dataclass
class ReconcileCounts:
    """What reconciliation found; in the task's result and run metrics as ``reconcile_*``."""

    checked: int = 0
    missing: int = 0
    changed: int = 0
    recreated: int = 0
    dead_lettered: int = 0

    def to_dict(self) -> dict[str, int]:
        """``reconcile_<count>`` for each count."""
        return {f"reconcile_{name}": value for name, value in asdict(self).items()}


class Reconciler:
    """Checks ledger entries against the API and applies the policy to what drifted.

    :param client: sends the requests (the upsert's hook).
    :param resource: the API's resource.
    :param ledger: the integration's ledger.
    :param settings: mode, sample, policy.
    :param salt: what makes a run's sample its own (e.g. the run id).
    """

    def __init__(
        self,
        client: HttpClient,
        resource: ApiResource,
        ledger: Ledger,
        settings: Reconciliation,
        *,
        salt: str,
    ) -> None:
        self.client = client
        self.resource = resource
        self.ledger = ledger
        self.settings = settings
        self.salt = salt
        self.counts = ReconcileCounts()

    def review(
        self, items: Iterable[Item], known: Mapping[str, LedgerEntry]
    ) -> tuple[dict[str, LedgerEntry], dict[str, RecordRejected]]:
        """Check the chosen records that the ledger would skip as unchanged.

        :returns: the ledger entries as the upsert should now see them (a missing record re-opened
            as a pending intent, a changed one with a stale hash), and the records to dead-letter
            with their error (missing, under the ``"dead_letter"`` policy).
        """
        entries, rejected = dict(known), {}
        for item in items:
            entry = known.get(item.key)
            if not _skippable(entry, item) or not self.settings.chooses(item.key, self.salt):
                continue
            assert entry is not None
            assert entry.remote_id is not None
            self.counts.checked += 1
            try:
                remote = self._read(entry.remote_id)
            except RecordRejected as error:
                if error.status != 404:
                    raise
                outcome = self.missing(item, entry, error)
                if isinstance(outcome, RecordRejected):
                    rejected[item.key] = outcome
                else:
                    entries[item.key] = outcome
                continue
            remote_hash = content_hash(self._content(remote), ignore=self.resource.ignore_fields)
            if remote_hash != entry.payload_hash:
                self.counts.changed += 1
                stale = f"drift:{remote_hash[:32]}"
                self._set(entry, {"payload_hash": stale}, payload_hash=entry.payload_hash)
                entries[item.key] = replace(entry, payload_hash=stale)
        return entries, rejected

    def missing(self, item: Item, entry: LedgerEntry, error: RecordRejected) -> LedgerEntry | RecordRejected:
        """Apply the policy to a record the API answered 404 for.

        :returns: the re-opened entry to create the record under (``"recreate"``), or the error
            to dead-letter it with (``"dead_letter"``).
        """
        self.counts.missing += 1
        old_id = entry.remote_id
        if self.settings.policy == "dead_letter":
            self.counts.dead_lettered += 1
            return RecordRejected(
                f"the API no longer has record {old_id!r} that the ledger created for this key "
                f"(deleted outside the pipeline); policy dead_letter: {error}",
                record_key=item.key,
                reason="remote_missing",
                status=404,
            )
        self.counts.recreated += 1
        # A key of its own: the first create's key would make the API replay its old answer.
        new_key = idempotency_key(self.ledger.integration, item.key, f"{item.payload_hash}:recreate:{old_id}")
        values = {
            "status": "pending",
            "remote_id": None,
            "payload_hash": item.payload_hash,
            "idempotency_key": new_key,
            "attempts": 0,
        }
        self._set(entry, values)
        return replace(
            entry,
            status="pending",
            remote_id=None,
            payload_hash=item.payload_hash,
            idempotency_key=new_key,
            attempts=0,
        )

    def _read(self, remote_id: str) -> Mapping[str, Any]:
        response = self.client.request("GET", self.resource.update_endpoint(remote_id))
        body = response.json()
        if not isinstance(body, Mapping):
            raise ConfigurationError(
                f"GET {self.resource.update_path} answered {type(body).__name__}, not a record: "
                "reconciliation reads a record by its id on the update path"
            )
        return body

    def _content(self, remote: Mapping[str, Any]) -> dict[str, Any]:
        dropped = {self.resource.id_field, *self.settings.server_fields}
        return {name: value for name, value in remote.items() if name not in dropped}

    def _set(self, entry: LedgerEntry, values: Mapping[str, Any], **expected: str) -> None:
        """Change ``entry`` only if it is still what was read (another run may have moved it)."""
        from sqlalchemy import update

        from reliable_api.state.schema import ledger, utcnow

        c = ledger.c
        conditions = [c[name] == value for name, value in expected.items()]
        with self.ledger.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(
                    c.integration == self.ledger.integration,
                    c.record_key == entry.record_key,
                    c.status == "created",
                    c.remote_id == entry.remote_id,
                    *conditions,
                )
                .values(**values, updated_at=utcnow())
            )


def _skippable(entry: LedgerEntry | None, item: Item) -> bool:
    """Whether the upsert would skip ``item`` as unchanged: the only records a check can save."""
    return (
        entry is not None
        and entry.status == "created"
        and entry.remote_id is not None
        and entry.payload_hash == item.payload_hash
    )
