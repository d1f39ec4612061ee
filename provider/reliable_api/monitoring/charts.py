"""An integration's measures bucketed over a range (24 h, 7 d, 30 d), for the health page's charts.

One :class:`Chart` per measure the mission names: runs, success rate against the objective,
duration p50/p95, volume, 429s and throttled time, dead letters opened and resolved, quota use.
Each anomaly is placed in the bucket it was seen in, on the chart of the measure it is about.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from reliable_api.monitoring.checks_integration import quota_used
from reliable_api.monitoring.runs import RunRow
from reliable_api.monitoring.seasonal import percentile

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reliable_api.monitoring.anomalies import Anomaly

#: Range name -> (span, bucket).
RANGES = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
#: Which chart shows each anomaly kind.
CHART_OF = {
    "frequency_spike": "runs",
    "runs_stopped": "runs",
    "success_objective": "success_rate",
    "success_rate_drop": "success_rate",
    "slow": "duration",
    "volume_drop": "volume",
    "volume_spike": "volume",
    "throttling_surge": "throttling",
    "dead_letter_growth": "dead_letters",
    "quota_burn": "quota",
}


@dataclass
class Chart:
    """One measure over the range: a value per bucket per series, and the anomalies marked."""

    measure: str
    title: str
    unit: str
    starts: list[datetime]
    series: dict[str, list[float | None]]
    target: float | None = None
    marks: list[tuple[int, Anomaly]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: bucket starts in ISO 8601, each series' values, the marks by bucket index."""
        return {
            "measure": self.measure,
            "title": self.title,
            "unit": self.unit,
            "buckets": [start.isoformat() for start in self.starts],
            "series": self.series,
            "target": self.target,
            "anomalies": [{"bucket": index, **anomaly.to_dict()} for index, anomaly in self.marks],
        }


def charts(
    runs: Sequence[RunRow],
    *,
    now: datetime,
    span: str = "7d",
    objective: float = 0.99,
    resolved: Sequence[datetime] = (),
    anomalies: Sequence[Anomaly] = (),
) -> list[Chart]:
    """Every measure of ``runs`` (one integration, oldest first) over ``span`` ending at ``now``.

    :param resolved: when its dead letters were resolved or discarded.
    :raises ValueError: for a span not in :data:`RANGES`.
    """
    if span not in RANGES:
        raise ValueError(f"unknown range {span!r}: one of {', '.join(RANGES)}")
    width, step = RANGES[span]
    count = int(width / step)
    first = _floor(now - width + step, step)
    starts = [first + index * step for index in range(count)]
    buckets: list[list[RunRow]] = [[] for _ in starts]
    for run in runs:
        index = _index(run.started_at, first, step, count)
        if index is not None:
            buckets[index].append(run)
    resolved_per = [0.0] * count
    for moment in resolved:
        index = _index(moment, first, step, count)
        if index is not None:
            resolved_per[index] += 1

    def each(value: Callable[[list[RunRow]], float | None]) -> list[float | None]:
        return [value(bucket) for bucket in buckets]

    result = [
        Chart(
            "runs",
            "Runs",
            "runs",
            starts,
            {"runs": each(lambda b: float(len({(r.dag_id, r.run_id) for r in b})))},
        ),
        Chart(
            "success_rate", "Success rate", "%", starts, {"success": each(_success)}, target=objective * 100
        ),
        Chart(
            "duration", "Duration", "s", starts, {"p50": each(_duration(0.5)), "p95": each(_duration(0.95))}
        ),
        Chart("volume", "Records", "records", starts, {"records": each(_summed(lambda r: r.records))}),
        Chart(
            "throttling",
            "Rate limiting",
            "429s / s",
            starts,
            {
                "429s": each(_summed(lambda r: r.measure("rate_limited"))),
                "throttled s": each(_summed(lambda r: r.measure("throttled_seconds"))),
            },
        ),
        Chart(
            "dead_letters",
            "Dead letters",
            "records",
            starts,
            {"opened": each(_summed(lambda r: r.measure("dead_lettered"))), "resolved": list(resolved_per)},
        ),
        Chart("quota", "API quota used", "%", starts, {"used": each(_quota)}, target=100.0),
    ]
    by_measure = {chart.measure: chart for chart in result}
    for anomaly in anomalies:
        index = _index(anomaly.at or now, first, step, count)
        by_measure[CHART_OF.get(anomaly.kind, "runs")].marks.append(
            (count - 1 if index is None else index, anomaly)
        )
    return result


def resolved_dead_letters(engine: Engine, integrations: Sequence[str], since: datetime) -> list[datetime]:
    """When each dead letter of ``integrations`` resolved or discarded since ``since`` changed status."""
    from sqlalchemy import select

    from reliable_api.monitoring.runs import aware
    from reliable_api.state.schema import dead_letters

    query = select(dead_letters.c.status_changed_at).where(
        dead_letters.c.integration.in_(list(integrations)),
        dead_letters.c.status.in_(["resolved", "discarded"]),
        dead_letters.c.status_changed_at >= since,
    )
    with engine.connect() as conn:
        return [aware(moment) for moment in conn.execute(query).scalars() if moment is not None]


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = step.total_seconds()
    stamp = moment.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, moment.tzinfo)


def _index(moment: datetime, first: datetime, step: timedelta, count: int) -> int | None:
    index = int((moment - first) / step) if moment >= first else -1
    return index if 0 <= index < count else None


def _success(bucket: list[RunRow]) -> float | None:
    finished = [run for run in bucket if run.finished]
    if not finished:
        return None
    return round(100 * sum(1 for run in finished if run.outcome == "success") / len(finished), 2)


def _duration(share: float) -> Callable[[list[RunRow]], float | None]:
    def value(bucket: list[RunRow]) -> float | None:
        durations = [
            run.duration_s or 0.0
            for run in bucket
            if run.outcome == "success" and (run.duration_s or -1) >= 0
        ]
        if not durations:
            return None
        found = statistics.median(durations) if share == 0.5 else percentile(durations, share)
        return round(found, 3)

    return value


def _summed(measure: Callable[[RunRow], float | int | None]) -> Callable[[list[RunRow]], float | None]:
    def value(bucket: list[RunRow]) -> float | None:
        values = [found for run in bucket if (found := measure(run)) is not None]
        return round(float(sum(values)), 3) if values else (0.0 if bucket else None)

    return value


def _quota(bucket: list[RunRow]) -> float | None:
    shares = [share for run in bucket if (share := quota_used(run)) is not None]
    return round(100 * max(shares), 2) if shares else None
