"""The health DAG's check over many integrations with 30 days of history each, on SQLite and PostgreSQL.

Seeds N synthetic integrations (:mod:`reliable_api.monitoring.synthetic`: 24 to 200 runs a
day, one task each, a sixth with a planted anomaly) into a fresh state DB, then times what the
``check`` task of ``reliable_api_health`` does: read each integration's bounded history (one
query each), judge it, reconcile the anomaly log, and send the alerts (to no notifier here). The
second pass is the steady state of a DAG that runs every 15 minutes (nothing new to alert).
The budget is 30 s; the ratio printed is time / budget.

    .venv/bin/python bench/health_dag.py [--integrations 200] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

BUDGET_S = 30.0


def seed(url: str, integrations: int) -> int:
    """Write ``integrations`` 30-day histories ending now; return the rows written."""
    from reliable_api.monitoring.synthetic import PLANTED, generate, record
    from reliable_api.state.engine import make_engine
    from reliable_api.state.schema import utcnow

    engine = make_engine(url)
    rows = 0
    for n in range(integrations):
        planted = PLANTED[n % len(PLANTED)] if n % 6 == 0 else None
        history = generate(10_000 + n, planted)
        rows += record(engine, history, as_integration=f"bench_{n:03d}", shift=utcnow() - history.now)
    engine.dispose()
    return rows


def check(url: str) -> tuple[float, float, int, int]:
    """Time one health check; return (wall s, CPU s, integrations judged, anomalies alerted).

    CPU seconds of this process say what the check costs when the machine is shared.
    """
    from reliable_api.monitoring.alerts import check_health

    os.environ["AIRFLOW_CONN_RELIABLE_API_STATE"] = json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": url}}
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = check_health({}, [])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, len(result["integrations"]), len(result["alerted"])


def postgres_url() -> str:
    """A fresh database on the local PostgreSQL."""
    import sqlalchemy

    name = f"bench_health_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    import logging

    logging.disable(logging.INFO)  # one line per integration per check: not what is measured
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    print(f"{args.integrations} integrations x 30 days; budget {BUDGET_S:.0f} s")
    head = f"{'backend':<10} {'rows':>9} {'seed s':>7} {'check wall s (cpu)':>20} {'again wall s (cpu)':>20}"
    print(f"{head} {'x budget':>9} anomalies   load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("AIRFLOW_HOME", tmp)
        for backend in args.backends.split(","):
            url = f"sqlite:///{Path(tmp) / 'state.db'}" if backend == "sqlite" else postgres_url()
            started = time.perf_counter()
            rows = seed(url, args.integrations)
            seeded = time.perf_counter() - started
            first, first_cpu, judged, alerted = check(url)
            second, second_cpu, _, again = check(url)
            assert judged == args.integrations, (judged, args.integrations)
            print(
                f"{backend:<10} {rows:>9,} {seeded:>7.1f} {first:>14.1f} ({first_cpu:>5.1f}) "
                f"{second:>14.1f} ({second_cpu:>5.1f}) {max(first, second) / BUDGET_S:>9.2f} "
                f"{alerted} alerted, {again} again   load average {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
