"""Airflow hooks: the thin layer that reads connections and calls the reliability logic."""
