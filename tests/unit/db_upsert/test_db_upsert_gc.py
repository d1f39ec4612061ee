"""The upsert parks the process's existing objects out of the cyclic collector's reach while it
runs, and leaves the collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.db_upsert import upsert_records


def _records(seen: list[int]) -> Iterator[dict[str, Any]]:
    """Two records; notes the collector's freeze count while the upsert reads them."""
    seen.append(gc.get_freeze_count())
    yield {"id": 1, "name": "a"}
    yield {"id": 2, "name": "b"}


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_existing_objects_are_frozen_during_the_load_and_handed_back(tmp_path: Path, unfrozen: None) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    seen: list[int] = []
    result = upsert_records(engine, "t", _records(seen), key=["id"], create={"id": "bigint", "name": "text"})
    assert result.inserted == 2
    assert len(seen) == 1
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_objects_someone_else_froze_stay_frozen(tmp_path: Path, unfrozen: None) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    gc.freeze()
    frozen = gc.get_freeze_count()
    seen: list[int] = []
    upsert_records(engine, "t", _records(seen), key=["id"], create={"id": "bigint", "name": "text"})
    assert gc.get_freeze_count() >= frozen > 0


def test_a_disabled_collector_is_left_alone(tmp_path: Path, unfrozen: None) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    seen: list[int] = []
    gc.disable()
    try:
        upsert_records(engine, "t", _records(seen), key=["id"], create={"id": "bigint", "name": "text"})
        assert seen == [0]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failed_upsert_unfreezes_too(unfrozen: None) -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(ConfigurationError, match="does not exist"):
        upsert_records(engine, "missing", [{"id": 1}], key=["id"])
    assert gc.get_freeze_count() == 0
