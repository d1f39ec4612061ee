"""Every code block of the README and the how-to pages runs as written, against the sandbox API.

A new user copies the connections into their shell and each DAG block into a file of their DAG
folder, then runs ``airflow dags test``: so does this test, with the sandboxes on free ports in
place of the demo's. Each DAG must succeed on its first try, and its log must hold no warning or
error line that the provider causes.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from doc_blocks import (
    DEMO_CRM,
    DEMO_MARKETING,
    DEMO_WAREHOUSE,
    NOT_RUN,
    REPO,
    Block,
    blocks,
    exported,
    localized,
    shell_lines,
)

from reliable_api.testing.sandbox.server import SandboxServer

pytestmark = pytest.mark.slow
BLOCKS = blocks()
KNOWN_LANGUAGES = {"python", "bash", "ini"}
URI_CHECK = (
    "from reliable_api import ReliableHttpHook\n"
    "print(ReliableHttpHook(http_conn_id={conn_id!r}).request('GET', '/v1/contacts').status_code)"
)


def test_every_block_is_of_a_kind_this_test_runs() -> None:
    assert BLOCKS, "no code blocks found"
    unknown = [
        f"{block.where}: {block.language!r}" for block in BLOCKS if block.language not in KNOWN_LANGUAGES
    ]
    assert unknown == []
    for block in BLOCKS:
        if block.language != "bash":
            continue
        for line in shell_lines(block):
            known = exported(line) or line.startswith(("make ", "python -m reliable_api.", *NOT_RUN))
            assert known, f"{block.where}: the test does not know how to check {line!r}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.language == "ini"], ids=lambda b: b.where)
def test_ini_blocks_parse(block: Block) -> None:
    configparser.ConfigParser().read_string(block.text)


def test_make_targets_exist() -> None:
    targets = [
        line.split()[1]
        for b in BLOCKS
        if b.language == "bash"
        for line in shell_lines(b)
        if line.startswith("make ")
    ]
    assert targets
    for target in set(targets):
        ran = subprocess.run(
            ["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert ran.returncode == 0, f"make {target}: {ran.stderr}"


@pytest.fixture
def doc_env(
    sandbox: SandboxServer, make_sandbox: Callable[..., SandboxServer], tmp_path: Path
) -> dict[str, str]:
    """The environment a reader builds from the docs, pointed at this test's sandboxes and files."""
    marketing = make_sandbox(contacts=0)
    substitutions = {
        DEMO_CRM: sandbox.url.removeprefix("http://"),
        DEMO_MARKETING: marketing.url.removeprefix("http://"),
        DEMO_WAREHOUSE: str(tmp_path / "warehouse.db"),
    }
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW_CONN_RELIABLE_API_STATE": json.dumps(
            {"conn_type": "sqlite", "host": str(tmp_path / "state.db")}
        ),
        "AIRFLOW_CONN_SLACK_ALERTS": json.dumps(
            {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"}
        ),
        "RELIABLE_API_DOC_SUBSTITUTIONS": json.dumps(substitutions),
    }
    for block in BLOCKS:
        if block.language == "bash":
            for line in shell_lines(block):
                found = exported(localized(line, substitutions))
                if found:
                    env[found[0]] = found[1]
    (tmp_path / "dags").mkdir()
    return env


def _run(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.usefixtures("airflow_db")
def test_connections_and_snippets_run_as_written(doc_env: dict[str, str]) -> None:
    substitutions = json.loads(doc_env["RELIABLE_API_DOC_SUBSTITUTIONS"])
    connections = sorted(name for name in doc_env if name.startswith("AIRFLOW_CONN_") and "API" in name)
    assert "AIRFLOW_CONN_CRM_API" in connections
    snippets = [b for b in BLOCKS if b.language == "python" and not b.dag_ids]
    assert snippets
    for block in snippets:
        ran = _run([sys.executable, "-c", localized(block.text, substitutions)], doc_env)
        assert ran.returncode == 0, f"{block.where}:\n{ran.stderr[-3000:]}"
        assert "Skipping masking" not in ran.stdout + ran.stderr, block.where
    for block in BLOCKS:  # each URI form of a connection works too, alone
        for line in shell_lines(block) if block.language == "bash" else []:
            found = exported(localized(line, substitutions))
            if found and not found[1].startswith("{"):
                conn_id = found[0].removeprefix("AIRFLOW_CONN_").lower()
                check = URI_CHECK.format(conn_id=conn_id)
                ran = _run([sys.executable, "-c", check], {**doc_env, found[0]: found[1]})
                assert (ran.returncode, ran.stdout.strip()) == (0, "200"), (
                    f"{block.where}: {ran.stderr[-2000:]}"
                )


def _our_bad_lines(output: str) -> list[str]:
    """Warning and error lines that the provider, or what its docs told the user, caused."""
    bad = []
    for line in output.splitlines():
        if "[warning" not in line and "[error" not in line:
            continue
        if "reliable_api" in line or "Skipping masking" in line:
            bad.append(line)
    return bad


#: The README's two pipelines, run as the bar says: ``airflow dags test``, first try.
CLI_DAGS = ("crm_to_warehouse", "crm_to_marketing")
#: The other DAG blocks run in one interpreter with ``dag.test()`` (what ``airflow dags test``
#: calls), so Airflow and Great Expectations load once.
#: ``run_dag_test`` leaves Deadline Alerts out: Airflow 3.3.2's ``dag.test()`` cannot take them.
IN_PROCESS = """
import sys
from tests.airflow_compat import DagBag, run_dag_test
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
for dag_id in sys.argv[2:]:
    run = run_dag_test(bag.get_dag(dag_id), first_run=True)
    print("DAG-STATE", dag_id, run.state, flush=True)
"""


@pytest.mark.timeout(1200)  # three Airflow interpreters running eight DAGs on a loaded 2-core machine
@pytest.mark.usefixtures("airflow_db")
def test_the_dags_run_first_try_without_warnings_of_ours(
    doc_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reliable_api.deadletter.cli import main as dead_letter_cli

    substitutions = json.loads(doc_env["RELIABLE_API_DOC_SUBSTITUTIONS"])
    dag_blocks = [b for b in BLOCKS if b.dag_ids]
    dag_ids = [dag_id for block in dag_blocks for dag_id in block.dag_ids]
    assert set(CLI_DAGS) <= set(dag_ids)
    folder = tmp_path / "dags"
    for number, block in enumerate(dag_blocks):
        (folder / f"doc_dag_{number}.py").write_text(localized(block.text, substitutions))

    for dag_id in CLI_DAGS:
        ran = _run([sys.executable, "-m", "airflow", "dags", "test", dag_id], doc_env, timeout=600)
        output = ran.stdout + ran.stderr
        assert ran.returncode == 0, f"{dag_id}:\n{output[-4000:]}"
        marked = output.split(f"Marking run <DagRun {dag_id} @", 1)
        assert len(marked) == 2, f"{dag_id}: no final state\n{output[-4000:]}"
        assert "> successful" in marked[1].splitlines()[0], f"{dag_id}:\n{output[-4000:]}"
        assert "Task failed with exception" not in output, f"{dag_id}:\n{output[-4000:]}"
        assert _our_bad_lines(output) == [], dag_id
        validate = _task_log(output, "validate")
        assert validate is not None
        assert len(validate) < 30, "\n".join(validate)

    others = [dag_id for dag_id in dag_ids if dag_id not in CLI_DAGS]
    ran = _run([sys.executable, "-c", IN_PROCESS, str(folder), *others], doc_env, timeout=900)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-4000:]
    states = dict(line.split()[1:] for line in ran.stdout.splitlines() if line.startswith("DAG-STATE"))
    assert states == dict.fromkeys(others, "success"), output[-4000:]
    assert "Task failed with exception" not in output, output[-4000:]
    assert _our_bad_lines(output) == []

    commands = [
        line
        for block in BLOCKS
        if block.language == "bash"
        for line in shell_lines(block)
        if line.startswith("python -m reliable_api.deadletter ")
    ]
    assert commands
    monkeypatch.setenv("AIRFLOW_CONN_RELIABLE_API_STATE", doc_env["AIRFLOW_CONN_RELIABLE_API_STATE"])
    for line in commands:  # now that the DAGs filed dead letters; in-process: no startup each
        code = dead_letter_cli(shlex.split(line)[3:])
        assert code == 0, f"{line}: {capsys.readouterr().err}"


def _task_log(output: str, task_id: str) -> list[str] | None:
    """The lines ``airflow dags test`` printed while ``task_id`` ran (its task log), if it ran."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if f"[DAG TEST] starting task_id={task_id} " in line]
    if not starts:
        return None
    end = next(i for i, line in enumerate(lines) if f"[DAG TEST] end task task_id={task_id} " in line)
    return lines[starts[0] : end + 1]


#: The sample DAGs of ``dags/``, in the order the demo runs them.
SAMPLE_DAGS = (
    "sandbox_smoke",
    "crm_contacts_sync",
    "crm_contacts_report",
    "crm_contacts_replay",
    "crm_contacts_to_marketing",
    "marketing_contacts_replay",
    "reliable_api_health",
)


@pytest.mark.timeout(1200)
@pytest.mark.usefixtures("airflow_db")
def test_the_sample_dags_log_no_warning_or_error_of_ours(
    sandbox: SandboxServer, make_sandbox: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    marketing = make_sandbox(contacts=0)
    api = {"conn_type": "reliable_http", "extra": {"rate_limit": "50/sec", "burst": 10}}
    connections = {
        "RELIABLE_API_SANDBOX": {**api, "host": sandbox.url},
        "RELIABLE_API_MARKETING": {**api, "host": marketing.url},
        "RELIABLE_API_STATE": {"conn_type": "sqlite", "host": str(tmp_path / "state.db")},
        "RELIABLE_API_WAREHOUSE": {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")},
        "RELIABLE_API_ALERTS": {"conn_type": "http", "password": f"{sandbox.url}/_sandbox/webhook/alerts"},
    }
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        **{f"AIRFLOW_CONN_{name}": json.dumps(conn) for name, conn in connections.items()},
    }
    ran = _run([sys.executable, "-c", IN_PROCESS, str(REPO / "dags"), *SAMPLE_DAGS], env, timeout=1100)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-4000:]
    states = dict(line.split()[1:] for line in ran.stdout.splitlines() if line.startswith("DAG-STATE"))
    assert states == dict.fromkeys(SAMPLE_DAGS, "success"), output[-4000:]
    assert _our_bad_lines(output) == []
