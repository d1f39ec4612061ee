"""DemoStack.stop() ends every process of the stack, also those that hide from its environment scan.

Airflow's LocalExecutor workers retitle themselves (setproctitle), which overwrites the
environment ``/proc/<pid>/environ`` shows, and one crash-trial run left 32 of them alive after
ignoring SIGTERM. A stand-in does the same here: no real Airflow needed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from demo.stack import DemoStack, free_port

# A parent that starts a child in its own session (start_new_session=False keeps it there) with
# an empty environment, as a retitled worker shows; the child ignores SIGTERM, the parent exits on it.
PARENT = """
import signal, subprocess, sys, time
deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", deaf], env={})
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_kills_a_process_that_lost_the_stack_environment_and_ignores_sigterm(tmp_path: Path) -> None:
    stack = DemoStack(home=tmp_path, airflow_port=free_port(), sandbox_port=free_port())
    stack._spawn([sys.executable, "-u", "-c", PARENT], stack.environment(), "stand-in.log")
    log = tmp_path / "stand-in.log"
    deadline = time.monotonic() + 30
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
    try:
        marker = f"RELIABLE_API_DEMO_ID={stack.run_id}".encode()
        assert marker not in Path(f"/proc/{child}/environ").read_bytes()
        assert child in stack.leftover_pids()

        stack.stop(grace=2)

        assert not alive(child), f"process {child} outlived stop()"
        assert stack.leftover_pids() == []
    finally:  # nothing left behind, whatever the assertions said
        stack.stop(grace=0)
        if alive(child):
            os.kill(child, signal.SIGKILL)
