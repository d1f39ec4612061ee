"""Anomaly checks over hand-built histories: the mission's cases, seasonality, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reliable_api.monitoring.anomalies import judge
from reliable_api.monitoring.runs import RunRow
from reliable_api.monitoring.settings import IntegrationSettings, Thresholds

#: A Monday, midnight UTC.
MONDAY = datetime(2026, 11, 2, tzinfo=timezone.utc)


def history(
    days: int,
    per_day: int,
    *,
    start: datetime = MONDAY,
    when: Callable[[datetime], bool] = lambda moment: True,
    row: Callable[[int, datetime], dict[str, Any]] | None = None,
) -> list[RunRow]:
    """``per_day`` evenly spaced runs a day for ``days`` days where ``when`` allows; ``row`` edits each."""
    runs = []
    step = timedelta(days=1) / per_day
    for n in range(days * per_day):
        started = start + n * step
        if not when(started):
            continue
        fields: dict[str, Any] = {
            "seconds": 60.0 + n % 7,
            "outcome": "success",
            "counts": {"records_in": 1000 + 10 * (n % 5), "rate_limited": n % 2, "dead_lettered": n % 3},
        }
        fields.update(row(n, started) if row else {})
        runs.append(
            RunRow(
                integration="crm",
                started_at=started,
                ended_at=started + timedelta(seconds=fields["seconds"]),
                outcome=fields["outcome"],
                dag_id="crm_sync",
                task_id="load",
                run_id=f"r{n}",
                try_number=1,
                counts=fields["counts"],
            )
        )
    return runs


def kinds(runs: list[RunRow], now: datetime, **thresholds: Any) -> set[str]:
    settings = IntegrationSettings(thresholds=Thresholds(**thresholds))
    return {anomaly.kind for anomaly in judge("crm", runs, now=now, settings=settings).anomalies}


# The mission's examples -----------------------------------------------------------------------


def test_fifty_runs_a_day_becoming_five_hundred_is_caught() -> None:
    usual = history(14, 50)
    now = MONDAY + timedelta(days=14)
    burst = [
        RunRow(
            "crm", now - timedelta(hours=3) + n * timedelta(seconds=173), dag_id="crm_sync", run_id=f"b{n}"
        )
        for n in range(62)  # 500 a day for the last three hours
    ]
    assert "frequency_spike" not in kinds(usual, now)
    found = judge("crm", usual + burst, now=now).anomalies
    (spike,) = [anomaly for anomaly in found if anomaly.kind == "frequency_spike"]
    assert (spike.observed, spike.expected) == (62 + 6, 6)  # the burst and the usual six
    assert "68 runs in the last 3h 0m; usually 6 at this time of day" in spike.message


def test_a_99_percent_objective_breached_by_97_percent_is_caught() -> None:
    def fails_3_percent(n: int, started: datetime) -> dict[str, Any]:
        return {"outcome": "failed" if n % 33 == 0 else "success"}

    def fails_rarely(n: int, started: datetime) -> dict[str, Any]:
        return {"outcome": "failed" if n % 500 == 0 else "success"}

    now = MONDAY + timedelta(days=10)
    assert "success_objective" in kinds(history(10, 50, row=fails_3_percent), now)
    assert "success_objective" not in kinds(history(10, 50, row=fails_rarely), now)
    # Configurable: a 95% objective is met by 97%.
    assert "success_objective" not in kinds(history(10, 50, row=fails_3_percent), now, success_objective=0.95)


def test_a_duration_spike_against_p95_and_median() -> None:
    def slow_at_end(n: int, started: datetime) -> dict[str, Any]:
        return {"seconds": 400.0 if n >= 24 * 5 - 3 else 60.0 + n % 7}

    now = MONDAY + timedelta(days=5)
    assert "slow" in kinds(history(5, 24, row=slow_at_end), now)
    assert "slow" not in kinds(history(5, 24), now)


def test_one_odd_try_is_not_an_anomaly() -> None:
    def one_slow(n: int, started: datetime) -> dict[str, Any]:
        return {"seconds": 900.0 if n == 24 * 5 - 1 else 60.0}

    assert "slow" not in kinds(history(5, 24, row=one_slow), MONDAY + timedelta(days=5))


# Seasonality ----------------------------------------------------------------------------------


def weekdays_9_to_17(moment: datetime) -> bool:
    return moment.weekday() < 5 and 9 <= moment.hour < 17


def test_a_business_hours_job_is_not_stopped_at_night_or_on_saturday() -> None:
    runs = history(19, 48, when=weekdays_9_to_17)  # Monday 2nd to Friday 20th
    assert "runs_stopped" not in kinds(runs, MONDAY + timedelta(days=18, hours=23))  # Friday night
    assert "runs_stopped" not in kinds(runs, MONDAY + timedelta(days=19, hours=12))  # Saturday noon


def test_a_business_hours_job_that_stops_on_a_weekday_is_caught() -> None:
    runs = history(16, 48, when=lambda m: weekdays_9_to_17(m) and m < MONDAY + timedelta(days=15, hours=10))
    found = judge("crm", runs, now=MONDAY + timedelta(days=15, hours=14)).anomalies
    assert [anomaly.kind for anomaly in found] == ["runs_stopped"]
    assert "no run for 4h 30m" in found[0].message  # the last at 9:30 on Tuesday


def test_sunday_volume_is_judged_against_sundays() -> None:
    def quiet_sundays(n: int, started: datetime) -> dict[str, Any]:
        records = 50 if started.weekday() == 6 else 1000 + n % 5
        return {"counts": {"records_in": records}}

    runs = history(20, 24, row=quiet_sundays, when=lambda m: m < MONDAY + timedelta(days=20, hours=12))
    sunday_noon = MONDAY + timedelta(days=20, hours=12)  # the third Sunday
    assert sunday_noon.weekday() == 6
    assert "volume_drop" not in kinds(runs, sunday_noon)


def test_volume_to_zero_on_a_weekday_is_caught() -> None:
    def zero_at_end(n: int, started: datetime) -> dict[str, Any]:
        return {"counts": {"records_in": 0 if n >= 24 * 8 - 3 else 1000 + n % 5}}

    found = judge("crm", history(8, 24, row=zero_at_end), now=MONDAY + timedelta(days=8)).anomalies
    (drop,) = [anomaly for anomaly in found if anomaly.kind == "volume_drop"]
    assert (drop.observed, drop.expected) == (0, pytest.approx(1002, abs=3))


# Throttling, dead letters, quota -------------------------------------------------------------


def test_a_throttling_surge_and_dead_letter_growth() -> None:
    def bad_end(n: int, started: datetime) -> dict[str, Any]:
        late = n >= 24 * 5 - 3
        counts = {
            "records_in": 1000,
            "rate_limited": 40 if late else n % 2,
            "dead_lettered": 200 if late else n % 3,
        }
        return {"counts": counts}

    assert {"throttling_surge", "dead_letter_growth"} <= kinds(
        history(5, 24, row=bad_end), MONDAY + timedelta(days=5)
    )


def test_quota_burn_projects_exhaustion_from_the_usual_shape_of_a_day() -> None:
    def quota(rate: float) -> Callable[[int, datetime], dict[str, Any]]:
        def row(n: int, started: datetime) -> dict[str, Any]:
            today = started.day == 8
            used = (started.hour + 1) / 24 * 0.4 * (rate if today else 1.0)
            return {
                "counts": {
                    "records_in": 1000,
                    "quota_limit": 10_000,
                    "quota_remaining": round(10_000 * (1 - used)),
                }
            }

        return row

    noon = MONDAY + timedelta(days=6, hours=12)  # the 8th
    assert "quota_burn" not in kinds(history(7, 24, row=quota(1.0), when=lambda m: m < noon), noon)
    assert "quota_burn" in kinds(history(7, 24, row=quota(3.0), when=lambda m: m < noon), noon)


# Bad input: said plainly, never an alert on a guess ------------------------------------------------


def test_no_history_and_one_run_are_unknown_not_anomalous() -> None:
    assert judge("crm", [], now=MONDAY).anomalies == []
    assert "no tries recorded" in judge("crm", [], now=MONDAY).notes[0]
    one = history(1, 1)
    judged = judge("crm", one, now=MONDAY + timedelta(days=3))
    assert judged.anomalies == []
    assert any("judge from 8" in note for note in judged.notes)
    assert any("run frequency: 1 runs over 3.0 days" in note for note in judged.notes)


def test_clock_skew_is_noted_and_left_out() -> None:
    runs = history(5, 24)
    now = MONDAY + timedelta(days=5)
    ahead = RunRow(
        "crm",
        now + timedelta(hours=2),
        now + timedelta(hours=2, minutes=1),
        dag_id="crm_sync",
        task_id="load",
    )
    backwards = RunRow(
        "crm", now - timedelta(minutes=5), now - timedelta(minutes=50), dag_id="crm_sync", task_id="load"
    )
    judged = judge("crm", [*runs, ahead, backwards], now=now)
    assert judged.anomalies == []  # a negative duration is no "fast" run, a future one no spike
    assert any("start after now" in note for note in judged.notes)
    assert any("end before they start" in note for note in judged.notes)
