"""The FastAPI app behind ``/reliable-api``: the DLQ browser, its actions, JSON, the health page.

Routes (all need an authenticated Airflow user, see :mod:`reliable_api.plugin.access`)::

    GET  /dlq                       entries, filters integration/status/reason/dag_id/run_id, pages
    GET  /dlq/{id}                  one entry, every field
    POST /dlq/{id}/discard          open/replayed -> discarded, by the user
    POST /dlq/{id}/replay           a run of the integration's replay DAG for this entry
    GET  /api/dlq, /api/dlq/{id}    the same as JSON; POST /api/dlq/{id}/discard|replay
    GET  /health, /api/health       per-integration health
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from reliable_api.deadletter.queue import STATUSES, DeadLetter, DeadLetterQueue, UnknownDeadLetter
from reliable_api.plugin import actions
from reliable_api.plugin.access import CSRF_FIELD, CSRF_HEADER, Access, check_csrf, csrf_token, current_access
from reliable_api.plugin.listing import Page, count_by_integration, find_page, visible_scope
from reliable_api.plugin.render import page, payload_rows

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: Entries per page of the browser.
PAGE_SIZE = 50
#: What a successful action says on the entry's page (keyed, so no text is taken from the URL).
NOTICES = {
    "discarded": "Discarded: this entry will not be replayed.",
    "replay-queued": "Replay queued: the replay DAG run below sends this entry through its load path.",
}

AccessDep = Annotated[Access, Depends(current_access)]
FormToken = Annotated[str | None, Form(alias=CSRF_FIELD)]


def default_engine() -> Engine:
    """The state DB as the tasks find it: connection ``reliable_api_state``, else SQLite."""
    from reliable_api.state.engine import state_engine

    return state_engine()


def create_app(engine: Callable[[], Engine] = default_engine) -> FastAPI:
    """The app; ``engine`` gives the state DB per request (tests point it at their own)."""
    app = FastAPI(title="Reliable API pages", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.add_exception_handler(StarletteHTTPException, _error_page)
    from reliable_api.plugin import bulk, health

    bulk.install(app)  # before /dlq/{entry_id}, which would take "bulk" for an id
    _dlq_pages(app)
    _dlq_api(app)
    health.install(app)
    return app


def _queue(request: Request) -> DeadLetterQueue:
    return DeadLetterQueue(request.app.state.engine())


def _statuses(status_filter: str | None) -> list[str]:
    if not status_filter:
        return []
    if status_filter not in STATUSES:
        allowed = ", ".join(STATUSES)
        detail = f"unknown status {status_filter!r}: one of {allowed}"
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail)
    return [status_filter]


def _readable_entry(request: Request, access: Access, entry_id: int) -> DeadLetter:
    try:
        entry = _queue(request).get(entry_id)
    except UnknownDeadLetter:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter has id {entry_id}") from None
    access.require("GET", entry.dag_id, f"dead letter {entry_id}")
    return entry


def _listing(
    request: Request,
    access: Access,
    integration: str | None,
    status_filter: str | None,
    limit: int,
    offset: int,
    reason: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    from reliable_api.plugin.bulk import by_reason, scan

    statuses = _statuses(status_filter)
    engine = request.app.state.engine()
    scope = visible_scope(engine, access)
    run = {"dag_id": dag_id, "run_id": run_id}
    rows = scan(engine, scope, integration=integration, statuses=statuses, **run)
    if reason:  # reasons are read from messages: the page is cut from the scanned ids
        ids = [row.id for row in rows if row.failure.reason == reason]
        entries = DeadLetterQueue(engine).find(ids=ids[offset : offset + limit], limit=limit) if ids else []
        found = Page(entries=entries, total=len(ids))
    else:
        found = find_page(
            engine, scope, integration=integration, statuses=statuses, limit=limit, offset=offset, **run
        )
    counts = count_by_integration(engine, scope, **run)
    return {"page": found, "counts": counts, "reasons": by_reason(rows)}


def _dlq_pages(app: FastAPI) -> None:
    @app.get("/dlq")
    def dlq_page(
        request: Request,
        access: AccessDep,
        integration: str | None = None,
        status_filter: Annotated[str | None, Query(alias="status")] = None,
        page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
        reason: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> Response:
        from reliable_api.plugin.reasons import failure_of

        integration, dag_id, run_id = integration or None, dag_id or None, run_id or None
        offset = (page_number - 1) * PAGE_SIZE
        listing = _listing(
            request, access, integration, status_filter, PAGE_SIZE, offset, reason or None, dag_id, run_id
        )
        total = listing["page"].total
        pages = max(1, -(-total // PAGE_SIZE))
        chosen = (
            ("integration", integration),
            ("status", status_filter),
            ("reason", reason),
            ("dag_id", dag_id),
            ("run_id", run_id),
        )
        filters = {k: v for k, v in chosen if v}
        return page(
            request,
            "dlq_list.html",
            entries=listing["page"].entries,
            total=total,
            counts=listing["counts"],
            statuses=STATUSES,
            integration=integration,
            status_filter=status_filter,
            page_number=page_number,
            pages=pages,
            query=lambda **changes: urlencode({k: v for k, v in {**filters, **changes}.items() if v}),
            reasons=listing["reasons"],
            reason=reason,
            dag_id=dag_id,
            run_id=run_id,
            failure=failure_of,
            user=access.name,
        )

    @app.get("/dlq/{entry_id}")
    def entry_page(
        request: Request, access: AccessDep, entry_id: int, notice: str | None = None, run: str | None = None
    ) -> Response:
        entry = _readable_entry(request, access, entry_id)
        return _entry_page(request, access, entry, notice=NOTICES.get(notice or ""), replay_run=run)

    @app.post("/dlq/{entry_id}/discard")
    def discard_form(request: Request, access: AccessDep, entry_id: int, token: FormToken = None) -> Response:
        check_csrf(request, access, token)
        entry = _readable_entry(request, access, entry_id)
        outcome = actions.discard(_queue(request), access, entry)
        if not outcome.done:
            return _refused(request, access, entry, outcome.message)
        return _redirect(request, entry_id, notice="discarded")

    @app.post("/dlq/{entry_id}/replay")
    def replay_form(request: Request, access: AccessDep, entry_id: int, token: FormToken = None) -> Response:
        check_csrf(request, access, token)
        entry = _readable_entry(request, access, entry_id)
        outcome = actions.replay(access, entry)
        if not outcome.done:
            return _refused(request, access, entry, outcome.message)
        return _redirect(request, entry_id, notice="replay-queued", run=outcome.run_id or "")


def _entry_page(
    request: Request,
    access: Access,
    entry: DeadLetter,
    *,
    notice: str | None = None,
    problem: str | None = None,
    replay_run: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "dlq_entry.html",
        status_code=status_code,
        entry=entry,
        payload=payload_rows(entry),
        notice=notice,
        problem=problem,
        replay_run=replay_run,
        replay_dag=actions.replay_dag_or_none(entry.integration),
        may_edit=access.may("PUT", entry.dag_id),
        actionable=entry.status in actions.ACTIONABLE,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(access),
        user=access.name,
    )


def _refused(request: Request, access: Access, entry: DeadLetter, problem: str) -> Response:
    """The entry's page with why nothing changed."""
    return _entry_page(request, access, entry, problem=problem, status_code=status.HTTP_409_CONFLICT)


def _redirect(request: Request, entry_id: int, **params: str) -> Response:
    base = str(request.scope.get("root_path", "")).rstrip("/")
    target = f"{base}/dlq/{entry_id}?{urlencode(params)}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _dlq_api(app: FastAPI) -> None:
    @app.get("/api/dlq")
    def dlq_json(
        request: Request,
        access: AccessDep,
        integration: str | None = None,
        status_filter: Annotated[str | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        reason: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        listing = _listing(
            request,
            access,
            integration or None,
            status_filter,
            limit,
            offset,
            reason or None,
            dag_id or None,
            run_id or None,
        )
        return {
            "entries": [actions.entry_json(entry) for entry in listing["page"].entries],
            "total": listing["page"].total,
            "counts": listing["counts"],
            "reasons": [{"reason": r, "field": f, "count": n} for r, f, n in listing["reasons"]],
        }

    @app.get("/api/dlq/{entry_id}")
    def entry_json(request: Request, access: AccessDep, entry_id: int) -> dict[str, Any]:
        return actions.entry_json(_readable_entry(request, access, entry_id))

    @app.post("/api/dlq/{entry_id}/{action}")
    def action_json(
        request: Request,
        access: AccessDep,
        entry_id: int,
        action: str,
        token: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
    ) -> JSONResponse:
        if action not in ("discard", "replay"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r}: discard or replay")
        check_csrf(request, access, token)
        entry = _readable_entry(request, access, entry_id)
        if action == "discard":
            outcome = actions.discard(_queue(request), access, entry)
        else:
            outcome = actions.replay(access, entry)
        code = status.HTTP_200_OK if outcome.done else status.HTTP_409_CONFLICT
        body = {
            "done": outcome.done,
            "message": outcome.message,
            "replay_run_id": outcome.run_id,
            "entry": actions.entry_json(_queue(request).get(entry_id)),
        }
        return JSONResponse(body, status_code=code)


async def _error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    headers = getattr(error, "headers", None)
    if _relative_path(request).startswith("/api/"):
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=headers)
    login = _login_url(_asked(request)) if error.status_code == status.HTTP_401_UNAUTHORIZED else None
    code = error.status_code
    return page(request, "error.html", status_code=code, code=code, detail=error.detail, login=login)


def _relative_path(request: Request) -> str:
    """The path inside this app, whether or not the server strips the mount prefix."""
    path, root = str(request.scope.get("path", "")), str(request.scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _asked(request: Request) -> str:
    """The page the user asked for, as a path on this server (login returns there)."""
    path, root = str(request.scope.get("path", "")), str(request.scope.get("root_path", ""))
    full = path if path.startswith(root) else root.rstrip("/") + path
    return full + (f"?{request.url.query}" if request.url.query else "")


def _login_url(next_url: str) -> str | None:
    from airflow.api_fastapi.app import get_auth_manager

    try:
        url = str(get_auth_manager().get_url_login(next_url=next_url))
    except Exception:  # an auth manager without a login page still gets its 401 shown
        return None
    if "next=" not in url:  # Airflow 3.1's simple auth manager drops it; its login page reads it
        url += ("&" if "?" in url else "?") + urlencode({"next": next_url})
    return url
