"""``python -m reliable_api.deadletter``: list, show, replay and discard from a shell."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reliable_api.deadletter.cli import main
from reliable_api.deadletter.store import DeadLetterStore
from reliable_api.exceptions import RecordRejected
from reliable_api.staging.files import read_records
from reliable_api.state.engine import make_engine


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = make_engine(url)
    store = DeadLetterStore(engine)
    for number in range(3):
        key = f"user{number}@example.com"
        store.add("crm", key, {"email": key}, RecordRejected("bad phone", reason="invalid", status=422))
    engine.dispose()
    return url


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run the command line in this process (one test runs it as ``python -m``)."""

    def run(state_url: str, *args: str) -> Ran:
        try:
            code = main(["--state-url", state_url, *args])
        except SystemExit as exit_:  # argparse refuses the arguments
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def test_runs_as_a_module(state_url: str) -> None:
    command = [sys.executable, "-m", "reliable_api.deadletter", "--state-url", state_url, "list", "--json"]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == 3


def test_list_show_discard_and_replay(state_url: str, tmp_path: Path, cli: Callable[..., Ran]) -> None:
    listed = cli(state_url, "list", "--integration", "crm", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [entry["record_key"] for entry in entries] == [f"user{n}@example.com" for n in (2, 1, 0)]

    table = cli(state_url, "list").stdout
    assert "user0@example.com" in table
    assert "RecordRejected" in table

    shown = json.loads(cli(state_url, "show", str(entries[0]["id"])).stdout)
    assert (shown["payload"], shown["message"]) == ({"email": "user2@example.com"}, "bad phone; status: 422")

    discarded = cli(state_url, "discard", str(entries[0]["id"]), "--by", "ops")
    assert discarded.stdout.strip().startswith("discarded 1 of 1")

    replayed = cli(state_url, "replay", "--integration", "crm", "--out", str(tmp_path / "replay"))
    batch = json.loads(replayed.stdout)
    assert batch["replay"]["entries"] == 2  # the discarded entry is not replayed
    assert sorted(r["email"] for r in read_records(batch)) == ["user0@example.com", "user1@example.com"]
    statuses = {json.loads(line)["status"] for line in cli(state_url, "list", "--json").stdout.splitlines()}
    assert statuses == {"replayed", "discarded"}


def test_list_prints_aligned_columns(state_url: str, cli: Callable[..., Ran]) -> None:
    engine = make_engine(state_url)
    error = RecordRejected("x" * 300, reason="invalid", status=404)
    DeadLetterStore(engine).add("billing_invoices_eu", "k" * 60, {"n": 1}, error)
    engine.dispose()
    heading, rule, *rows = cli(state_url, "list").stdout.splitlines()
    assert heading.split() == [
        "id",
        "integration",
        "record",
        "key",
        "status",
        "tries",
        "error",
        "http",
        "last",
        "seen",
    ]
    assert len(rows) == 4
    gaps = [index for index, char in enumerate(rule) if char == " "]
    assert len(gaps) == 2 * 7  # eight columns, two spaces between each
    for line in [heading, *rows]:
        assert all(line[index] == " " for index in gaps if index < len(line)), line
    assert any("kkk…" in row for row in rows)  # a long key is cut to its column
    assert all(len(row) <= len(rule) for row in rows)


def test_bad_input_is_named_and_exits_2(state_url: str, cli: Callable[..., Ran]) -> None:
    missing = cli(state_url, "show", "12345")
    assert (missing.returncode, missing.stderr.strip()) == (2, "error: no dead letter has id 12345")
    status = cli(state_url, "list", "--status", "opened")
    assert status.returncode == 2
    assert "unknown dead-letter status ['opened']" in status.stderr
    url = cli("not a url", "list")
    assert url.returncode == 2
    assert "the state DB URL is not a SQLAlchemy URL" in url.stderr
    usage = cli(state_url, "show", "abc")
    assert usage.returncode == 2
    assert "invalid int value: 'abc'" in usage.stderr
