"""Monitoring: a metrics row and Airflow ``Stats`` per task try, health and anomalies per integration.

============================  ===============================================================
module                        what
============================  ===============================================================
:mod:`.runs`                  the metrics row of a try, read back (:class:`.runs.RunRow`)
:mod:`.recorder`              what operators wrap their work in: one row per try, any outcome
:mod:`.stats`                 the same numbers through Airflow's ``Stats`` (StatsD/OpenTelemetry)
:mod:`.anomalies`             pure checks of recent tries against the integration's own history
:mod:`.health`                per-integration health for the UI and the health DAG
:mod:`.alerts`                one alert per new anomaly, through the provider's alerting path
============================  ===============================================================
"""
