"""``python -m demo``: run the demo stack until Ctrl-C, or once with ``--once``.

``--once`` starts the stack, triggers the smoke DAG through Airflow's REST API, waits for the run
and stops everything; the exit code says whether the run succeeded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from demo.stack import REPO, DemoError, DemoStack

DEMO_DAG = "sandbox_smoke"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run the demo DAG once, then stop")
    parser.add_argument("--home", type=Path, default=REPO / ".demo" / "airflow", help="AIRFLOW_HOME")
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--sandbox-port", type=int, default=8099)
    args = parser.parse_args(argv)

    stack = DemoStack(home=args.home, airflow_port=args.airflow_port, sandbox_port=args.sandbox_port)
    print(f"starting the sandbox API and Airflow standalone (logs in {args.home}) ...", flush=True)
    try:
        with stack:
            user, password = stack.login()
            print(f"Airflow UI:   {stack.airflow_url}  (login: {user} / {password})")
            print(f"Sandbox API:  {stack.sandbox_url}  (stats: {stack.sandbox_url}/_sandbox/stats)")
            if args.once:
                state = stack.run_dag(DEMO_DAG)
                print(f"{DEMO_DAG}: {state}")
                return 0 if state == "success" else 1
            print("Press Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
