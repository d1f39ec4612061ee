"""Airflow operators: thin wiring of connections and context to the reliability logic."""
