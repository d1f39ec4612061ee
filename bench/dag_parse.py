"""DAG parse time of each sample DAG, over ``import airflow.sdk``, next to an http-provider peer.

Usage: python bench/dag_parse.py [--runs 5] [FILE_NAME ...]

Each measurement is a fresh interpreter: it imports ``airflow.sdk`` and the names every DAG file
uses from it (``DAG``, ``dag``, ``task``, ``BaseOperator``, ``Asset``: the SDK loads them lazily),
then times executing the DAG file, in CPU milliseconds of that process. Two settings:

- **as the DAG processor parses**: with compiled bytecode (what ``pip install`` leaves; a cache
  under a temporary ``PYTHONPYCACHEPREFIX``, filled by one untimed run) and with the heap frozen
  (``gc.freeze()``) after the SDK import, as ``DagFileProcessorManager.before_run`` does before
  it forks the parsers. The budget (100 ms) is checked on this one.
- **cold**: no bytecode (``PYTHONDONTWRITEBYTECODE``, as in this machine's venv) and no frozen
  heap: each module is compiled from source, and a full garbage collection of the ~160,000
  objects Airflow loaded may land inside the parse (``gc ms`` is the collections' time inside it).

``airflow`` is the first setting with the provider's names imported before the clock starts
(Airflow's own DAG, timetable and ``@task`` machinery), ``provider`` the rest. The peer is the
same pipeline shape written with the http provider's ``HttpOperator`` and common.sql's
``SQLExecuteQueryOperator``; the reference is a bare ``@hourly`` DAG with one ``@task``.
"""

from __future__ import annotations

import argparse
import json
import os
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

REFERENCE_DAG = """
from datetime import datetime

from airflow.sdk import DAG, task

with DAG("bare_hourly", schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def noop() -> None:
        pass

    noop()
"""

# argv: DAG file, "all" | "airflow-only", "freeze" | "cold".
PROBE = """
import ast, gc, importlib, importlib.util, json, sys, time
import airflow.sdk
from airflow.sdk import DAG, Asset, BaseOperator, dag, task
if sys.argv[3] == "freeze":
    gc.freeze()
if sys.argv[2] == "airflow-only":  # load the provider's names the file uses first: untimed
    for node in ast.walk(ast.parse(open(sys.argv[1]).read())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reliable_api"):
            module = importlib.import_module(node.module)
            [getattr(module, alias.name) for alias in node.names]
collecting = [0.0, 0.0]
def on_gc(phase, info):
    if phase == "start":
        collecting[0] = time.process_time()
    else:
        collecting[1] += time.process_time() - collecting[0]
gc.callbacks.append(on_gc)
cpu = time.process_time()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
cpu = time.process_time() - cpu
gc.callbacks.remove(on_gc)
print(json.dumps([cpu, collecting[1]]))
"""


def probe_env(pycache: Path, *, cold: bool) -> dict[str, str]:
    """A probe's environment: bytecode cached under ``pycache``, or (``cold``) none found or kept."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cold:  # ``pycache`` is then an empty directory: nothing found, whatever site-packages holds
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def parse_once(path: Path, mode: str, env: dict[str, str]) -> tuple[float, float]:
    """CPU ms of one parse of ``path``, and the ms of garbage collection inside it."""
    heap = "cold" if "PYTHONDONTWRITEBYTECODE" in env else "freeze"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), mode, heap],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=env,
    )
    cpu, gc_seconds = json.loads(result.stdout.strip().splitlines()[-1])
    return cpu * 1000, gc_seconds * 1000


def median_ms(path: Path, runs: int, mode: str, env: dict[str, str]) -> tuple[float, float]:
    samples = [parse_once(path, mode, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def measure(name: str, path: Path, runs: int, envs: dict[str, dict[str, str]], *, split: bool) -> None:
    parse_once(path, "all", envs["warm"])  # compiles every module the parse imports into the cache
    cold, cold_gc = median_ms(path, runs, "all", envs["cold"])
    cpu, gc_ms = median_ms(path, runs, "all", envs["warm"])
    row = f"{name:32} {cold:8.1f} {cold_gc:6.1f} {cpu:8.1f} {gc_ms:6.1f}"
    if split:
        airflow_cpu, _ = median_ms(path, runs, "airflow-only", envs["warm"])
        row += f" {airflow_cpu:8.1f} {max(cpu - airflow_cpu, 0.0):9.1f}"
    else:
        row += f" {'':8} {'':9}"
    print(f"{row}  {'ok' if cpu <= BUDGET_MS else 'OVER'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("files", nargs="*", help="sample DAG file names (default: all, and the peers)")
    args = parser.parse_args()
    wanted = set(args.files)
    with tempfile.TemporaryDirectory() as tmp:
        envs = {
            "warm": probe_env(Path(tmp) / "pycache", cold=False),
            "cold": probe_env(Path(tmp) / "none", cold=True),
        }
        print(f"cpu ms, median of {args.runs}; budget {BUDGET_MS:.0f} ms on 'cpu' (as the DAG processor)")
        print(
            f"{'DAG file':32} {'cold':>8} {'gc ms':>6} {'cpu':>8} {'gc ms':>6} {'airflow':>8} {'provider':>9}"
        )
        if not wanted:
            for name, text in (
                ("(peer) http + common.sql", PEER_DAG),
                ("(reference) bare @hourly", REFERENCE_DAG),
            ):
                path = Path(tmp) / f"{name.split()[0].strip('()')}.py"
                path.write_text(text)
                measure(name, path, args.runs, envs, split=False)
        for path in sorted(DAGS.glob("*.py")):
            if not wanted or path.name in wanted:
                measure(path.name, path, args.runs, envs, split=True)


if __name__ == "__main__":
    main()
