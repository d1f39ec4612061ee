"""The demo stack: the sandbox API plus Airflow standalone with ``dags/`` and the provider."""
