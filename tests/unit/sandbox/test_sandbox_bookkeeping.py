"""Pure parts of the sandbox besides limiter, data and faults: pagination, idempotency, stats."""

from __future__ import annotations

from unittest.mock import ANY

import pytest
from starlette.datastructures import Headers

from reliable_api.testing.sandbox.errors import ApiError
from reliable_api.testing.sandbox.gateway import client_label, presented_key, route_label
from reliable_api.testing.sandbox.idempotency import IdempotencyStore, StoredResponse, request_fingerprint
from reliable_api.testing.sandbox.pagination import decode_cursor, encode_cursor, paginate
from reliable_api.testing.sandbox.stats import NANOS, SlidingWindowMax, Stats

IDS = [f"con_{n:06d}" for n in range(1, 24)]


def walk(params: dict[str, str], rel_param: str) -> list[str]:
    seen: list[str] = []
    while True:
        page = paginate(IDS, params)
        seen += page.ids
        if "next" not in page.links:
            return seen
        params = {**params, rel_param: page.links["next"][rel_param]}


@pytest.mark.parametrize(
    ("params", "rel_param"),
    [
        ({"page": "1", "per_page": "5"}, "page"),
        ({"offset": "0", "limit": "5"}, "offset"),
        ({"cursor": "", "limit": "5"}, "cursor"),
    ],
)
def test_every_style_walks_every_id_once(params: dict[str, str], rel_param: str) -> None:
    assert walk(params, rel_param) == IDS


def test_page_style_body_and_links() -> None:
    page = paginate(IDS, {"page": "2", "per_page": "10"})
    assert page.body == {"page": 2, "per_page": 10, "total": 23, "next_page": 3}
    assert page.links == {
        "first": {"page": "1"},
        "last": {"page": "3"},
        "prev": {"page": "1"},
        "next": {"page": "3"},
    }
    assert paginate(IDS, {"page": "3", "per_page": "10"}).body["next_page"] is None


def test_offset_style_without_parameters_defaults_to_the_first_page() -> None:
    page = paginate(IDS, {"limit": "20"})
    assert page.body == {"offset": 0, "limit": 20, "total": 23, "next_offset": 20}
    assert "prev" not in page.links


def test_cursor_survives_its_record_disappearing() -> None:
    cursor = encode_cursor("con_000005")
    remaining = [record_id for record_id in IDS if record_id != "con_000005"]
    assert paginate(remaining, {"cursor": cursor, "limit": "2"}).ids == ["con_000006", "con_000007"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": "0"}, "page"), ({"per_page": "1001"}, "per_page"), ({"limit": "x"}, "limit"),
     ({"offset": "-1"}, "offset"), ({"cursor": "bm9wZQ"}, "cursor"), ({"cursor": "!!"}, "cursor")],
)  # fmt: skip
def test_bad_parameters_are_422_naming_them(params: dict[str, str], field: str) -> None:
    with pytest.raises(ApiError) as raised:
        paginate(IDS, params)
    assert raised.value.status == 422
    assert raised.value.body["error"] == {"type": "validation_error", "message": ANY, "field": field}


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor("cmp_000042")) == "cmp_000042"


def test_idempotency_replays_conflicts_and_releases() -> None:
    store = IdempotencyStore()
    fingerprint = request_fingerprint("POST", "/v1/contacts", b'{"a": 1, "b": 2}')
    assert fingerprint == request_fingerprint("POST", "/v1/contacts", b'{"b":2,"a":1}')
    assert store.begin("client", "k", fingerprint) is None
    with pytest.raises(ApiError, match="still in progress") as in_use:
        store.begin("client", "k", fingerprint)
    assert in_use.value.status == 409
    response = StoredResponse(201, [(b"content-type", b"application/json")], b"{}")
    store.finish("client", "k", response)
    assert store.begin("client", "k", fingerprint) == response
    other = request_fingerprint("POST", "/v1/contacts", b'{"a": 2}')
    with pytest.raises(ApiError, match="another request") as reused:
        store.begin("client", "k", other)
    assert reused.value.status == 422
    assert store.begin("other client", "k", other) is None
    # A failed first attempt frees the key for a corrected retry.
    store.finish("other client", "k", StoredResponse(422, [], b"{}"))
    assert store.begin("other client", "k", fingerprint) is None


def test_sliding_window_counts_the_busiest_second() -> None:
    window = SlidingWindowMax()
    for at in (0, 0.1, 0.5, 0.99, 1.0, 1.05, 3.0):
        window.add(round(at * NANOS))
    assert window.max == 5  # 0.1 .. 1.05


def test_retry_after_promises_are_checked_against_the_next_request() -> None:
    clock = {"now": 0}
    stats = Stats(monotonic=lambda: clock["now"], wall=lambda: 1_700_000_000 + clock["now"] / NANOS)
    stats.request("GET /v1/contacts", "a")
    stats.promise("a", 1.0)
    clock["now"] = NANOS // 2
    stats.request("GET /v1/contacts", "b")  # another client: no promise to it
    stats.request("GET /v1/contacts", "a")  # too early
    stats.promise("a", 1.0)
    clock["now"] += NANOS
    stats.request("GET /v1/contacts", "a")  # on time
    snapshot = stats.snapshot()
    assert snapshot["retry_after_promises"] == 2
    assert snapshot["early_requests_after_retry_after"] == 1
    assert snapshot["recent_retry_after_promises"] == [
        {"client": "a", "promised_at": ANY, "next_request_at": ANY, "early": True},
        {"client": "a", "promised_at": ANY, "next_request_at": ANY, "early": False},
    ]


def test_routes_and_clients_are_labelled() -> None:
    assert route_label("GET", "/v1/contacts") == "GET /v1/contacts"
    assert route_label("GET", "/v1/contacts/con_000001") == "GET /v1/contacts/{id}"
    assert route_label("POST", "/v1/companies/batch") == "POST /v1/companies/batch"
    assert route_label("GET", "/v1/nothing") == "GET other"
    assert presented_key(Headers({"authorization": "Bearer s3cret"})) == "s3cret"
    assert presented_key(Headers({"x-api-key": "s3cret"})) == "s3cret"
    assert presented_key(Headers({"authorization": "Basic abc"})) is None
    assert client_label(None) == "anonymous"
    assert "s3cret" not in client_label("s3cret")
