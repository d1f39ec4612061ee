"""Alerts on every failure: what an alert says, callback factories, storm grouping, Deadline Alerts.

DAG files import :mod:`reliable_api.alerting.callbacks` and :mod:`reliable_api.alerting.deadline`;
both stay light (no SQLAlchemy until a callback runs).
"""
