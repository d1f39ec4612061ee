"""DAG parse time of each sample DAG, over ``import airflow.sdk``, next to an http-provider peer.

Usage: python bench/dag_parse.py [--runs 7]

Each measurement is a fresh interpreter (as a DAG processor's parse of a new file pays for the
modules it imports first): it imports ``airflow.sdk`` and the names every DAG file uses from it
(``DAG``, ``dag``, ``task``, ``BaseOperator``, ``Asset``: the SDK loads them lazily), then times
executing the DAG file, in wall and CPU milliseconds of that process. The peer is the same
pipeline shape written with the http provider's ``HttpOperator`` and ``SQLExecuteQueryOperator``
(what a user would write without this provider). Prints the median per file, its ratio to the
peer, and how it splits: ``airflow`` is the parse with the provider's imports already loaded
(Airflow's own DAG, timetable and ``@task`` machinery), ``provider`` the rest. The budget is 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parents[1] / "dags"
BUDGET_MS = 100.0

PEER_DAG = """
from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

with DAG("peer_http_sql", schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=False):
    extract = HttpOperator(task_id="extract", http_conn_id="crm", endpoint="/v1/contacts", method="GET")
    load = SQLExecuteQueryOperator(task_id="load", conn_id="warehouse", sql="SELECT 1")
    extract >> load
"""

# ``airflow.sdk`` resolves its names lazily: the baseline also loads those every DAG file uses.
PROBE = """
import ast, importlib, importlib.util, json, sys, time
import airflow.sdk
from airflow.sdk import DAG, Asset, BaseOperator, dag, task
if sys.argv[2] == "airflow-only":  # load the provider's names the file uses first: untimed
    for node in ast.walk(ast.parse(open(sys.argv[1]).read())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reliable_api"):
            module = importlib.import_module(node.module)
            [getattr(module, alias.name) for alias in node.names]
wall, cpu = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
"""


def parse_once(path: Path, mode: str) -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    wall, cpu = json.loads(result.stdout.strip().splitlines()[-1])
    return wall * 1000, cpu * 1000


def median_ms(path: Path, runs: int, mode: str = "all") -> tuple[float, float]:
    samples = [parse_once(path, mode) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        peer = Path(tmp) / "peer_http_sql.py"
        peer.write_text(PEER_DAG)
        peer_wall, peer_cpu = median_ms(peer, args.runs)
        header = f"{'DAG file':30} {'wall ms':>8} {'cpu ms':>7} {'cpu/peer':>8} {'airflow':>8}"
        header += f" {'provider':>9}"
        print(f"{header}  (cpu ms; budget {BUDGET_MS:.0f} ms)")
        print(f"{'(peer) http + common.sql':30} {peer_wall:8.1f} {peer_cpu:7.1f} {1.0:8.2f}")
        for path in sorted(DAGS.glob("*.py")):
            wall, cpu = median_ms(path, args.runs)
            _, airflow_cpu = median_ms(path, args.runs, "airflow-only")
            provider = max(cpu - airflow_cpu, 0.0)
            verdict = "ok" if cpu <= BUDGET_MS else "OVER"
            print(
                f"{path.name:30} {wall:8.1f} {cpu:7.1f} {cpu / peer_cpu:8.2f} {airflow_cpu:8.1f}"
                f" {provider:9.1f}  {verdict}"
            )


if __name__ == "__main__":
    main()
