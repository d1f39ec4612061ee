"""Anomaly checks over hand-built histories: each kind fires, stays quiet, and never judges too little."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reliable_api.monitoring.anomalies import (
    Thresholds,
    detect,
    slow,
    stale,
    success_rate_drop,
    throttling_surge,
    volume_drop,
    volume_spike,
)
from reliable_api.monitoring.runs import RunRow

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
EVERY = timedelta(minutes=15)


def run(
    n: int,
    *,
    seconds: float = 60.0,
    outcome: str = "success",
    records: int | None = 1000,
    rate_limited: int | None = 0,
    task_id: str = "load",
    integration: str = "crm",
) -> RunRow:
    """The ``n``-th try of a task that runs every 15 minutes."""
    started = T0 + n * EVERY
    counts: dict[str, Any] = {}
    if records is not None:
        counts["records_in"] = records
    if rate_limited is not None:
        counts["rate_limited"] = rate_limited
    return RunRow(
        integration=integration,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        outcome=outcome,
        error_class="ServerError" if outcome == "failed" else None,
        dag_id="crm_sync",
        task_id=task_id,
        run_id=f"run_{n}",
        try_number=1,
        counts=counts,
    )


def history(count: int, **kwargs: Any) -> list[RunRow]:
    # Durations and volumes vary a little, as real ones do.
    return [run(n, seconds=60.0 + n % 5, records=1000 + 10 * (n % 7), **kwargs) for n in range(count)]


def after(runs: Sequence[RunRow], count: int = 1) -> datetime:
    """A moment just after ``runs``."""
    return runs[-1].started_at + count * EVERY


# stale --------------------------------------------------------------------------------------------


def test_stale_fires_when_no_success_for_three_usual_intervals() -> None:
    runs = history(20)
    anomaly = stale(runs, after(runs, 4))
    assert anomaly is not None
    assert (anomaly.kind, anomaly.task_id) == ("stale", "load")
    assert anomaly.expected == EVERY.total_seconds()
    assert anomaly.observed == 4 * EVERY.total_seconds()
    assert "has not succeeded for 1h 0m" in anomaly.message
    assert "every 15m 0s" in anomaly.message


def test_stale_counts_failures_as_no_success() -> None:
    runs = history(20) + [run(n, outcome="failed") for n in range(20, 26)]
    assert stale(runs, after(runs)) is not None


def test_stale_stays_quiet_within_the_usual_rhythm() -> None:
    runs = history(20)
    assert stale(runs, after(runs, 2)) is None


def test_stale_never_judges_too_little_history() -> None:
    runs = history(5)
    assert stale(runs, after(runs, 100)) is None


# success rate -------------------------------------------------------------------------------------


def test_success_rate_drop_fires_when_recent_tries_fail() -> None:
    runs = history(20) + [run(20 + n, outcome="failed" if n < 3 else "success") for n in range(5)]
    anomaly = success_rate_drop(runs)
    assert anomaly is not None
    assert (anomaly.observed, anomaly.expected) == (pytest.approx(0.4), 1.0)
    assert "40% of the last 5 tries succeeded; usually 100%" in anomaly.message


def test_success_rate_stays_quiet_for_an_integration_that_always_fails_a_little() -> None:
    runs = [run(n, outcome="failed" if n % 4 == 0 else "success") for n in range(40)]
    assert success_rate_drop(runs) is None


def test_success_rate_ignores_deferred_tries() -> None:
    runs = history(20) + [run(20 + n, outcome="deferred") for n in range(5)]
    assert success_rate_drop(runs) is None


def test_success_rate_never_judges_too_little_history() -> None:
    runs = history(4) + [run(4 + n, outcome="failed") for n in range(5)]
    assert success_rate_drop(runs) is None


# duration -----------------------------------------------------------------------------------------


def test_slow_fires_far_above_the_median() -> None:
    runs = [*history(20), run(20, seconds=600)]
    anomaly = slow(runs)
    assert anomaly is not None
    assert anomaly.observed == 600
    assert anomaly.expected == 62  # the median of 60..64
    assert "took 10m 0s; it usually takes 1m 2s" in anomaly.message


def test_slow_stays_quiet_within_the_spread() -> None:
    assert slow([*history(20), run(20, seconds=70)]) is None


def test_slow_ignores_one_odd_try_in_the_history() -> None:
    runs = history(20)
    runs[5] = run(5, seconds=3000)  # the median and MAD do not move
    assert slow([*runs, run(20, seconds=600)]) is not None
    assert slow([*runs, run(20, seconds=66)]) is None


def test_slow_needs_a_real_slowdown_when_durations_never_vary() -> None:
    runs = [run(n, seconds=1.0) for n in range(20)]  # MAD 0: any extra tenth would be "5 sigma"
    assert slow([*runs, run(20, seconds=1.4)]) is None
    assert slow([*runs, run(20, seconds=7.0)]) is not None


def test_slow_never_judges_too_little_history() -> None:
    assert slow([*history(5), run(5, seconds=6000)]) is None


# volume -------------------------------------------------------------------------------------------


def test_volume_drop_fires_on_zero_records_where_there_are_thousands() -> None:
    anomaly = volume_drop([*history(20), run(20, records=0)])
    assert anomaly is not None
    assert (anomaly.kind, anomaly.observed) == ("volume_drop", 0)
    assert anomaly.expected == pytest.approx(1030)
    assert "moved 0 records; usually 1030" in anomaly.message


def test_volume_drop_stays_quiet_for_a_normal_dip_and_for_small_integrations() -> None:
    assert volume_drop([*history(20), run(20, records=700)]) is None
    small = [run(n, records=5) for n in range(20)]
    assert volume_drop([*small, run(20, records=0)]) is None


def test_volume_spike_fires_and_stays_quiet() -> None:
    anomaly = volume_spike([*history(20), run(20, records=50_000)])
    assert anomaly is not None
    assert anomaly.kind == "volume_spike"
    assert volume_spike([*history(20), run(20, records=2_000)]) is None


def test_volume_checks_look_at_successful_tries_only() -> None:
    # A failed try that read nothing is a failure (success rate), not a volume drop.
    assert volume_drop([*history(20), run(20, records=0, outcome="failed")]) is None


def test_volume_never_judges_too_little_history() -> None:
    assert volume_drop([*history(5), run(5, records=0)]) is None
    assert volume_spike([*history(5), run(5, records=10**6)]) is None


# throttling ---------------------------------------------------------------------------------------


def test_throttling_surge_fires_on_many_more_429s_than_usual() -> None:
    runs = [run(n, rate_limited=n % 3) for n in range(20)]
    anomaly = throttling_surge([*runs, run(20, rate_limited=40)])
    assert anomaly is not None
    assert (anomaly.observed, anomaly.expected) == (40, 2)
    assert "got 40 rate-limit (429) answers; usually at most 2" in anomaly.message


def test_throttling_surge_counts_failed_tries_too() -> None:
    runs = [run(n, rate_limited=0) for n in range(20)]
    assert throttling_surge([*runs, run(20, rate_limited=25, outcome="failed")]) is not None


def test_throttling_surge_stays_quiet_within_usual_throttling() -> None:
    runs = [run(n, rate_limited=20 + n % 5) for n in range(20)]
    assert throttling_surge([*runs, run(20, rate_limited=30)]) is None
    assert throttling_surge([*history(20), run(20, rate_limited=5)]) is None  # a few are normal


def test_throttling_never_judges_too_little_history_or_tasks_without_http() -> None:
    assert throttling_surge([*history(5), run(5, rate_limited=500)]) is None
    no_http = [run(n, rate_limited=None) for n in range(21)]
    assert throttling_surge(no_http) is None


# all together -------------------------------------------------------------------------------------


def test_detect_judges_each_task_against_its_own_history() -> None:
    # The extract is always slower and bigger than the load: neither is an anomaly of the other.
    extract = [run(n, seconds=600, records=50_000, task_id="extract") for n in range(20)]
    load = history(20)
    assert detect(extract + load, now=after(load)) == []


def test_detect_finds_every_kind_of_one_integration_and_none_of_a_healthy_one() -> None:
    sick = [*history(20, integration="sick")]
    sick += [run(20 + n, outcome="failed", integration="sick") for n in range(4)]
    sick.append(run(24, seconds=900, records=0, rate_limited=99, integration="sick"))
    healthy = history(25, integration="healthy")
    found = detect(sick + healthy, now=after(sick, 1))
    assert {anomaly.integration for anomaly in found} == {"sick"}
    assert sorted(anomaly.kind for anomaly in found) == [
        "slow",
        "success_rate_drop",
        "throttling_surge",
        "volume_drop",
    ]
    assert all(anomaly.to_dict()["message"] for anomaly in found)


def test_thresholds_are_adjustable() -> None:
    runs = [*history(4), run(4, seconds=6000)]
    assert slow(runs) is None
    assert slow(runs, Thresholds(min_history=3)) is not None
