"""Reading and writing records: list/get/search/create/update/batch, validation and auth."""

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


def all_contacts(api: httpx.Client) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = api.get("/v1/contacts", params={"per_page": 1000}).json()["data"]
    return contacts


def test_get_one_record_or_a_json_404(api: httpx.Client) -> None:
    record = api.get("/v1/contacts/con_000042").json()
    assert record["id"] == "con_000042"
    assert "updated_at" in record
    missing = api.get("/v1/contacts/con_999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    assert api.get("/v1/invoices").status_code == 404
    assert api.get("/v1/invoices").json()["error"]["type"] == "not_found"


def test_search_by_natural_key_finds_every_spelling_of_a_duplicate(api: httpx.Client) -> None:
    contacts = all_contacts(api)
    spellings: dict[str, list[str]] = {}
    for contact in contacts:
        if isinstance(contact.get("email"), str):
            spellings.setdefault(str(contact["email"]).strip().lower(), []).append(str(contact["id"]))
    email, ids = next((email, ids) for email, ids in spellings.items() if len(ids) > 1)
    found = api.get("/v1/contacts/search", params={"email": email.upper()}).json()["data"]
    assert [record["id"] for record in found] == ids

    by_external_id = api.get("/v1/contacts/search", params={"external_id": "CRM-0000007"}).json()["data"]
    assert [record["id"] for record in by_external_id] == ["con_000007"]
    company = api.get("/v1/companies/cmp_000002").json()
    assert (
        api.get("/v1/companies/search", params={"domain": company["domain"]}).json()["data"][0]["id"]
        == "cmp_000002"
    )
    assert api.get("/v1/contacts/search", params={"email": "nobody@nowhere.example"}).json() == {"data": []}
    needs_key = api.get("/v1/contacts/search")
    assert needs_key.status_code == 422
    assert needs_key.json()["error"]["field"] == "email"


def test_lookup_can_be_switched_off(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(lookup=False)
    response = api.get("/v1/contacts/search", params={"email": "a@example.com"})
    assert response.status_code == 404


def test_create_assigns_an_id_and_refuses_a_known_natural_key(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    created = api.post(
        "/v1/contacts", json={"email": "new.person@example.com", "first_name": "New", "id": "mine"}
    )
    assert created.status_code == 201
    record = created.json()
    assert record["id"] == "con_000501"
    assert record["first_name"] == "New"
    again = api.post("/v1/contacts", json={"email": " New.Person@Example.com"})
    assert again.status_code == 409
    assert again.json()["error"] == {
        "type": "already_exists",
        "message": "a record with this natural key exists",
        "existing_id": "con_000501",
    }
    by_external_id = api.post("/v1/contacts", json={"external_id": "CRM-0000003"})
    assert by_external_id.json()["error"]["existing_id"] == "con_000003"
    stats = sandbox.stats()
    assert stats["creates_by_key"] == {"contacts:new.person@example.com": 1}
    assert stats["duplicate_creates"] == 0


def test_allow_duplicates_makes_duplicates_visible(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.configure(allow_duplicates=True)
    ids = [api.post("/v1/companies", json={"domain": "twice.example.com"}).json()["id"] for _ in range(2)]
    assert ids == ["cmp_000051", "cmp_000052"]
    api.post("/v1/companies", json={"domain": "once.example.com"})
    stats = sandbox.stats()
    assert stats["creates_by_key"] == {"companies:twice.example.com": 2, "companies:once.example.com": 1}
    assert stats["duplicate_creates"] == 1
    assert stats["creates_total"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[1, 2]", "body"),
        (b"{not json", "body"),
        (b"", "body"),
        (b'{"first_name": "No Key"}', "email"),
        (b'{"email": 42}', "email"),
    ],
)
def test_invalid_creates_are_422_naming_the_field(api: httpx.Client, body: bytes, field: str) -> None:
    response = api.post("/v1/contacts", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"
    assert response.json()["error"]["field"] == field


def test_patch_merges_fields_and_moves_updated_at(api: httpx.Client) -> None:
    before = api.get("/v1/contacts/con_000010").json()
    response = api.patch("/v1/contacts/con_000010", json={"phone": "+14155550100", "id": "hijack"})
    assert response.status_code == 200
    after = response.json()
    assert after == {**before, "phone": "+14155550100", "updated_at": after["updated_at"]}
    assert after["updated_at"] > before["updated_at"]
    assert api.get("/v1/contacts/con_000010").json() == after
    assert api.patch("/v1/contacts/con_999999", json={"phone": "1"}).status_code == 404
    taken = api.get("/v1/contacts/con_000011").json()["external_id"]
    assert api.patch("/v1/contacts/con_000010", json={"external_id": taken}).status_code == 409
    assert api.patch("/v1/contacts/con_000010", json=["not", "an", "object"]).status_code == 422


def test_batch_reports_each_record(sandbox: SandboxServer, api: httpx.Client) -> None:
    existing = api.get("/v1/contacts/con_000001").json()["external_id"]
    response = api.post(
        "/v1/contacts/batch",
        json={"records": [{"email": "b1@example.com"}, {"external_id": existing}, {"first_name": "?"}, "x"]},
    )
    assert response.status_code == 207
    body = response.json()
    assert [result["status"] for result in body["results"]] == [201, 409, 422, 422]
    assert body["results"][0]["data"]["email"] == "b1@example.com"
    assert body["results"][1]["error"]["existing_id"] == "con_000001"
    assert body["results"][3]["error"]["field"] == "records[3]"
    assert (body["created"], body["failed"]) == (1, 3)
    assert api.post("/v1/contacts/batch", json={"records": []}).status_code == 422

    sandbox.configure(batch=False)
    assert api.post("/v1/contacts/batch", json={"records": [{"email": "b2@example.com"}]}).status_code == 404


def test_api_keys_are_required_when_configured(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(api_keys=["k1", "k2"], contacts=5, companies=1)
    with httpx.Client(base_url=server.url) as client:
        missing = client.get("/v1/contacts")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert client.get("/v1/contacts", headers={"Authorization": "Bearer nope"}).status_code == 403
        assert client.get("/v1/contacts", headers={"Authorization": "Bearer k1"}).status_code == 200
        assert client.get("/v1/contacts", headers={"X-API-Key": "k2"}).status_code == 200
        assert client.get("/_sandbox/health").status_code == 200
    stats = server.stats()
    assert stats["responses_by_status"] == {"200": 2, "401": 1, "403": 1}
