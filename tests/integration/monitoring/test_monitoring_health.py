"""``integration_health`` and ``recent_runs`` on rows in a real state DB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine

from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import RecordRejected
from reliable_api.monitoring.health import integration_health, recent_runs
from reliable_api.state.metrics import record_run
from reliable_api.state.task import TaskIdentity

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
EVERY = timedelta(hours=1)


def seed(engine: Engine, integration: str, count: int, tail: int = 1, **last: object) -> None:
    """``count`` hourly loads ending an hour before :data:`NOW`; ``last`` edits the last ``tail``."""
    for n in range(count):
        started = NOW - (count - n) * EVERY
        counts: dict[str, object] = {"records_in": 1000 + n % 3, "rate_limited": 1}
        outcome, error, seconds = "success", None, 30.0 + n % 4
        if n >= count - tail:
            counts.update({k: v for k, v in last.items() if k in ("records_in", "rate_limited")})
            outcome = str(last.get("outcome", outcome))
            error = "ServerError" if outcome == "failed" else None
            seconds = float(last.get("seconds", seconds))  # type: ignore[arg-type]
        record_run(
            engine,
            integration,
            TaskIdentity(dag_id="sync", task_id="load", run_id=f"r{n}", try_number=1),
            started_at=started,
            ended_at=started + timedelta(seconds=seconds),
            counts=counts,
            outcome=outcome,
            error_class=error,
        )


def test_health_of_each_integration_from_its_rows(state_db: Engine) -> None:
    seed(state_db, "crm", 48, tail=3, records_in=0, seconds=31.0)
    seed(state_db, "erp", 30, outcome="failed", seconds=2.0)
    store = DeadLetterStore(state_db)
    for key in ("a", "b"):
        store.add("crm", key, {"id": key}, RecordRejected("bad", status=422), TaskIdentity())
    store.add("billing", "c", {"id": "c"}, RecordRejected("bad", status=422), TaskIdentity())

    health = {item.integration: item for item in integration_health(state_db, now=NOW)}

    assert sorted(health) == ["billing", "crm", "erp"]  # billing: dead letters, no runs yet
    crm = health["crm"]
    assert crm.last_run_at == NOW - EVERY
    assert (crm.runs, crm.failed_runs, crm.success_rate) == (24, 0, 1.0)  # the last 24 hours
    assert crm.median_duration_s == 31.0
    assert (crm.last_duration_s, crm.last_records) == (31.0, 0)
    assert (crm.throttled, crm.open_dead_letters) == (24, 2)  # one 429 per run
    assert [anomaly.kind for anomaly in crm.anomalies] == ["volume_drop"]
    assert crm.anomalies[0].task_id == "load"

    erp = health["erp"]
    assert (erp.runs, erp.failed_runs, erp.last_duration_s) == (24, 1, 2.0)
    assert erp.success_rate == 23 / 24
    assert erp.last_records == 1001  # of the last successful try
    assert erp.anomalies == []  # one failure: no drop of 30 points, too few tries for the objective

    billing = health["billing"]
    assert (billing.runs, billing.success_rate, billing.last_run_at, billing.open_dead_letters) == (
        0,
        None,
        None,
        1,
    )
    # What the UI gets: plain JSON.
    as_json = json.loads(json.dumps({name: item.to_dict() for name, item in health.items()}))
    assert as_json["crm"]["anomalies"][0]["kind"] == "volume_drop"
    assert as_json["crm"]["last_run_at"] == (NOW - EVERY).isoformat()
    assert as_json["billing"]["last_run_at"] is None


def test_runs_that_stopped_coming_are_reported(state_db: Engine) -> None:
    seed(state_db, "crm", 24 * 5)  # hourly for five days
    assert integration_health(state_db, now=NOW + 2 * EVERY)[0].anomalies == []
    (health,) = integration_health(state_db, now=NOW + 8 * EVERY)
    assert [anomaly.kind for anomaly in health.anomalies] == ["runs_stopped"]
    assert "no run for 9h 0m; about 8 were due by now" in health.anomalies[0].message


def test_a_renamed_integration_keeps_its_history_and_an_integration_without_runs_looks_retired(
    state_db: Engine,
) -> None:
    from reliable_api.monitoring.settings import IntegrationSettings, MonitoringConfig

    seed(state_db, "crm_old", 24 * 5)
    record_run(
        state_db,
        "crm",
        TaskIdentity(dag_id="sync", task_id="load", run_id="new", try_number=1),
        started_at=NOW - timedelta(minutes=30),
        ended_at=NOW - timedelta(minutes=29),
        counts={"records_in": 1000},
    )
    config = MonitoringConfig(integrations={"crm": IntegrationSettings(renamed_from=("crm_old",))})
    (crm,) = integration_health(state_db, now=NOW, config=config)
    assert (crm.integration, crm.runs, crm.anomalies, crm.retired) == ("crm", 25, [], None)  # 24 + 1
    assert crm.renamed_from == ("crm_old",)

    plain = {item.integration: item for item in integration_health(state_db, now=NOW + timedelta(days=9))}
    assert plain["crm_old"].retired == "no run for 9 days (retired after 7)"
    assert plain["crm_old"].status == "retired"


def test_recent_runs_are_the_latest_oldest_first(state_db: Engine) -> None:
    seed(state_db, "crm", 10, outcome="failed")
    seed(state_db, "erp", 3)
    rows = recent_runs(state_db, "crm", limit=4)
    assert [row["run_id"] for row in rows] == ["r6", "r7", "r8", "r9"]
    assert rows[-1]["outcome"] == "failed"
    assert rows[-1]["error_class"] == "ServerError"
    assert rows[0]["duration_s"] == 32.0
    assert rows[0]["records_in"] == 1000
    assert rows[0]["rate_limited"] == 1
    assert rows[0]["dead_lettered"] is None  # not reported by these rows
    json.dumps(rows)


def test_each_task_of_an_integration_has_its_own_figures_and_trend(state_db: Engine) -> None:
    """An extract of 2 s and a load of 60 s: the integration's median mixes them, the tasks' do not."""
    for n in range(6):
        started = NOW - (6 - n) * EVERY
        for task_id, seconds, outcome in (("extract", 2.0, "success"), ("load", 60.0, "success")):
            if task_id == "load" and n == 5:
                outcome = "failed"
            record_run(
                state_db,
                "crm",
                TaskIdentity(dag_id="sync", task_id=task_id, run_id=f"r{n}", try_number=1),
                started_at=started,
                ended_at=started + timedelta(seconds=seconds + n),
                counts={"records_in": 100 * (n + 1)},
                outcome=outcome,
                error_class="ServerError" if outcome == "failed" else None,
            )

    (crm,) = integration_health(state_db, now=NOW)
    extract, load = crm.tasks
    assert (extract.name, load.name) == ("sync.extract", "sync.load")
    assert extract.median_duration_s == 4.5  # 2..7 s
    assert load.median_duration_s == 62.0  # 60..64 s: the failed sixth try does not count
    assert (extract.runs, extract.failed_runs, load.runs, load.failed_runs) == (6, 0, 6, 1)
    assert load.success_rate == 5 / 6
    assert load.last_records == 500  # of the last successful try
    assert [outcome for _, outcome in load.trend] == ["success"] * 5 + ["failed"]
    assert [seconds for seconds, _ in extract.trend] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert (crm.runs, crm.failed_runs) == (12, 1)
    as_json = json.loads(json.dumps(crm.to_dict()))
    assert as_json["tasks"][1]["trend"][-1] == {"duration_s": 65.0, "outcome": "failed"}
