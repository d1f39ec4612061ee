"""nginx ``limit_req`` as a rate limiter no one here wrote, in front of a static JSON file.

For tests and benchmarks of a client's pacing against the limiter half the internet runs. nginx
serves the file itself (the content phase runs after ``limit_req``'s preaccess phase), answers 429
to a refused request, and logs each request's status and time (``$msec``), which
:meth:`NginxServer.stats` counts. :func:`ensure_nginx` installs Debian's ``nginx-light`` when
asked to (the benchmark does; tests skip without nginx).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NGINX = "/usr/sbin/nginx"


def ensure_nginx(*, install: bool = True) -> str | None:
    """The nginx binary; installed from Debian's ``nginx-light`` when missing and ``install``.

    :returns: the binary's path, or ``None`` when it is missing and not to be installed.
    """
    if not os.path.exists(NGINX):
        if not install:
            return None
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "nginx-light"], check=True, env=env, capture_output=True)
    return NGINX


@dataclass(frozen=True)
class Zone:
    """One ``limit_req`` zone: ``rate`` like ``"20r/s"`` or ``"300r/m"``, ``burst`` 0 for none."""

    name: str
    rate: str
    burst: int = 0

    def directives(self) -> tuple[str, str]:
        """The zone's ``limit_req_zone`` line (http level) and its ``limit_req`` line (location)."""
        zone = f"limit_req_zone $server_port zone={self.name}:1m rate={self.rate};"
        burst = f" burst={self.burst} nodelay" if self.burst else ""
        return zone, f"limit_req zone={self.name}{burst};"


class NginxServer:
    """nginx on a free loopback port, serving ``path`` under the given zones."""

    def __init__(self, zones: tuple[Zone, ...], *, path: str, port: int) -> None:
        self.zones = zones
        self.path = path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._dir = Path(tempfile.mkdtemp(prefix="reliable_api_nginx_"))
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxServer:
        binary = ensure_nginx()
        assert binary is not None
        root = self._dir / "root"
        target = root / self.path.lstrip("/")
        target.parent.mkdir(parents=True)
        target.write_text('{"id": "con_000001", "name": "Ada"}\n')
        for folder in [self._dir, *target.parents]:
            if str(folder).startswith(str(self._dir)):
                folder.chmod(0o755)
        target.chmod(0o644)
        zones = [zone.directives() for zone in self.zones]
        conf = self._dir / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
pid {self._dir}/nginx.pid;
error_log {self._dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    log_format timed '$status $msec';
    {" ".join(zone for zone, _ in zones)}
    server {{
        listen 127.0.0.1:{self.port};
        access_log {self._dir}/access.log timed;
        default_type application/json;
        limit_req_status 429;
        location = /ready {{ access_log off; return 204; }}
        location / {{
            root {root};
            {" ".join(rule for _, rule in zones)}
        }}
    }}
}}
"""
        )
        self._process = subprocess.Popen(
            [binary, "-p", str(self._dir), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import requests

        for _ in range(100):
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {self._process.stderr.read().decode() if self._process.stderr else ''}"
                )
            try:
                requests.get(self.url + "/ready", timeout=1)  # outside the zones: counts for none
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def arrivals(self) -> list[tuple[int, float]]:
        """Every logged request as ``(status, arrival time)``, in order."""
        log = self._dir / "access.log"
        if not log.exists():
            return []
        rows = []
        for line in log.read_text().splitlines():
            status, _, msec = line.partition(" ")
            rows.append((int(status), float(msec)))
        return rows

    def stats(self, start: float = 0.0, end: float = float("inf")) -> dict[str, Any]:
        """What nginx logged between ``start`` and ``end``.

        2xx, 429s, the most 2xx in any 1-second window, and the shortest gaps between two
        requests (1st and 5th percentile, ms, by nginx's log clock).
        """
        rows = [(status, at) for status, at in self.arrivals() if start <= at < end]
        admitted = [at for status, at in rows if status == 200]
        most, first = 0, 0
        for last, at in enumerate(admitted):
            while admitted[first] <= at - 1.0:
                first += 1
            most = max(most, last - first + 1)
        times = sorted(at for _, at in rows)
        gaps = sorted(later - earlier for earlier, later in itertools.pairwise(times))
        return {
            # where the time between two requests went below the limit's interval, as nginx saw it
            "gap_p1_ms": round(gaps[len(gaps) // 100] * 1000, 1) if gaps else None,
            "gap_p5_ms": round(gaps[len(gaps) // 20] * 1000, 1) if gaps else None,
            "responses_2xx": len(admitted),
            "rate_limited": sum(1 for status, _ in rows if status == 429),
            "requests_total": len(rows),
            "max_admitted_per_second": most,
            "admitted_times": admitted,
        }

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)
