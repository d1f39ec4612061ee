"""Reasons and bulk actions on the dead-letter list: counts by reason, discard or replay a filtered set.

Routes::

    GET  /dlq/bulk?action=discard|replay&integration=&status=&reason=&dag_id=&run_id=
                                                                        what would change: confirm
    POST /dlq/bulk                                                      do it (CSRF token, confirm=yes)
    POST /api/dlq/bulk   {"action", "integration", "status", "reason",  the same for scripts
                          "dag_id", "run_id"}

Only entries the user may edit (``PUT`` on their DAG) and in a state that allows the action
(open or replayed) change; the others are counted and left alone. A replay triggers one run of
each integration's replay DAG with all its entries. Reasons come from :mod:`.reasons`, so the
filter by reason reads at most :data:`MAX_SCAN` entries' messages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, Depends, FastAPI, Form, Header, HTTPException, Query, Request, status
from sqlalchemy import Text, and_, cast, select

from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.plugin import actions
from reliable_api.plugin.access import CSRF_FIELD, CSRF_HEADER, Access, check_csrf, csrf_token, current_access
from reliable_api.plugin.listing import Scope, run_clauses, visible_scope
from reliable_api.plugin.reasons import Failure, failure
from reliable_api.plugin.render import page
from reliable_api.plugin.replay import ReplayUnavailable, trigger_replay
from reliable_api.state.schema import dead_letters

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: The most entries a reason count or a bulk action reads.
MAX_SCAN = 20_000
ACTIONS = ("discard", "replay")
AccessDep = Annotated[Access, Depends(current_access)]


@dataclass(frozen=True)
class Row:
    """What a reason count and a bulk action need of an entry (no payload read)."""

    id: int
    integration: str
    dag_id: str | None
    status: str
    has_payload: bool
    failure: Failure


@dataclass
class Selection:
    """The entries matching the filters: those that will change, and why the others will not."""

    actionable: list[Row] = field(default_factory=list)
    not_allowed: int = 0
    wrong_state: int = 0
    no_payload: int = 0


def scan(
    engine: Engine,
    scope: Scope,
    *,
    integration: str | None,
    statuses: Collection[str],
    reason: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> list[Row]:
    """The entries in ``scope`` matching the filters (of the newest :data:`MAX_SCAN`), newest first."""
    c = dead_letters.c
    # A payload of None is stored as SQL NULL or as JSON null, depending on the writer.
    has_payload = and_(c.payload.is_not(None), cast(c.payload, Text) != "null")
    filters = [*scope.clauses(), *run_clauses(dag_id, run_id)]
    if integration:
        filters.append(c.integration == integration)
    if statuses:
        filters.append(c.status.in_(list(statuses)))
    query = (
        select(
            c.id,
            c.integration,
            c.dag_id,
            c.status,
            has_payload,
            c.message,
            c.http_status,
            c.error_class,
        )
        .where(*filters)
        .order_by(c.last_seen.desc(), c.id.desc())
        .limit(MAX_SCAN)
    )
    with engine.connect() as conn:
        rows = [
            Row(row[0], row[1], row[2], row[3], bool(row[4]), failure(row[5], row[6], row[7]))
            for row in conn.execute(query)
        ]
    return [row for row in rows if not reason or row.failure.reason == reason]


def by_reason(rows: list[Row]) -> list[tuple[str, str | None, int]]:
    """``(reason, field, count)``, the most frequent first."""
    counts = Counter((row.failure.reason, row.failure.field) for row in rows)
    return [(reason, name, count) for (reason, name), count in counts.most_common()]


def select_for(access: Access, action: str, rows: list[Row]) -> Selection:
    """Which of ``rows`` ``access``'s user may ``action`` now, and why the others not."""
    selection = Selection()
    for row in rows:
        if not access.may("PUT", row.dag_id):
            selection.not_allowed += 1
        elif row.status not in actions.ACTIONABLE:
            selection.wrong_state += 1
        elif action == "replay" and not row.has_payload:
            selection.no_payload += 1
        else:
            selection.actionable.append(row)
    return selection


def apply(engine: Engine, access: Access, action: str, selection: Selection) -> list[str]:
    """Discard or replay the selection; one sentence per thing done or refused."""
    entries = selection.actionable
    if not entries:
        return ["nothing matched that you may change; nothing changed"]
    if action == "discard":
        moved = DeadLetterQueue(engine).transition("discarded", by=access.name, ids=[e.id for e in entries])
        return [f"{moved} dead letters discarded by {access.name}"]
    said = []
    per_integration: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        per_integration[entry.integration].append(entry.id)
    for integration, ids in sorted(per_integration.items()):
        dag_id = actions.replay_dag_or_none(integration)
        if dag_id is None:
            said.append(f"{integration}: no replay DAG; {len(ids)} entries unchanged")
        elif not access.may_trigger(dag_id):
            said.append(
                f"{integration}: {access.name} may not trigger {dag_id}; {len(ids)} entries unchanged"
            )
        else:
            try:
                run = trigger_replay(dag_id, ids, user_name=access.name)
            except ReplayUnavailable as error:
                said.append(f"{integration}: {error}; {len(ids)} entries unchanged")
            else:
                said.append(
                    f"{integration}: replay run {run.run_id} of {dag_id} queued for {len(ids)} entries"
                )
    return said


def install(app: FastAPI) -> None:
    """Add the bulk routes to ``app``."""

    def selection(request: Request, access: Access, action: str, filters: dict[str, str | None]) -> Selection:
        if action not in ACTIONS:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown action {action!r}: discard or replay")
        engine = request.app.state.engine()
        statuses = [value] if (value := filters.get("status")) else []
        scope = visible_scope(engine, access)
        rows = scan(
            engine,
            scope,
            integration=filters.get("integration"),
            statuses=statuses,
            reason=filters.get("reason"),
            dag_id=filters.get("dag_id"),
            run_id=filters.get("run_id"),
        )
        return select_for(access, action, rows)

    @app.get("/dlq/bulk")
    def confirm_page(
        request: Request,
        access: AccessDep,
        action: str,
        integration: str | None = None,
        status_filter: Annotated[str | None, Query(alias="status")] = None,
        reason: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> Any:
        filters = {
            "integration": integration or None,
            "status": status_filter,
            "reason": reason or None,
            "dag_id": dag_id or None,
            "run_id": run_id or None,
        }
        chosen = selection(request, access, action, filters)
        return page(
            request,
            "dlq_bulk.html",
            action=action,
            filters=filters,
            selection=chosen,
            done=None,
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(access),
            user=access.name,
        )

    @app.post("/dlq/bulk")
    def bulk_form(
        request: Request,
        access: AccessDep,
        action: Annotated[str, Form()],
        confirm: Annotated[str | None, Form()] = None,
        integration: Annotated[str | None, Form()] = None,
        status_filter: Annotated[str | None, Form(alias="status")] = None,
        reason: Annotated[str | None, Form()] = None,
        dag_id: Annotated[str | None, Form()] = None,
        run_id: Annotated[str | None, Form()] = None,
        token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    ) -> Any:
        check_csrf(request, access, token)
        filters = {
            "integration": integration or None,
            "status": status_filter or None,
            "reason": reason or None,
            "dag_id": dag_id or None,
            "run_id": run_id or None,
        }
        chosen = selection(request, access, action, filters)
        if confirm != "yes":
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "not confirmed: nothing changed")
        done = apply(request.app.state.engine(), access, action, chosen)
        return page(
            request,
            "dlq_bulk.html",
            action=action,
            filters=filters,
            selection=chosen,
            done=done,
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(access),
            user=access.name,
        )

    @app.post("/api/dlq/bulk")
    def bulk_json(
        request: Request,
        access: AccessDep,
        body: Annotated[dict[str, Any], Body()],
        token: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
    ) -> dict[str, Any]:
        check_csrf(request, access, token)
        filters = {
            name: (str(body[name]) if body.get(name) else None)
            for name in ("integration", "status", "reason", "dag_id", "run_id")
        }
        chosen = selection(request, access, str(body.get("action", "")), filters)
        done = apply(request.app.state.engine(), access, str(body["action"]), chosen)
        return {
            "done": done,
            "ids": [entry.id for entry in chosen.actionable],
            "not_allowed": chosen.not_allowed,
            "wrong_state": chosen.wrong_state,
            "no_payload": chosen.no_payload,
        }
