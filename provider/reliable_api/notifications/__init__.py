"""Airflow notifiers (``BaseNotifier``) of the provider."""
