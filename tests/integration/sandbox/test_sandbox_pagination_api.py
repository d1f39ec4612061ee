"""Every pagination style walks the whole set exactly once; updated_since filters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from reliable_api.testing.sandbox.server import SandboxServer


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


ALL_IDS = [f"con_{n:06d}" for n in range(1, 501)]


def walk_pages(api: httpx.Client, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    page = 1
    while page is not None:
        body = api.get("/v1/contacts", params={**params, "page": page, "per_page": 37}).json()
        ids += [record["id"] for record in body["data"]]
        page = body["next_page"]
    assert body["total"] == len(ids)
    return ids


def walk_offsets(api: httpx.Client, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    offset = 0
    while offset is not None:
        body = api.get("/v1/contacts", params={**params, "offset": offset, "limit": 41}).json()
        ids += [record["id"] for record in body["data"]]
        offset = body["next_offset"]
    return ids


def walk_cursor(api: httpx.Client, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    url: str | None = str(
        api.build_request("GET", "/v1/contacts", params={**params, "cursor": "", "limit": 53}).url
    )
    while url is not None:
        body = api.get(url).json()
        ids += [record["id"] for record in body["data"]]
        assert (body["next_cursor"] is None) == (body["next_url"] is None)
        url = body["next_url"]
    return ids


def walk_links(api: httpx.Client, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    response = api.get("/v1/contacts", params={**params, "per_page": 64})
    while True:
        ids += [record["id"] for record in response.json()["data"]]
        if "next" not in response.links:
            return ids
        response = api.get(response.links["next"]["url"])


Walk = Callable[[httpx.Client, dict[str, Any]], list[str]]
WALKS: list[Walk] = [walk_pages, walk_offsets, walk_cursor, walk_links]


@pytest.mark.parametrize("walk", WALKS)
def test_walks_the_full_set_exactly_once(api: httpx.Client, walk: Walk) -> None:
    assert walk(api, {}) == ALL_IDS


@pytest.mark.parametrize("walk", WALKS)
def test_updated_since_keeps_records_updated_at_or_after(api: httpx.Client, walk: Walk) -> None:
    records = api.get("/v1/contacts", params={"per_page": 1000}).json()["data"]
    since = sorted(record["updated_at"] for record in records)[300]
    expected = [record["id"] for record in records if record["updated_at"] >= since]
    assert len(expected) == 200
    assert walk(api, {"updated_since": since}) == expected


def test_link_header_names_first_prev_next_last(api: httpx.Client) -> None:
    response = api.get("/v1/contacts", params={"page": 3, "per_page": 100})
    links = {rel: link["url"] for rel, link in response.links.items()}
    assert set(links) == {"first", "prev", "next", "last"}
    assert links["next"].startswith(str(api.base_url).rstrip("/") + "/v1/contacts?")
    assert "page=4" in links["next"]
    assert "page=5" in links["last"]
    offset_links = api.get("/v1/contacts", params={"offset": 480, "limit": 50}).links
    assert set(offset_links) == {"first", "prev"}


def test_new_and_changed_records_show_up_in_an_incremental_read(api: httpx.Client) -> None:
    latest = max(
        record["updated_at"] for record in api.get("/v1/contacts", params={"per_page": 1000}).json()["data"]
    )
    created = api.post("/v1/contacts", json={"email": "late@example.com"}).json()
    changed = api.patch("/v1/contacts/con_000001", json={"first_name": "Changed"}).json()
    fresh = api.get("/v1/contacts", params={"updated_since": latest, "per_page": 1000}).json()["data"]
    assert {record["id"] for record in fresh} >= {created["id"], changed["id"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"updated_since": "last tuesday"}, "updated_since"),
        ({"per_page": 0}, "per_page"),
        ({"cursor": "zz"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422(api: httpx.Client, params: dict[str, Any], field: str) -> None:
    response = api.get("/v1/contacts", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_updated_since_accepts_offsets_and_an_unencoded_plus(api: httpx.Client) -> None:
    everything = api.get(
        "/v1/contacts", params={"updated_since": "2000-01-01T00:00:00+02:00", "limit": 1}
    ).json()
    assert everything["total"] == 500
    raw = api.get("/v1/contacts?updated_since=2000-01-01T00:00:00+02:00&limit=1").json()
    assert raw["total"] == 500
