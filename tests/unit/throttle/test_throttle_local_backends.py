"""The memory and SQLite backends on a fake clock."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reliable_api.exceptions import ConfigurationError
from reliable_api.throttle.base import LimiterState
from reliable_api.throttle.factory import BACKENDS, default_sqlite_path, make_backend, process_memory_backend
from reliable_api.throttle.local import LocalBackend
from reliable_api.throttle.memory import MemoryBackend
from reliable_api.throttle.sqlite import SqliteBackend
from tests.unit.throttle.fakes import FakeClock, paused_for, single
from tests.unit.throttle.fakes import clock as clock


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> LocalBackend:
    if request.param == "memory":
        return MemoryBackend(now=clock)
    return SqliteBackend(tmp_path / "limiter.sqlite", now=clock)


def test_hammering_for_t_seconds_admits_rate_times_t_plus_burst(
    backend: LocalBackend, clock: FakeClock
) -> None:
    # Binary fractions keep the arithmetic exact; T ends half an interval past a slot.
    granted, end = 0, clock.now + 32.5 / 16
    while clock.now <= end:
        if backend.reserve("k", **single(1 / 16, 3), max_wait=0).granted:
            granted += 1
        else:
            clock.advance(1 / 128)
    assert granted == 3 + 32


def test_keys_are_independent(backend: LocalBackend) -> None:
    backend.reserve("a", **single(10.0, 1), max_wait=math.inf)
    assert backend.reserve("b", **single(10.0, 1), max_wait=0).granted
    assert not backend.reserve("a", **single(10.0, 1), max_wait=0).granted


def test_state_and_paused_for_follow_the_updates(backend: LocalBackend, clock: FakeClock) -> None:
    assert backend.state("k")[0] == LimiterState()
    backend.pause("k", seconds=5.0)
    backend.reserve("k", **single(1.0, 1), max_wait=math.inf)
    assert backend.adjust("k", interval=1.0, factor=2.0, ceiling=10.0, cooldown=0) == 2.0
    assert backend.adjust("k", interval=1.0, factor=2.0, ceiling=10.0, cooldown=60) == 2.0
    assert backend.state("k")[0] == LimiterState(
        tats=(clock.now + 6.0,), paused_until=clock.now + 5.0, interval=2.0, interval_changed_at=clock.now
    )
    clock.advance(2.0)
    assert paused_for(backend, "k") == 3.0


def test_adjust_returns_the_ceiling_when_it_caps(backend: LocalBackend) -> None:
    assert backend.adjust("k", interval=1.0, factor=1.0, ceiling=0.5, cooldown=0) == 0.5


def test_sqlite_state_is_shared_by_two_backends_on_one_file(tmp_path: Path, clock: FakeClock) -> None:
    one = SqliteBackend(tmp_path / "nested" / "limiter.sqlite", now=clock)
    two = SqliteBackend(tmp_path / "nested" / "limiter.sqlite", now=clock)
    one.pause("k", seconds=7.0)
    assert paused_for(two, "k") == 7.0
    assert two.reserve("k", **single(1.0, 1), max_wait=math.inf).wait == 7.0
    one.close()
    two.close()


def test_sqlite_file_that_cannot_be_opened_names_the_backend(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match=r"limiter backend sqlite at .*a-file/limiter.sqlite"):
        SqliteBackend(blocker / "limiter.sqlite")


def test_make_backend_memory_is_one_per_process() -> None:
    assert make_backend("memory") is make_backend("memory") is process_memory_backend()


def test_make_backend_sqlite_from_a_path_or_url(tmp_path: Path) -> None:
    by_path = make_backend("sqlite", path=tmp_path / "a.sqlite")
    by_url = make_backend("sqlite", url=f"sqlite:///{tmp_path}/b.sqlite")
    assert isinstance(by_path, SqliteBackend)
    assert isinstance(by_url, SqliteBackend)
    assert (by_path.path, by_url.path) == (str(tmp_path / "a.sqlite"), f"{tmp_path}/b.sqlite")


def test_default_sqlite_path_is_under_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert default_sqlite_path() == tmp_path / "reliable_api" / "limiter.sqlite"
    assert isinstance(make_backend("sqlite"), SqliteBackend)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("etcd", {}, "limiter_backend must be one of memory, sqlite, postgres, redis, got 'etcd'"),
        ("postgres", {}, "limiter_backend 'postgres' needs the URL of its server"),
        ("redis", {"url": ""}, "limiter_backend 'redis' needs the URL of its server"),
        (
            "sqlite",
            {"url": "redis://:hunter2@host/0"},
            r"needs a sqlite:///<path> URL, got 'redis://\*\*\*@host/0'",
        ),
    ],
)
def test_make_backend_bad_configuration(name: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_backend(name, **kwargs)  # type: ignore[arg-type]


def test_backend_names() -> None:
    assert BACKENDS == ("memory", "sqlite", "postgres", "redis")
