"""Which anomalies alert: new ones once, recoveries when they clear, nothing while muted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine

from reliable_api.monitoring.anomalies import Anomaly
from reliable_api.monitoring.anomaly_log import history, reconcile

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
SLOW = Anomaly("slow", "crm", 600.0, 60.0, "crm_sync.load took 10m", "crm_sync", "load", NOW)
SPIKE = Anomaly("frequency_spike", "crm", 68.0, 6.0, "crm: 68 runs in the last 3h", at=NOW)


def test_new_lasting_and_cleared_anomalies(state_db: Engine) -> None:
    first = reconcile(state_db, "crm", [SLOW], now=NOW, muted=False)
    assert (first.to_alert, first.recovered) == ([SLOW], [])
    later = NOW + timedelta(minutes=15)
    lasting = reconcile(state_db, "crm", [SLOW, SPIKE], now=later, muted=False)
    assert (lasting.to_alert, lasting.recovered) == ([SPIKE], [])  # SLOW is not told again
    cleared = reconcile(state_db, "crm", [SPIKE], now=later + timedelta(minutes=15), muted=False)
    assert ([a.kind for a in cleared.recovered], cleared.to_alert) == (["slow"], [])
    assert reconcile(state_db, "erp", [], now=later, muted=False).recovered == []  # others untouched

    past = history(state_db, "crm", NOW - timedelta(days=1))
    assert [(row["kind"], row["closed_at"] is None) for row in past] == [
        ("slow", False),
        ("frequency_spike", True),
    ]
    assert past[0]["at"] == NOW.isoformat()


def test_a_muted_anomaly_alerts_when_the_mute_ends_if_it_lasts(state_db: Engine) -> None:
    muted = reconcile(state_db, "crm", [SLOW], now=NOW, muted=True)
    assert (muted.to_alert, muted.held_by_mute) == ([], [SLOW])
    after = reconcile(state_db, "crm", [SLOW], now=NOW + timedelta(hours=1), muted=False)
    assert after.to_alert == [SLOW]
    # One that opened and cleared within the mute was never told: no recovery either.
    reconcile(state_db, "crm", [SLOW, SPIKE], now=NOW + timedelta(hours=2), muted=True)
    quiet = reconcile(state_db, "crm", [SLOW], now=NOW + timedelta(hours=3), muted=False)
    assert (quiet.to_alert, quiet.recovered) == ([], [])
