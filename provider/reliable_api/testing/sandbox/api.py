"""The CRM API itself: ``/v1/{resource}`` list, get, search, create, update, delete and batch.

Handlers are ``async`` and never await between reading and writing the store, so each runs
atomically on the event loop. Authentication, rate limiting, faults and idempotency happen
before a request gets here (see :mod:`reliable_api.testing.sandbox.gateway`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from reliable_api.testing.sandbox.config import SandboxConfig
from reliable_api.testing.sandbox.data import TIMESTAMP_FORMAT, Record
from reliable_api.testing.sandbox.errors import ApiError, invalid, not_found
from reliable_api.testing.sandbox.faults import refused_status
from reliable_api.testing.sandbox.pagination import paginate
from reliable_api.testing.sandbox.state import SandboxState
from reliable_api.testing.sandbox.store import Collection, ResourceSpec, normalize_key

MAX_BATCH = 1000
SERVER_FIELDS = ("id", "updated_at")


def sandbox_state(request: Request) -> SandboxState:
    """The running sandbox's state (a FastAPI dependency)."""
    return cast(SandboxState, request.app.state.sandbox)


State = Annotated[SandboxState, Depends(sandbox_state)]
router = APIRouter(prefix="/v1")


def _collection(state: SandboxState, resource: str) -> Collection:
    collection = state.collections.get(resource)
    if collection is None:
        raise not_found(f"there is no resource {resource!r}")
    return collection


async def json_object(request: Request) -> Record:
    """The request body as a JSON object.

    :raises ApiError: 422 naming ``body`` when it is missing, not JSON or not an object.
    """
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise invalid("body", "the request body must be a JSON object")
    return body


def parse_since(raw: str | None) -> str | None:
    """``updated_since`` as a timestamp comparable with ``updated_at``.

    :raises ApiError: 422 naming ``updated_since`` when it is not ISO 8601.
    """
    if raw is None:
        return None
    # An unencoded "+01:00" arrives as " 01:00" (a plus is a space in query strings).
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", raw.strip())
    text = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid("updated_since", f"updated_since must be an ISO 8601 date-time, got {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def check_forced_failure(config: SandboxConfig, spec: ResourceSpec, record: Mapping[str, object]) -> None:
    """Fail permanently for records named in ``--fail-404`` / ``--fail-422`` (by id or natural key).

    So do records whose primary natural key (one draw per record) falls in ``--fail-404-share`` /
    ``--fail-422-share``.

    :raises ApiError: the configured 404 or 422.
    """
    fail_404 = {normalize_key(item) for item in config.fail_404}
    fail_422 = {normalize_key(item) for item in config.fail_422}
    for name in ("id", *spec.natural_keys):
        if record.get(name) is None:
            continue
        value = normalize_key(record[name])
        if value in fail_404:
            raise not_found(f"record {value!r} is not found (fail_404)")
        if value in fail_422:
            raise invalid(name, f"{name} {value!r} is rejected (fail_422)")
    name = spec.primary_key
    if record.get(name) is not None:
        value = normalize_key(record[name])
        shared = refused_status(config, value)
        if shared == 404:
            raise not_found(f"record {value!r} is not found (fail_404_share)")
        if shared == 422:
            raise invalid(name, f"{name} {value!r} is rejected (fail_422_share)")


def _check_natural_keys(spec: ResourceSpec, fields: Record) -> None:
    for name in spec.natural_keys:
        if name in fields and not isinstance(fields[name], str):
            raise invalid(name, f"{name} must be a string")


def create_record(state: SandboxState, collection: Collection, fields: Record) -> Record:
    """Validate and store a new record, counting the create under its natural key.

    :raises ApiError: 422 without a natural key, 409 ``already_exists`` for a known one (unless
        duplicates are allowed), or a forced failure.
    """
    spec = collection.spec
    _check_natural_keys(spec, fields)
    if not any(fields.get(name) for name in spec.natural_keys):
        raise invalid(spec.primary_key, f"{' or '.join(spec.natural_keys)} is required")
    check_forced_failure(state.config, spec, fields)
    if not state.config.allow_duplicates:
        existing_id = collection.existing_id(fields)
        if existing_id is not None:
            raise ApiError(
                409, "already_exists", "a record with this natural key exists", existing_id=existing_id
            )
    fields = {name: value for name, value in fields.items() if name not in SERVER_FIELDS}
    record = collection.insert(fields, state.timestamp())
    key = next(normalize_key(record[name]) for name in spec.natural_keys if record.get(name))
    state.stats.creates_by_key[f"{spec.name}:{key}"] += 1
    return record


def _links(request: Request, links: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {rel: str(request.url.include_query_params(**params)) for rel, params in links.items()}


@router.get("/{resource}")
async def list_records(resource: str, request: Request, state: State) -> JSONResponse:
    """One page of records in id order, optionally only those updated since a time."""
    collection = _collection(state, resource)
    params = request.query_params
    page = paginate(collection.ids_updated_since(parse_since(params.get("updated_since"))), params)
    urls = _links(request, page.links)
    body: dict[str, object] = {"data": list(collection.records(page.ids)), **page.body}
    if "next_cursor" in page.body:  # cursor style: the next page's URL is in the body too
        body["next_url"] = urls.get("next")
    link = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in urls.items())
    return JSONResponse(body, headers={"Link": link})


@router.get("/{resource}/search")
async def search_records(resource: str, request: Request, state: State) -> JSONResponse:
    """Records matching every natural key given as a query parameter."""
    if not state.config.lookup:
        raise not_found("search is switched off (lookup)")
    collection = _collection(state, resource)
    criteria = {
        name: request.query_params[name]
        for name in collection.spec.natural_keys
        if name in request.query_params
    }
    if not criteria:
        names = " or ".join(collection.spec.natural_keys)
        raise invalid(collection.spec.primary_key, f"search needs {names}")
    (first, value), *others = criteria.items()
    matches = [
        record
        for record in collection.find(first, value)
        if all(
            record.get(name) is not None and normalize_key(record[name]) == normalize_key(other)
            for name, other in others
        )
    ]
    return JSONResponse({"data": matches})


@router.post("/{resource}/batch", status_code=207)
async def create_batch(resource: str, request: Request, state: State) -> JSONResponse:
    """Create several records; each gets its own status, as in a 207 Multi-Status answer."""
    if not state.config.batch:
        raise not_found("batch is switched off (batch)")
    items = (await json_object(request)).get("records")
    collection = _collection(state, resource)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise invalid("records", f"records must be a list of 1 to {MAX_BATCH} objects")
    results: list[dict[str, object]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise invalid(f"records[{index}]", "each record must be a JSON object")
            record = create_record(state, collection, item)
            results.append({"index": index, "status": 201, "id": record["id"], "data": record})
        except ApiError as error:
            results.append({"index": index, "status": error.status, **error.body})
    created = sum(1 for result in results if result["status"] == 201)
    return JSONResponse(
        {"results": results, "created": created, "failed": len(results) - created}, status_code=207
    )


@router.get("/{resource}/{record_id}")
async def get_record(resource: str, record_id: str, state: State) -> JSONResponse:
    """One record by id."""
    collection = _collection(state, resource)
    record = collection.get(record_id)
    check_forced_failure(state.config, collection.spec, record or {"id": record_id})
    if record is None:
        raise not_found(f"there is no {resource} record {record_id!r}")
    return JSONResponse(record)


@router.post("/{resource}", status_code=201)
async def create_one(resource: str, request: Request, state: State) -> JSONResponse:
    """Create a record; the server assigns its id."""
    fields = await json_object(request)
    record = create_record(state, _collection(state, resource), fields)
    return JSONResponse(record, status_code=201)


@router.delete("/{resource}/{record_id}", status_code=204)
async def delete_record(resource: str, record_id: str, state: State) -> Response:
    """Delete a record, as someone outside the pipeline may (the reconciliation tests do)."""
    if _collection(state, resource).remove(record_id) is None:
        raise not_found(f"there is no {resource} record {record_id!r}")
    return Response(status_code=204)


@router.patch("/{resource}/{record_id}")
async def update_record(resource: str, record_id: str, request: Request, state: State) -> JSONResponse:
    """Merge fields into a record."""
    body = await json_object(request)  # before reading the store: no await between read and write
    collection = _collection(state, resource)
    record = collection.get(record_id)
    check_forced_failure(state.config, collection.spec, record or {"id": record_id})
    if record is None:
        raise not_found(f"there is no {resource} record {record_id!r}")
    changes = {name: value for name, value in body.items() if name not in SERVER_FIELDS}
    _check_natural_keys(collection.spec, changes)
    check_forced_failure(state.config, collection.spec, changes)
    if not state.config.allow_duplicates:
        for name in collection.spec.natural_keys:
            if changes.get(name):
                others = [
                    other["id"]
                    for other in collection.find(name, str(changes[name]))
                    if other["id"] != record_id
                ]
                if others:
                    raise ApiError(
                        409, "already_exists", f"another record has this {name}", existing_id=others[0]
                    )
    return JSONResponse(collection.update(record_id, changes, state.timestamp()))
