"""Not for import: the module name Airflow derives from the distribution's name.

Airflow 3.3's DAG bundle manager looks for every installed provider's ``example_dags`` by turning
its distribution name into a module name (``airflow-provider-reliable-api`` ->
``airflow_provider_reliable_api``) and logs an error with a traceback, on every DAG parse with
``load_examples`` on, when that import fails. This empty package answers that import; it has no
``example_dags``, so no example bundle is added. The provider itself is ``reliable_api``.
"""
