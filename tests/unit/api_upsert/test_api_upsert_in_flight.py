"""A 409 for a key in flight is retried later, never dead-lettered nor created twice."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from reliable_api.exceptions import InFlightConflict, ReliableApiError
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine


class BusyOnceClient:
    """Answers the first create with 409 ``idempotency_key_in_use``, then 201."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, str] | None]] = []

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        self.calls.append((method, kwargs.get("headers")))
        if len(self.calls) == 1:
            raise InFlightConflict("in flight", status=409)
        response = requests.Response()
        response.status_code = 201
        response._content = json.dumps({"id": "con_1"}).encode()
        return response


def test_a_key_in_flight_is_retried_with_the_same_key(tmp_path: Path) -> None:
    client = BusyOnceClient()
    failures: list[ReliableApiError] = []
    pauses: list[float] = []
    upserter = ApiUpserter(
        client,
        ApiResource(natural_key=("email",), create_path="/c", update_path="/c/{id}"),
        Ledger(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "crm"),
        lambda key, payload, error: failures.append(error),
        sleep=pauses.append,
    )
    counts = upserter.run([{"email": "a@x.io"}])
    assert (counts.created, counts.dead_lettered, failures) == (1, 0, [])
    assert pauses  # it waited before trying again
    first, second = (headers for _, headers in client.calls)
    assert first == second  # the same Idempotency-Key both times
    assert first is not None
    assert first["Idempotency-Key"].startswith("rapi-")
