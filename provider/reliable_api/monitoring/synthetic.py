"""Synthetic integration histories with planted anomalies, to measure the checks honestly.

A history is 30 days of one integration's runs: a schedule (fixed, or triggered at random), a
daily cycle, for some a working week (quiet weekends), noisy durations and volumes, rare
failures, some throttling and dead letters, and a daily API quota. One anomaly kind may be planted
at the end; "now" falls at a random hour and weekday, so nights and weekends are judged too.

Planted kinds (:data:`PLANTED`): ``frequency_spike`` (10x the integration's daily rate for the
last 2-6 hours), ``success_objective`` (3% failures for the last 3-7 days), ``slow`` (5x duration
for the last 1-6 hours, at least 3 tries), ``volume_drop`` (0 records for the last 3+ tries),
``quota_burn`` (3x the quota use since midnight, enough to exhaust it), ``runs_stopped`` (no
run since ten usual runs were due). :func:`reliable_api.monitoring.evaluation.evaluate` counts
what the checks find.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from reliable_api.monitoring.runs import RunRow

if TYPE_CHECKING:
    from sqlalchemy import Engine

PLANTED = ("frequency_spike", "success_objective", "slow", "volume_drop", "quota_burn", "runs_stopped")
DAY = 86_400.0
#: The reference "now" the histories end near (a Monday); each history shifts it by up to a week.
EPOCH = datetime(2026, 11, 30, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Profile:
    """What is normal for one synthetic integration."""

    runs_per_day: float
    regular: bool
    daily_amplitude: float
    peak_hour: float
    weekend_level: float
    median_duration_s: float
    median_records: float
    failure_rate: float
    throttle_rate: float
    dead_letter_share: float
    quota_use: float

    @classmethod
    def random(cls, rng: random.Random) -> Profile:
        """A plausible integration: 24 to 200 runs a day, half of them on a working week."""
        return cls(
            runs_per_day=rng.choice([24.0, 50.0, 96.0, 200.0]),
            regular=rng.random() < 0.5,
            daily_amplitude=rng.uniform(0.0, 0.8),
            peak_hour=rng.uniform(0, 24),
            weekend_level=rng.choice([1.0, 1.0, rng.uniform(0.05, 0.3)]),
            median_duration_s=rng.uniform(10, 300),
            median_records=rng.choice([200.0, 1_000.0, 20_000.0]),
            failure_rate=rng.uniform(0.0005, 0.003),
            throttle_rate=rng.uniform(0, 2),
            dead_letter_share=rng.uniform(0.0, 0.004),
            quota_use=rng.uniform(0.3, 0.6),
        )

    def level(self, moment: float) -> float:
        """The seasonal factor of activity at ``moment`` (1 = the day's average)."""
        hour = (moment % DAY) / 3600
        cycle = 1 + self.daily_amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)
        weekday = datetime.fromtimestamp(moment, timezone.utc).weekday()
        return cycle * (self.weekend_level if weekday >= 5 else 1.0)


@dataclass(frozen=True)
class History:
    """The runs of one synthetic integration, when to judge them, and what was planted."""

    integration: str
    runs: list[RunRow]
    now: datetime
    planted: str | None


def generate(seed: int, planted: str | None = None, *, days: int = 30) -> History:
    """The history number ``seed`` with ``planted`` (one of :data:`PLANTED`, or ``None``)."""
    if planted is not None and planted not in PLANTED:
        raise ValueError(f"unknown planted kind {planted!r}: one of {', '.join(PLANTED)}")
    rng = random.Random(seed)
    profile = Profile.random(rng)
    end = (EPOCH - timedelta(seconds=rng.uniform(0, 7 * DAY))).timestamp()
    name = f"synthetic_{seed}"
    onset = _onset(rng, profile, planted, end)
    starts = _starts(rng, profile, end - days * DAY, end, planted, onset)
    runs: list[RunRow] = []
    quota_day, quota_used = -1, 0.0
    for index, start in enumerate(starts):
        late = onset is not None and start >= onset
        level = profile.level(start)
        day = int(start // DAY)
        if day != quota_day:
            quota_day, quota_used = day, 0.0
        burn = (
            max(3.0, 1.6 / profile.quota_use) if planted == "quota_burn" and start >= end - end % DAY else 1.0
        )
        quota_used += profile.quota_use * level * burn / profile.runs_per_day * rng.uniform(0.8, 1.2)
        records = (
            0
            if late and planted == "volume_drop"
            else round(profile.median_records * level * rng.lognormvariate(0, 0.2))
        )
        duration = profile.median_duration_s * (0.8 + 0.2 * level) * rng.lognormvariate(0, 0.25)
        failure = 0.03 if late and planted == "success_objective" else profile.failure_rate
        started = datetime.fromtimestamp(start, timezone.utc)
        runs.append(
            RunRow(
                integration=name,
                started_at=started,
                ended_at=started + timedelta(seconds=duration * (5.0 if late and planted == "slow" else 1.0)),
                outcome="failed" if rng.random() < failure else "success",
                dag_id=f"{name}_sync",
                task_id="sync",
                run_id=f"run_{index}",
                try_number=1,
                counts={
                    "records_in": records,
                    "dead_lettered": round(records * profile.dead_letter_share * rng.uniform(0, 2)),
                    "rate_limited": _poisson(rng, profile.throttle_rate),
                    "throttled_seconds": round(rng.expovariate(1.0) * profile.throttle_rate * 2, 3),
                    "quota_limit": 100_000,
                    "quota_remaining": max(0, round(100_000 * (1 - quota_used))),
                },
            )
        )
    return History(name, runs, datetime.fromtimestamp(end, timezone.utc), planted)


def _onset(rng: random.Random, profile: Profile, planted: str | None, end: float) -> float | None:
    hour = 3600.0
    if planted == "frequency_spike":
        return end - rng.uniform(2, 6) * hour
    if planted == "success_objective":
        return end - rng.uniform(3, 7) * DAY
    if planted == "slow":
        return end - max(rng.uniform(1, 6) * hour, 3.5 * DAY / profile.runs_per_day / profile.level(end))
    if planted == "volume_drop":
        return end - max(rng.uniform(1, 6) * hour, 3.5 * DAY / profile.runs_per_day / profile.level(end))
    if planted == "runs_stopped":
        return _when_due(profile, end, 10.0)
    return None


def _when_due(profile: Profile, end: float, runs: float) -> float:
    """The moment from which ``runs`` usual runs were due by ``end``."""
    moment, due, step = end, 0.0, 600.0
    while due < runs:
        moment -= step
        due += profile.runs_per_day * profile.level(moment) * step / DAY
    return moment


def _starts(
    rng: random.Random, profile: Profile, begin: float, end: float, planted: str | None, onset: float | None
) -> list[float]:
    starts: list[float] = []
    if profile.regular:  # a schedule: fixed interval, a little jitter; quiet weekends skip runs
        interval = DAY / profile.runs_per_day
        moment = begin
        while moment < end:
            if rng.random() < min(1.0, profile.level(moment) / max(1.0, profile.daily_amplitude + 1) * 1.5):
                starts.append(moment + rng.uniform(0, 0.05 * interval))
            moment += interval
    else:  # triggered: a Poisson process following the seasonal level
        starts = _poisson_times(rng, begin, end, lambda t: profile.runs_per_day * profile.level(t) / DAY)
    if planted == "frequency_spike" and onset is not None:
        starts += _poisson_times(rng, onset, end, lambda t: 10 * profile.runs_per_day / DAY)
    if planted == "runs_stopped" and onset is not None:
        starts = [start for start in starts if start < onset]
    return sorted(start for start in starts if start < end)


def _poisson_times(
    rng: random.Random, begin: float, end: float, rate: Callable[[float], float]
) -> list[float]:
    """Arrival times of a Poisson process with time-varying ``rate`` (per second), by thinning."""
    top = max(rate(begin + k * 900) for k in range(int((end - begin) / 900) + 1)) or 1e-9
    times: list[float] = []
    moment = begin
    while True:
        moment += rng.expovariate(top)
        if moment >= end:
            return times
        if rng.random() < rate(moment) / top:
            times.append(moment)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def record(
    engine: Engine, history: History, *, as_integration: str | None = None, shift: timedelta | None = None
) -> int:
    """Write ``history``'s runs to the state DB's run metrics (demo data, the browser test, benchmarks).

    :param as_integration: file them under this name instead of ``history.integration``.
    :param shift: move every time by this much (e.g. so the history ends now).
    :returns: the rows written.
    """
    from reliable_api.state.schema import run_metrics

    moved = shift or timedelta(0)
    rows = [
        {
            "integration": as_integration or run.integration,
            "dag_id": run.dag_id,
            "task_id": run.task_id,
            "run_id": run.run_id,
            "try_number": run.try_number,
            "started_at": run.started_at + moved,
            "ended_at": (run.ended_at or run.started_at) + moved,
            "counts": dict(run.counts),
            "outcome": run.outcome,
            "error_class": "ServerError" if run.outcome == "failed" else None,
        }
        for run in history.runs
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 5_000):
            conn.execute(run_metrics.insert(), rows[start : start + 5_000])
    return len(rows)


def histories(count: int, planted: str | None, *, first_seed: int = 0) -> list[History]:
    """``count`` histories with ``planted``, seeds from ``first_seed``."""
    return [generate(first_seed + n, planted) for n in range(count)]


__all__ = ["PLANTED", "History", "Profile", "generate", "histories", "record"]
