"""What an API upsert is told about one kind of record, and what it sends requests through."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from reliable_api.exceptions import ConfigurationError, ReliableApiError

if TYPE_CHECKING:
    import requests

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
        Without keys (most APIs), give a ``lookup_path``: a create whose answer is lost (5xx,
        timeout, reset) is then looked up and adopted, or created again, in the same try.
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
        key = self.natural_key
        if isinstance(key, str) or not isinstance(key, (tuple, list)) or not key:
            raise ConfigurationError(f"natural_key must be a list of at least one field name, got {key!r}")
        if not isinstance(self.lookup_params, Mapping):
            raise ConfigurationError(f"lookup_params must be a mapping, got {self.lookup_params!r}")
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


def _check_template(name: str, template: str, *, required: set[str]) -> None:
    if not isinstance(template, str):
        raise ConfigurationError(f"{name} must be a path, got {template!r}")
    try:
        fields = {parsed[1] for parsed in string.Formatter().parse(template) if parsed[1] is not None}
    except ValueError as error:
        raise ConfigurationError(f"{name}={template!r} is not a valid path template: {error}") from None
    if fields != required:
        placeholders = ", ".join(f"{{{name}}}" for name in sorted(required))
        expected = f"exactly the placeholders {placeholders}" if required else "no placeholders"
        raise ConfigurationError(f"{name}={template!r} must have {expected}, found {sorted(fields)}")
