"""A process killed while it writes a checkpoint or a manifest leaves the old one or the new one.

The extract's retry resumes from its checkpoint; a file left truncated by a kill (as a plain
``write_text`` leaves it) made every later try fail on ``JSONDecodeError`` (seen in the chaos
crash trials). Here a child rewrites a large JSON document in a loop and is SIGKILLed at
seeded moments; after each kill the document must still parse.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

WRITER = """
import json, sys
from reliable_api.staging.files import as_path, write_whole
path = as_path(sys.argv[1]) / "_checkpoint.json"
parts = [f"part-{i:05d}.jsonl.gz" for i in range(200_000)]  # ~4 MB: a kill lands mid-write
n = 0
while True:
    n += 1
    write_whole(path, json.dumps({"n": n, "parts": parts}))
    if n == 1:
        print("ready", flush=True)
"""


def test_a_kill_mid_write_leaves_a_whole_document(tmp_path: Path) -> None:
    rng = random.Random(7)
    seen: list[int] = []
    for _ in range(6):
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, f"file://{tmp_path}"], stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(child.pid, signal.SIGKILL)
        document = json.loads((tmp_path / "_checkpoint.json").read_text())
        assert len(document["parts"]) == 200_000
        seen.append(document["n"])
    # The writer got past its first document in most trials: the kills landed among rewrites.
    assert max(seen) > 1
