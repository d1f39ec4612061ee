"""An anomaly as an alert: its title, what groups it, and the payloads notifiers send."""

from __future__ import annotations

from reliable_api.monitoring.alerts import anomaly_alert
from reliable_api.monitoring.anomalies import Anomaly
from reliable_api.notifications.payloads import json_payload, slack_payload

SLOW = Anomaly("slow", "crm", 600.0, 62.0, "sync.load took 10m 0s; it usually takes 1m 2s", "sync", "load")


def test_the_alert_says_what_where_and_how_far_from_usual() -> None:
    alert = anomaly_alert(SLOW)
    assert alert.title == "Anomaly in crm: Run far slower than usual (sync.load)"
    body = json_payload(alert).body
    assert (body["kind"], body["anomaly"], body["observed"], body["expected"]) == (
        "anomaly",
        "slow",
        600.0,
        62.0,
    )
    assert body["message"] == SLOW.message
    assert body["dlq_url"].endswith("/reliable-api/dlq?integration=crm")
    slack = slack_payload(alert).body
    assert slack["blocks"][0]["text"]["text"] == alert.title
    assert SLOW.message in slack["text"]


def test_alerts_group_per_integration_task_and_kind() -> None:
    same = anomaly_alert(Anomaly("slow", "crm", 900.0, 62.0, "took 15m", "sync", "load"))
    assert same.storm_key == anomaly_alert(SLOW).storm_key  # the same lasting anomaly
    others = [
        Anomaly("volume_drop", "crm", 0.0, 1000.0, "moved 0", "sync", "load"),
        Anomaly("slow", "erp", 600.0, 62.0, "took 10m", "sync", "load"),
        Anomaly("slow", "crm", 600.0, 62.0, "took 10m", "sync", "extract"),
    ]
    keys = {anomaly_alert(anomaly).storm_key for anomaly in [SLOW, *others]}
    assert len(keys) == 4


def test_an_integration_wide_anomaly_names_no_task() -> None:
    alert = anomaly_alert(Anomaly("success_rate_drop", "crm", 0.4, 1.0, "40% of the last 5 tries"))
    assert alert.title == "Anomaly in crm: Success rate dropped"
