"""Which anomalies are open, since when, and which were alerted: ``rapi_anomalies`` in the state DB.

Each health check compares what it finds with the open rows of the integration:

- a new anomaly opens a row and alerts, unless the integration is muted (then it alerts when
  the mute ends, if it is still there);
- an anomaly still present updates its row and alerts no one again;
- an open row whose anomaly is gone is closed, with a recovery message if its opening was told.

Closed rows stay: they are the anomaly history the health page marks on its charts.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Column, Float, Index, Integer, Table, Text, select, update
from sqlalchemy.schema import CreateIndex, CreateTable

from reliable_api.monitoring.anomalies import Anomaly
from reliable_api.state.column_types import ExactString, UtcDateTime
from reliable_api.state.schema import metadata

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Engine

anomalies_table = Table(
    "rapi_anomalies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration", ExactString(128), nullable=False),
    Column("kind", ExactString(64), nullable=False),
    Column("dag_id", ExactString(250), nullable=False),  # "" for integration-wide kinds
    Column("task_id", ExactString(250), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime()),  # when the anomaly was seen in the data (charts)
    Column("last_checked_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime()),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("alerted", Boolean, nullable=False),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
_by_integration = Index("ix_rapi_anomalies_open", anomalies_table.c.integration, anomalies_table.c.closed_at)
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


@dataclass
class Changes:
    """What one check changed for one integration: anomalies to alert, and recoveries to tell."""

    to_alert: list[Anomaly] = field(default_factory=list)
    recovered: list[Anomaly] = field(default_factory=list)
    held_by_mute: list[Anomaly] = field(default_factory=list)


def ensure_table(engine: Engine) -> None:
    """Create the table once per engine (an engine made before this module was imported)."""
    if engine in _ready:
        return
    with engine.begin() as conn:
        conn.execute(CreateTable(anomalies_table, if_not_exists=True))
        conn.execute(CreateIndex(_by_integration, if_not_exists=True))
    _ready.add(engine)


def reconcile(
    engine: Engine, integration: str, found: Sequence[Anomaly], *, now: datetime, muted: bool
) -> Changes:
    """Bring ``integration``'s open rows in line with ``found`` at ``now``; return what to tell."""
    ensure_table(engine)
    changes = Changes()
    table = anomalies_table
    with engine.begin() as conn:
        open_rows = {
            (row.integration, row.kind, row.dag_id, row.task_id): row
            for row in conn.execute(
                select(table).where(table.c.integration == integration, table.c.closed_at.is_(None))
            )
        }
        for anomaly in found:
            row = open_rows.pop(anomaly.key, None)
            values = _values(anomaly, now)
            if row is None:
                conn.execute(table.insert().values(**values, opened_at=now, alerted=not muted))
                (changes.held_by_mute if muted else changes.to_alert).append(anomaly)
            else:
                alert_now = not row.alerted and not muted
                conn.execute(
                    update(table)
                    .where(table.c.id == row.id)
                    .values(**values, alerted=row.alerted or alert_now)
                )
                if alert_now:
                    changes.to_alert.append(anomaly)
        for row in open_rows.values():
            conn.execute(update(table).where(table.c.id == row.id).values(closed_at=now, last_checked_at=now))
            if row.alerted and not muted:
                changes.recovered.append(_anomaly(row))
    return changes


def history(engine: Engine, integration: str, since: datetime) -> list[dict[str, Any]]:
    """``integration``'s anomalies open at or after ``since``, oldest first, as JSON-safe dicts."""
    from reliable_api.monitoring.runs import aware

    ensure_table(engine)
    table = anomalies_table
    query = (
        select(table)
        .where(table.c.integration == integration)
        .where(table.c.closed_at.is_(None) | (table.c.closed_at >= since))
        .order_by(table.c.opened_at)
    )
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    return [
        {
            **_anomaly(row).to_dict(),
            "opened_at": aware(row.opened_at).isoformat(),
            "closed_at": aware(row.closed_at).isoformat() if row.closed_at else None,
            "alerted": bool(row.alerted),
        }
        for row in rows
    ]


def _values(anomaly: Anomaly, now: datetime) -> dict[str, Any]:
    return {
        "integration": anomaly.integration,
        "kind": anomaly.kind,
        "dag_id": anomaly.dag_id or "",
        "task_id": anomaly.task_id or "",
        "seen_at": anomaly.at or now,
        "last_checked_at": now,
        "observed": float(anomaly.observed),
        "expected": float(anomaly.expected),
        "message": anomaly.message,
    }


def _anomaly(row: Any) -> Anomaly:
    from reliable_api.monitoring.runs import aware

    return Anomaly(
        row.kind,
        row.integration,
        row.observed,
        row.expected,
        row.message,
        row.dag_id or None,
        row.task_id or None,
        aware(row.seen_at) if row.seen_at else None,
    )
