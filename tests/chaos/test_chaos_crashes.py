"""Task processes SIGKILLed under a real scheduler, and runs at once on one target: exactly once.

One ``airflow standalone`` (LocalExecutor) for the module runs the DAGs of
``dags/chaos_crashes.py`` (extract -> validate -> API upsert and DB upsert) against sandboxes
started here. Every DAG run of a slot reads its own CRM sandbox and writes its own marketing
sandbox (``allow_duplicates``: a second create of a natural key is counted, not refused) and
warehouse file; a trial has its own integration (ledger, dead letters) and warehouse table.

- Crashes: in every trial run, the first try of each of the four tasks is killed with SIGKILL at
  a point drawn by a seeded RNG (:mod:`task_killer`), always before the try returns: the extract
  after a number of pages (its checkpoint is every second page), the validation during start-up,
  while importing Great Expectations, while GX checks the normalized batch or after it (staging,
  dead letters), the API upsert after a number of creates (with and without ``Idempotency-Key``
  support, alternating), the DB upsert after a number of merged rows. Airflow retries each; afterwards,
  per trial: target + dead letters = source (API and warehouse), the extract staged every source
  record once, no natural key created twice, and an alert for every failed try. A trial whose
  kill came too late (the try had returned or ended) runs again with fresh points (``REDRAWS``).
- Concurrency: two runs of ``chaos_crashes`` for one data interval and a run of
  ``chaos_crashes_twin``, all at once, on one integration, API and table: no key created twice;
  then the source changes and three runs at once again: every change reaches the API and the
  warehouse (no lost update).

``RELIABLE_API_CHAOS_KILLS`` trials per task (2 here, 20 for docs/reliability.md),
``RELIABLE_API_CHAOS_SLOTS`` trial runs at once (2), ``RELIABLE_API_CHAOS_SEED`` the seed.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text
from task_killer import Killer, KillPoint, log_lines

from demo.stack import DemoStack, free_port
from reliable_api.deadletter.queue import DeadLetterQueue
from reliable_api.staging.files import task_staging_dir
from reliable_api.testing.sandbox.server import SandboxServer

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

KILLS = int(os.environ.get("RELIABLE_API_CHAOS_KILLS", "2"))
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(max(1800, 600 * KILLS))]

DAG_ID = "chaos_crashes"
TWIN = "chaos_crashes_twin"
SLOTS = max(1, min(KILLS, int(os.environ.get("RELIABLE_API_CHAOS_SLOTS", "2"))))
SEED = int(os.environ.get("RELIABLE_API_CHAOS_SEED", "15"))
CONTACTS = 300
PAGES = CONTACTS // 20  # the DAG's page size
TASKS = ("extract", "validate", "push_marketing", "load_warehouse")
LOADS = ("validate", "push_marketing", "load_warehouse")  # the tasks that dead-letter
#: The slot of the concurrency test: its own sandboxes and warehouse.
SHARED = "c"
#: The validation's log lines, in order: importing Great Expectations, normalized, checked.
VALIDATION_MARKERS = ("Checking the contract's", "Normalized ", "Great Expectations checked")
VALIDATION_PHASES = ("start-up", "importing GX", "GX checking", "staging/dead letters")
FAILED_TRY = {"failed", "up_for_retry"}
#: Runs again for a trial whose kill came too late: the try had returned or ended first, as the
#: DB upsert's first try can (it merges 230 rows into a new table in 9-22 ms and ends within some
#: 60 ms more, while a poll of its table can come later than that on a loaded machine). Not a failure
#: of the provider (the try did its work), so the trial runs again, with its points drawn afresh;
#: the test fails when the last run still misses, and reports every run it drew again.
REDRAWS = 2


@dataclass
class Slot:
    """A CRM to read, a marketing API and a warehouse file to write: one run at a time."""

    name: str
    crm: SandboxServer
    marketing: SandboxServer
    warehouse: Path


@dataclass
class Suite:
    stack: DemoStack
    slots: dict[str, Slot]
    #: The concurrency test's warehouse: a PostgreSQL database (SQLite refuses writers at once).
    shared_warehouse: str | None


@dataclass
class Trial:
    """What one crash trial run did, read right after it ended."""

    number: int
    attempt: int
    run_id: str
    state: str
    killers: list[Killer]
    source: int
    target: list[dict[str, Any]]
    stats: dict[str, Any]
    dead: dict[str, int]
    loaded: int
    staged: int
    tries: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def late(self) -> list[str]:
        """The kills that came after the try had returned or ended."""
        return [
            f"{k.point.task_id} at {k.point.label} {k.point.at}: {k.error}" for k in self.killers if k.late
        ]


def connection(url: str, rate: str) -> str:
    extra = {"limiter_backend": "sqlite", "rate_limit": rate, "burst": 1, "backoff_base": 0.05}
    return json.dumps({"conn_type": "reliable_http", "host": url, "extra": extra})


def postgres_connection(url: str) -> str:
    """An Airflow ``postgres`` connection to the database of SQLAlchemy ``url``."""
    parts = make_url(url)
    fields = {"host": parts.host, "port": parts.port, "login": parts.username, "schema": parts.database}
    return json.dumps({"conn_type": "postgres", **fields})


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Suite]:
    home = tmp_path_factory.mktemp("crashes") / "airflow"
    sink = free_port()
    try:
        shared_warehouse: str | None = str(request.getfixturevalue("postgres_url"))
    except pytest.skip.Exception:  # no PostgreSQL here (never under CI=true): no concurrency test
        shared_warehouse = None
    with ExitStack() as resources:
        slots, env = {}, {}
        for number, name in enumerate([*map(str, range(SLOTS)), SHARED]):
            crm = resources.enter_context(SandboxServer(contacts=CONTACTS, seed=40 + number))
            marketing = resources.enter_context(SandboxServer(contacts=0, allow_duplicates=True))
            slots[name] = Slot(name, crm, marketing, home / f"warehouse_{name}.db")
            env[f"AIRFLOW_CONN_CRASH_CRM_{name.upper()}"] = connection(crm.url, "10/sec")
            env[f"AIRFLOW_CONN_CRASH_MARKETING_{name.upper()}"] = connection(marketing.url, "100/sec")
            env[f"AIRFLOW_CONN_CRASH_WAREHOUSE_{name.upper()}"] = json.dumps(
                {"conn_type": "sqlite", "host": str(slots[name].warehouse)}
            )
        if shared_warehouse:
            env[f"AIRFLOW_CONN_CRASH_WAREHOUSE_{SHARED.upper()}"] = postgres_connection(shared_warehouse)
        hook = f"http://127.0.0.1:{sink}/_sandbox/webhook/alerts"
        env["AIRFLOW_CONN_RELIABLE_API_ALERTS"] = json.dumps({"conn_type": "http", "password": hook})
        stack = DemoStack(
            home=home,
            airflow_port=free_port(),
            sandbox_port=sink,
            dags_folder=Path(__file__).parent / "dags",
            extra_env=env,
            scheduled=False,
        )
        resources.enter_context(stack)
        yield Suite(stack, slots, shared_warehouse)


def trigger(api: httpx.Client, dag_id: str, conf: dict[str, str], **interval: datetime) -> str:
    """Start a run of ``dag_id`` with ``conf`` (and a logical date and data interval, if given)."""
    run_id = f"crash__{uuid.uuid4().hex[:12]}"
    body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    body.update({name: moment.isoformat() for name, moment in interval.items()})
    for attempt in range(5):  # a 5xx is the busy SQLite of the stack; the run id makes it safe
        answer = api.post(f"/dags/{dag_id}/dagRuns", json=body)
        if answer.is_success or (answer.status_code == 409 and attempt):
            return run_id
        assert answer.status_code >= 500, answer.text
        time.sleep(2)
    raise AssertionError(f"triggering {dag_id}: {answer.status_code} {answer.text[:300]}")


def everything(api: SandboxServer) -> list[dict[str, Any]]:
    """Every contact of a sandbox."""
    records: list[dict[str, Any]] = []
    for page in range(1, 10_000):
        answer = httpx.get(f"{api.url}/v1/contacts", params={"page": page, "per_page": 500}, timeout=30)
        answer.raise_for_status()
        if not (batch := answer.json()["data"]):
            break
        records += batch
    return records


def warehouse_rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return [dict(row) for row in db.execute(text(f'SELECT * FROM "{table}"')).mappings()]
    finally:
        engine.dispose()


def rows_in(path: Path, table: str) -> int:
    """Rows merged into ``table`` so far; -1 until the task has created it."""
    try:
        with sqlite3.connect(path, timeout=30) as db:
            (count,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
            return int(count)
    except sqlite3.OperationalError:
        return -1


def dead_letters(stack: DemoStack, integration: str) -> dict[str, int]:
    """Dead-lettered records of ``integration`` per task."""
    engine = create_engine(f"sqlite:///{stack.home / 'reliable_api' / 'state.db'}")
    try:
        entries = DeadLetterQueue(engine).find(integration=integration, limit=10 * CONTACTS)
    finally:
        engine.dispose()
    return {task: sum(1 for entry in entries if entry.task_id == task) for task in LOADS}


def tries_of(api: httpx.Client, dag_id: str, run_id: str) -> dict[str, list[tuple[int, str]]]:
    """Each task's tries as ``(try number, state)``."""
    tries = {}
    for task in TASKS:
        answer = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/tries")
        answer.raise_for_status()
        tries[task] = sorted((t["try_number"], t["state"]) for t in answer.json()["task_instances"])
    return tries


def staged_count(api: httpx.Client, dag_id: str, run_id: str) -> int:
    """Records the run's extract staged (its XCom)."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/extract/xcomEntries/return_value"
    value = api.get(path, params={"deserialize": True, "stringify": False}).raise_for_status().json()["value"]
    return int((json.loads(value) if isinstance(value, str) else value)["records"])


def wait_all(stack: DemoStack, runs: list[tuple[str, str]], timeout: float = 900) -> list[str]:
    started = time.monotonic()
    return [
        stack.wait_for_run(dag_id, run_id, timeout=max(60.0, timeout - (time.monotonic() - started)))
        for dag_id, run_id in runs
    ]


def made(directory: ObjectStoragePath) -> Callable[[], int]:
    """A progress counter: 1 once the task has made ``directory``, else 0."""
    return lambda: int(directory.exists())


def validation_point(stack: DemoStack, run_id: str, phase: int, jitter: float) -> KillPoint:
    """Where the validation dies: in ``phase`` of ``VALIDATION_PHASES``, ``jitter`` s after it began.

    The log's lines reach the file through Airflow's supervisor, a little after the task wrote
    them, and once GX has checked the batch the task returns within some 50 ms: less than that
    lag can be on a loaded machine. So the last phase starts when the task makes the staging
    directory of its good rows, which the test sees the moment it is made.
    """
    label = VALIDATION_PHASES[phase]
    if phase == len(VALIDATION_PHASES) - 1:
        root = str(stack.home / "reliable_api" / "staging")
        staged = task_staging_dir(root, dag_id=DAG_ID, run_id=run_id, task_id="validate")
        return KillPoint("validate", made(staged), at=1, jitter=jitter, label=label)
    path = stack.home / "logs" / f"dag_id={DAG_ID}/run_id={run_id}/task_id=validate/attempt=1.log"
    return KillPoint("validate", log_lines(path, VALIDATION_MARKERS), at=phase, jitter=jitter, label=label)


def kill_points(stack: DemoStack, slot: Slot, run_id: str, trial: int, attempt: int) -> list[KillPoint]:
    """Where each task's first try dies in run ``attempt`` of ``trial``: drawn from its own seeded RNG."""
    rng = random.Random(f"{SEED}-{trial}" + (f"-{attempt}" if attempt else ""))
    phase = rng.randint(0, 3)
    return [
        KillPoint(
            "extract",
            lambda: int(slot.crm.stats()["requests_total"]),
            at=rng.randint(1, PAGES - 1),
            jitter=rng.uniform(0, 0.1),  # a page every 0.1 s: anywhere between two pages
            label="pages",
        ),
        # Importing GX takes 2-5 s, checking the batch 0.13-0.24 s (task logs of the bounded run).
        validation_point(
            stack, run_id, phase, (rng.uniform(0, 1.0), rng.uniform(0, 1.0), rng.uniform(0, 0.1), 0.0)[phase]
        ),
        KillPoint(
            "push_marketing",
            lambda: int(slot.marketing.stats()["creates_total"]),
            at=rng.randint(1, 150),
            jitter=rng.uniform(0, 0.02),
            label="creates",
        ),
        KillPoint(
            "load_warehouse",
            lambda: rows_in(slot.warehouse, f"contacts_{trial_name(trial, attempt)}"),
            at=5 * rng.randint(0, 30),  # merged 5 rows per transaction
            jitter=rng.uniform(0, 0.01),
            label="rows",
        ),
    ]


def trial_name(trial: int, attempt: int) -> str:
    """The name of run ``attempt`` of ``trial``: its integration and warehouse table are its own."""
    return f"{trial}r{attempt}" if attempt else str(trial)


def run_trial(suite: Suite, slot: Slot, trial: int, attempt: int = 0) -> Trial:
    """One DAG run with each task's first try killed; what it left, read right after."""
    stack = suite.stack
    name = trial_name(trial, attempt)
    slot.crm.reset()
    slot.marketing.reset(data=True)
    slot.marketing.configure(idempotency=trial % 2 == 0)
    with stack.api_client() as api:
        run_id = trigger(api, DAG_ID, {"slot": slot.name, "trial": name})
    points = kill_points(stack, slot, run_id, trial, attempt)
    killers = [Killer(stack.api_client, DAG_ID, run_id, point) for point in points]
    for killer in killers:
        killer.start()
    (state,) = wait_all(stack, [(DAG_ID, run_id)])
    for killer in killers:
        killer.join(timeout=60)
    with stack.api_client() as api:
        tries = tries_of(api, DAG_ID, run_id)
        staged = staged_count(api, DAG_ID, run_id)
    return Trial(
        number=trial,
        attempt=attempt,
        run_id=run_id,
        state=state,
        killers=killers,
        source=len(everything(slot.crm)),
        target=everything(slot.marketing),
        stats=slot.marketing.stats(),
        dead=dead_letters(stack, f"crash_{name}"),
        loaded=rows_in(slot.warehouse, f"contacts_{name}"),
        staged=staged,
        tries=tries,
    )


def alerts(stack: DemoStack) -> list[dict[str, Any]]:
    received = httpx.get(f"{stack.sandbox_url}/_sandbox/webhook/alerts", timeout=30).json()["data"]
    return [delivery["body"] for delivery in received]


def by_email(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(record["email"]).strip().lower(): record for record in records}


def test_runs_at_once_on_one_target_create_once_and_lose_no_update(suite: Suite) -> None:
    if suite.shared_warehouse is None:
        pytest.skip("PostgreSQL is not reachable: the shared warehouse of runs at once needs it")
    stack, slot = suite.stack, suite.slots[SHARED]
    conf = {"slot": SHARED, "trial": "shared"}
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    interval = {"data_interval_start": start, "data_interval_end": start + timedelta(days=1)}
    renamed: dict[str, str] = {}
    for round_ in (1, 2):
        with stack.api_client() as api:
            runs = [
                (dag_id, trigger(api, dag_id, conf, logical_date=start + timedelta(seconds=n), **interval))
                for n, dag_id in enumerate((DAG_ID, DAG_ID, TWIN), start=3 * round_)
            ]
        states = wait_all(stack, runs)
        assert states == ["success"] * 3, (round_, runs, states)
        source, target = everything(slot.crm), everything(slot.marketing)
        stats = slot.marketing.stats()
        dead = dead_letters(stack, "crash_shared")
        rows = warehouse_rows(suite.shared_warehouse, "contacts_shared")
        assert stats["duplicate_creates"] == 0, (round_, stats["duplicate_creates"])
        assert stats["creates_total"] == len(target), round_
        assert len(target) + dead["validate"] + dead["push_marketing"] == len(source), (round_, dead)
        assert len(rows) + dead["validate"] + dead["load_warehouse"] == len(source), (round_, dead)
        keyless = [record for record in target if not record.get("email")]
        assert keyless == [], (round_, len(keyless), keyless[:3])  # every record has its natural key
        if round_ == 1:  # change 40 records that went through, then run three at once again
            for number, email in enumerate(sorted(by_email(target))[:40]):
                crm_id = next(r["id"] for r in source if str(r.get("email")).strip().lower() == email)
                name = f"Renamed{number:02d}"
                change = {"first_name": name}
                httpx.patch(
                    f"{slot.crm.url}/v1/contacts/{crm_id}", json=change, timeout=30
                ).raise_for_status()
                renamed[email] = name
        else:
            pushed, loaded = by_email(target), by_email(rows)
            lost = {email for email, name in renamed.items() if pushed[email]["first_name"] != name}
            lost |= {email for email, name in renamed.items() if loaded[email]["first_name"] != name}
            assert lost == set(), "updates lost"
            print(
                f"concurrency: {len(target)} in the API, {len(rows)} in the warehouse, {len(renamed)} changed"
            )


def test_tasks_killed_at_seeded_points_lose_nothing_duplicate_nothing_and_alert(suite: Suite) -> None:
    slots = [suite.slots[str(number)] for number in range(SLOTS)]
    trials: list[Trial] = []
    redrawn: list[str] = []

    def work(slot: Slot, numbers: range) -> None:
        for number in numbers:
            for attempt in range(REDRAWS + 1):
                trial = run_trial(suite, slot, number, attempt)
                if attempt == REDRAWS or not trial.late():
                    break
                redrawn.append(f"trial {number}, run {attempt} ({trial.run_id}): {trial.late()}")
            trials.append(trial)

    workers = [
        threading.Thread(target=work, args=(slot, range(n, KILLS, SLOTS))) for n, slot in enumerate(slots)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(trials) == KILLS
    received = alerts(suite.stack)
    print(f"runs drawn again, a kill too late: {len(redrawn)}", *redrawn, sep="\n")
    problems = []
    for trial in sorted(trials, key=lambda t: t.number):
        try:  # every trial checked and reported, not only those before the first that fails
            check(trial, received)
        except AssertionError as problem:
            problems.append(f"trial {trial.number} (run {trial.run_id}): {problem}")
            print(problems[-1])
    assert problems == [], f"{len(problems)} of {KILLS} trials failed"


def check(trial: Trial, received: list[dict[str, Any]]) -> None:
    """The equations of one crash trial; its figures printed (``pytest -rP`` shows them)."""
    where = f"trial {trial.number} (run {trial.run_id})"
    killed = {k.point.task_id: (k.point.label, k.seen, k.point.at) for k in trial.killers if k.killed}
    assert [k.error for k in trial.killers if not k.killed] == [], where
    assert trial.state == "success", (where, trial.tries)
    for task, tries in trial.tries.items():  # killed once, then retried to success
        assert tries[0][1] in FAILED_TRY, (where, task, tries)
        assert tries[-1][1] == "success", (where, task, tries)
    dead = trial.dead
    assert trial.source == trial.staged == CONTACTS, (where, trial.staged)  # no page twice, none lost
    assert len(trial.target) + dead["validate"] + dead["push_marketing"] == trial.source, (where, dead)
    assert trial.loaded + dead["validate"] + dead["load_warehouse"] == trial.source, (where, dead)
    assert trial.stats["duplicate_creates"] == 0, (where, trial.stats["duplicate_creates"])
    assert trial.stats["creates_total"] == len(trial.target), where
    tried = [
        a
        for a in received
        if a.get("run_id") == trial.run_id and a.get("kind") in ("task_retry", "task_failure")
    ]
    run_alerts = {(a.get("task_id"), a.get("try_number")) for a in tried}
    failed = {(task, n) for task, tries in trial.tries.items() for n, state in tries if state in FAILED_TRY}
    assert failed - run_alerts == set(), (where, "failed tries without an alert")
    described = sorted(
        str((a["task_id"], a["try_number"], a["error_class"], a["message"][:50])) for a in tried
    )
    print(
        f"trial {trial.number}{f' (run {trial.attempt}, drawn again)' if trial.attempt else ''}: "
        f"killed {killed}; tries {trial.tries}; target {len(trial.target)}, "
        f"loaded {trial.loaded}, dead-lettered {dead}, creates {trial.stats['creates_total']}, "
        f"duplicate creates {trial.stats['duplicate_creates']}, alerts for failed tries "
        f"{len(failed & run_alerts)}/{len(failed)}; alerts {described}"
    )
