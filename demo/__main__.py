"""``python -m demo``: run the demo stack until Ctrl-C, or once with ``--once``.

Every start resets the provider's state (ledger, dead letters, run metrics, the warehouse) with
the sandboxes, which start from their seeded data: so a second ``--once`` reports what the first
did. ``--once`` starts the stack with schedules off and runs the sample DAGs one after the other
through Airflow's REST API: the smoke test, the CRM sync (extract, validate, load; bad contacts
dead-lettered), the replay of its dead letters, the push to the marketing API and the health
check. It prints each run's state and what the runs left behind (dead letters, alerts, contacts
created in the marketing sandbox), then stops everything; the exit code says whether every run
succeeded.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import httpx

from demo.stack import REPO, DemoError, DemoStack

#: The sample DAGs, in the order ``--once`` runs them.
DEMO_DAGS = (
    "sandbox_smoke",
    "crm_contacts_sync",
    "crm_contacts_replay",
    "crm_contacts_to_marketing",
    "reliable_api_health",
)
#: The sample DAGs' alert channel in the sandbox's webhook sink (see DemoStack.environment).
ALERT_CHANNEL = "alerts"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run the sample DAGs once, then stop")
    parser.add_argument("--home", type=Path, default=REPO / ".demo" / "airflow", help="AIRFLOW_HOME")
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--sandbox-port", type=int, default=8099)
    parser.add_argument("--marketing-port", type=int, default=8098)
    args = parser.parse_args(argv)

    stack = DemoStack(
        home=args.home,
        airflow_port=args.airflow_port,
        sandbox_port=args.sandbox_port,
        marketing_port=args.marketing_port,
        scheduled=not args.once,  # only the runs --once triggers, in its report
    )
    # SIGTERM (``kill``, a supervisor, a CI timeout) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where it is ignored
    print(f"starting the sandbox API and Airflow standalone (logs in {args.home}) ...", flush=True)
    try:
        with stack:
            user, password = stack.login()
            print(f"Airflow UI:   {stack.airflow_url}  (login: {user} / {password})")
            print(f"Sandbox API:  {stack.sandbox_url}  (stats: {stack.sandbox_url}/_sandbox/stats)")
            print(f"Marketing:    {stack.marketing_url}  (stats: {stack.marketing_url}/_sandbox/stats)")
            print(f"Dead letters: {stack.airflow_url}/reliable-api/dlq")
            print(f"Health:       {stack.airflow_url}/reliable-api/health", flush=True)
            if args.once:
                return run_once(stack)
            print("Press Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped.")
        return 1 if args.once else 0  # --once cut short did not show its runs succeed


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_once(stack: DemoStack) -> int:
    """Run :data:`DEMO_DAGS` in order, print what they did; 0 when every run succeeded."""
    states = {}
    for dag_id in DEMO_DAGS:
        states[dag_id] = stack.run_dag(dag_id)
        print(f"{dag_id}: {states[dag_id]}", flush=True)
    with stack.api_client() as api:
        dead_letters = api.get(f"{stack.airflow_url}/reliable-api/api/dlq", params={"limit": 1})
        dead_letters.raise_for_status()
    alerts = httpx.get(f"{stack.sandbox_url}/_sandbox/webhook/{ALERT_CHANNEL}", timeout=10)
    alerts.raise_for_status()
    found = dead_letters.json()
    print(f"dead letters: {found['total']} (by integration and status: {found['counts']})")
    print(f"alerts sent to the sandbox's webhook sink: {len(alerts.json()['data'])}")
    marketing = httpx.get(f"{stack.marketing_url}/_sandbox/stats", timeout=10).json()
    print(
        f"marketing API: {marketing['creates_total']} contacts created, "
        f"{marketing['duplicate_creates']} created twice, {marketing['requests_total']} requests "
        f"({marketing['rate_limited']} answered 429, faults injected: {marketing['faults_injected']})"
    )
    return 0 if all(state == "success" for state in states.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
