"""The provider's state DB: the ID ledger, the dead-letter queue, run metrics and a schema version.

Reached through an Airflow connection (default ``reliable_api_state``), never Airflow's metadata
DB. SQLAlchemy is imported by the submodules only, so a DAG file importing an operator stays light.
"""
