"""The requests an API upsert sends for one resource, each turned into an :class:`Outcome`.

Lookups, creates and updates of single records live here; the batch create and its multi-status
answer in :mod:`reliable_api.idempotency.api_batch`. What to do with an outcome is decided by
:func:`reliable_api.idempotency.upsert_decision.decide`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from reliable_api.exceptions import (
    ConfigurationError,
    InFlightConflict,
    RecordRejected,
    ReliableApiError,
    TransientError,
)
from reliable_api.http.classify import api_error_details
from reliable_api.http.retry import IDEMPOTENT_METHODS
from reliable_api.idempotency.upsert_decision import Answer

if TYPE_CHECKING:
    import requests

    from reliable_api.idempotency.api_resource import ApiResource, HttpClient
    from reliable_api.idempotency.ledger import LedgerEntry
    from reliable_api.idempotency.retry_budget import RetryBudget

#: The error type an API sends on 422 when an ``Idempotency-Key`` came back with another request.
KEY_REUSED = "idempotency_key_reused"
#: How a record two remote records match is dead-lettered.
AMBIGUOUS_MATCH = "ambiguous_match"


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
    resolved_lost: int = 0

    def to_dict(self) -> dict[str, int]:
        """A JSON-safe dict for XCom and run metrics."""
        return asdict(self)


@dataclass(frozen=True)
class Pending:
    """A record to write: its natural key, the record, and its content hash."""

    key: str
    record: Mapping[str, Any]
    payload_hash: str


#: A record and its ledger entry as claimed.
Claimed = tuple[Pending, "LedgerEntry"]


@dataclass(frozen=True)
class Outcome:
    """What one step learnt: the answer, and the remote record or the error that came with it."""

    answer: Answer
    remote_id: str | None = None
    remote: Mapping[str, Any] | None = None
    error: ReliableApiError | None = None


class ResourceCalls:
    """Send a resource's lookups, creates and updates; count them.

    :param client: sends the requests and raises the taxonomy's errors.
    :param resource: the API's resource.
    :param counts: where requests are counted.
    :param budget: bounds the rounds of an update that failed for a moment (PATCH is not retried
        by the client: it is not idempotent in general, but a merge of the same fields is).
    """

    def __init__(
        self, client: HttpClient, resource: ApiResource, counts: UpsertCounts, budget: RetryBudget
    ) -> None:
        self.client = client
        self.resource = resource
        self.counts = counts
        self.budget = budget

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        """Send one request (the client's own retries included) and count it."""
        self.counts.requests += 1
        return self.client.request(method, endpoint, **kwargs)

    def lookup(self, record: Mapping[str, Any]) -> Outcome:
        """Search ``record`` by its natural key: found (one match), not found, or ambiguous."""
        resource = self.resource
        assert resource.lookup_path is not None
        params = {resource.lookup_params.get(name, name): str(record[name]) for name in resource.natural_key}
        matches = dig(
            json_body(self.request("GET", resource.lookup_path, params=params)), resource.lookup_records_path
        )
        if not isinstance(matches, list):
            raise ConfigurationError(
                f"the lookup's body has no list at lookup_records_path={resource.lookup_records_path!r}"
            )
        ids = [remote_id(match, resource.id_field, "lookup match") for match in matches]
        if not ids:
            return Outcome(Answer.NOT_FOUND)
        if len(ids) > 1:
            error = RecordRejected(
                f"the lookup by natural key found {len(ids)} remote records ({', '.join(ids)}); which "
                "one this record is cannot be told: merge them in the API, then replay the dead letter",
                reason=AMBIGUOUS_MATCH,
            )
            return Outcome(Answer.AMBIGUOUS, error=error)
        return Outcome(Answer.FOUND, remote_id=ids[0], remote=matches[0])

    def create(self, record: Mapping[str, Any], idempotency_key: str | None) -> Outcome:
        """Create one record, with ``idempotency_key`` when the API honours keys."""
        resource = self.resource
        headers = (
            {"Idempotency-Key": idempotency_key}
            if resource.supports_idempotency_keys and idempotency_key
            else None
        )
        try:
            response = self.request(
                resource.create_method, resource.create_path, json=dict(record), headers=headers
            )
        except RecordRejected as error:
            return self.refused(record, error)
        except InFlightConflict as error:
            return Outcome(Answer.IN_FLIGHT, error=error)
        except TransientError as error:  # 5xx, timeout, reset: it may have been created anyway
            return Outcome(Answer.LOST, error=error)
        return Outcome(
            Answer.CREATED, remote_id=remote_id(json_body(response), resource.id_field, "create response")
        )

    def refused(self, record: Mapping[str, Any], error: RecordRejected) -> Outcome:
        """A create the API refused: the record that exists (named, or looked up), else why."""
        if error.reason != "already_exists":
            return Outcome(Answer.REJECTED, error=explained(error))
        existing = api_error_details(error.body).existing_id
        if existing is not None:
            return Outcome(Answer.EXISTS, remote_id=existing)
        found = self.lookup(record) if self.resource.lookup_path else Outcome(Answer.NOT_FOUND)
        if found.answer is Answer.FOUND:
            return Outcome(Answer.EXISTS, remote_id=found.remote_id, remote=found.remote)
        return found if found.answer is Answer.AMBIGUOUS else Outcome(Answer.REJECTED, error=error)

    def update(self, key: str, remote: str, record: Mapping[str, Any]) -> None:
        """Send ``record`` to the remote id ``remote``; a PATCH that fails for a moment goes again.

        :raises TransientError: when the record's retry budget is spent.
        """
        method = self.resource.update_method
        while True:
            try:
                self.request(method, self.resource.update_endpoint(remote), json=dict(record))
                return
            except InFlightConflict:
                raise
            except TransientError as error:
                if method.upper() in IDEMPOTENT_METHODS:  # the client retried it already
                    raise
                self.budget.pause([key], error)


def explained(error: RecordRejected) -> RecordRejected:
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


def json_body(response: requests.Response) -> Any:
    """The response's JSON body (a :class:`ConfigurationError` when it has none)."""
    from reliable_api.http.classify import parse_json_body

    return parse_json_body(response)


def dig(body: Any, path: str | None) -> Any:
    """The member of ``body`` at the dotted ``path`` (``None`` when missing); ``body`` for no path."""
    for part in path.split(".") if path else ():
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


def remote_id(body: Any, path: str, where: str, setting: str = "id_field") -> str:
    """The remote id at ``path`` in ``body``.

    :raises ConfigurationError: naming ``setting`` when there is none.
    """
    value = dig(body, path)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ConfigurationError(f"the {where} has no id at {setting}={path!r}")
    return str(value)
