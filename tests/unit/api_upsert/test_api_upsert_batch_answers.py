"""How ``ApiUpserter`` reads a batch create's per-record answers, with a scripted API."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from reliable_api.exceptions import ConfigurationError, ReliableApiError
from reliable_api.idempotency.api_upsert import ApiResource, ApiUpserter
from reliable_api.idempotency.ledger import Ledger
from reliable_api.state.engine import make_engine

Answer = Callable[[int, list[dict[str, Any]]], Any]


class ScriptedBatchApi:
    """Answers each batch create with ``answer(call number, records)``; keeps what was sent."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.batches: list[tuple[list[dict[str, Any]], str | None]] = []

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        assert (method, endpoint) == ("POST", "/c/batch")
        body = kwargs["json"]
        records = body["records"] if isinstance(body, dict) else body
        headers: Mapping[str, str] = kwargs.get("headers") or {}
        self.batches.append((records, headers.get("Idempotency-Key")))
        response = requests.Response()
        response.status_code = 207
        response._content = json.dumps(self.answer(len(self.batches), records)).encode()
        return response


def created(index: int, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"index": index, "status": 201, "id": f"id-{record['email']}"}


def multi_status(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": results}


def upserter(tmp_path: Path, api: ScriptedBatchApi, **spec: Any) -> tuple[ApiUpserter, list[float]]:
    pauses: list[float] = []
    resource = ApiResource(
        natural_key=("email",),
        create_path="/c",
        update_path="/c/{id}",
        batch_create_path="/c/batch",
        **spec,
    )
    ledger = Ledger(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "crm", owner="me")

    def no_dead_letters(key: str, payload: Any, error: ReliableApiError) -> None:
        raise AssertionError(f"{key} dead-lettered: {error}")

    return ApiUpserter(api, resource, ledger, no_dead_letters, sleep=pauses.append), pauses


def ledger_entries(tmp_path: Path, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    entries = Ledger(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "crm").get_many(keys)
    return {key: (entry.status, entry.remote_id) for key, entry in entries.items()}


RECORDS = [{"email": f"{name}@x.io"} for name in "abcd"]
EMAILS = [record["email"] for record in RECORDS]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_transient_item_stays_pending_and_goes_again_in_a_new_batch(tmp_path: Path, status: int) -> None:
    def answer(call: int, records: list[dict[str, Any]]) -> Any:
        return multi_status(
            [
                {"index": n, "status": status, "error": {"type": "unavailable"}}
                if call == 1 and record["email"] == "b@x.io"
                else created(n, record)
                for n, record in enumerate(records)
            ]
        )

    api = ScriptedBatchApi(answer)
    run, pauses = upserter(tmp_path, api)
    counts = run.run(RECORDS)
    assert (counts.created, counts.dead_lettered, counts.requests) == (4, 0, 2)
    (first, first_key), (second, second_key) = api.batches
    assert [r["email"] for r in first] == EMAILS
    assert [r["email"] for r in second] == ["b@x.io"]  # only the record that was not created
    assert first_key != second_key  # a new batch, not a replay of the answered one
    assert pauses
    assert ledger_entries(tmp_path, EMAILS) == {email: ("created", f"id-{email}") for email in EMAILS}


def test_a_whole_batch_answered_transient_is_not_replayed_under_its_old_key(tmp_path: Path) -> None:
    def answer(call: int, records: list[dict[str, Any]]) -> Any:
        if call == 1:
            return multi_status([{"index": n, "status": 503} for n in range(len(records))])
        return multi_status([created(n, record) for n, record in enumerate(records)])

    api = ScriptedBatchApi(answer)
    counts = upserter(tmp_path, api)[0].run(RECORDS)
    assert counts.created == 4
    assert [len(records) for records, _ in api.batches] == [4, 4]
    assert api.batches[0][1] != api.batches[1][1]


def test_results_are_matched_by_their_index_whatever_their_order(tmp_path: Path) -> None:
    api = ScriptedBatchApi(
        lambda call, records: multi_status([created(n, r) for n, r in enumerate(records)][::-1])
    )
    upserter(tmp_path, api)[0].run(RECORDS)
    assert ledger_entries(tmp_path, EMAILS) == {email: ("created", f"id-{email}") for email in EMAILS}


def test_a_bare_list_in_and_out_is_read_in_request_order(tmp_path: Path) -> None:
    api = ScriptedBatchApi(
        lambda call, records: [{"code": 201, "data": {"key": f"id-{r['email']}"}} for r in records]
    )
    spec = {
        "batch_records_field": None,
        "batch_results_path": None,
        "batch_index_field": None,
        "batch_status_field": "code",
        "batch_id_field": "data.key",
        "batch_size": 3,
    }
    counts = upserter(tmp_path, api, **spec)[0].run(RECORDS)
    assert (counts.created, counts.requests) == (4, 2)
    assert ledger_entries(tmp_path, EMAILS) == {email: ("created", f"id-{email}") for email in EMAILS}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda records: multi_status([]), "no list of 4 result objects at batch_results_path='results'"),
        (lambda records: {"data": []}, "no list of 4 result objects"),
        (lambda records: multi_status([{"index": 0, "status": 201, "id": "x"}] * 4), "are not 0 to 3"),
        (lambda records: multi_status([{"index": n, "id": "x"} for n in range(4)]), "no HTTP status"),
        (
            lambda records: multi_status([{"index": n, "status": 201} for n in range(4)]),
            "no id at batch_id_field='id'",
        ),
    ],
)
def test_an_answer_the_spec_cannot_read_fails_and_leaves_the_records_pending(
    tmp_path: Path, answer: Callable[[list[dict[str, Any]]], Any], message: str
) -> None:
    api = ScriptedBatchApi(lambda call, records: answer(records))
    with pytest.raises(ConfigurationError, match=message):
        upserter(tmp_path, api)[0].run(RECORDS)
    assert ledger_entries(tmp_path, EMAILS) == {email: ("pending", None) for email in EMAILS}
    other_run = Ledger(make_engine(f"sqlite:///{tmp_path / 's.db'}"), "crm", owner="another run")
    assert other_run.claim("a@x.io", "h", "k") is not None  # the claims were released
