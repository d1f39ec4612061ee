"""PostgreSQL's merge of a batch whose integer keys lie close together: one range scan, same result.

Such a batch's merge reads the table's rows between its lowest and highest key with one index
scan instead of probing the index once per record (ADR 0036). The range holds every staged key,
so what is written and counted must be what the probes gave: these tests check it at the range's
edges, beside keys outside it, and for a batch too spread out to take the range.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records
from reliable_api.idempotency.db_upsert_postgres import PostgresLoader

SCHEMA = {"id": "bigint", "name": "text"}


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Engine, str]]:
    """A table holding ids 0-99 (named n<id>) and 1000-1099 (named far<id>)."""
    engine = create_engine(postgres_url)
    table = f"t_{uuid.uuid4().hex[:10]}"
    records = [{"id": i, "name": f"n{i}"} for i in range(100)]
    records += [{"id": i, "name": f"far{i}"} for i in range(1000, 1100)]
    upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    yield engine, table
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    engine.dispose()


@pytest.fixture
def ranges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int] | None]:
    """The key range each fast-path merge of the test was given (None: one probe per record)."""
    seen: list[tuple[int, int] | None] = []
    merge = PostgresLoader._merge

    def spied(self: PostgresLoader, cursor: Any, stage: str, key_range: Any = None) -> Any:
        seen.append(key_range)
        return merge(self, cursor, stage, key_range)

    monkeypatch.setattr(PostgresLoader, "_merge", spied)
    return seen


def _names(engine: Engine, table: str) -> dict[int, str]:
    with engine.connect() as connection:
        return {int(i): n for i, n in connection.exec_driver_sql(f"SELECT id, name FROM {table}").all()}


def test_a_batch_in_a_narrow_key_range_merges_exactly_at_its_edges(
    pg: tuple[Engine, str], ranges: list[tuple[int, int] | None]
) -> None:
    engine, table = pg
    before = _names(engine, table)
    # Ids 0-119 shuffled: 0 and 99 (the range's first key and the table's last one in it)
    # renamed, 100-119 new (119 the range's last key); the far rows outside the range untouched.
    records = [{"id": i, "name": "renamed" if i in (0, 99) else f"n{i}"} for i in range(120)]
    random.Random(7).shuffle(records)
    result = upsert_records(engine, table, records, key=["id"])
    assert ranges == [(0, 119)]
    assert result.counts() == {"inserted": 20, "updated": 2, "unchanged": 98, "duplicates": 0, "rejected": 0}
    expected = {**before, **{r["id"]: r["name"] for r in records}}
    assert _names(engine, table) == expected


def test_a_batch_spread_wide_is_probed_record_by_record_with_the_same_result(
    pg: tuple[Engine, str], ranges: list[tuple[int, int] | None]
) -> None:
    engine, table = pg
    # Keys 50-59 and 1050-1059: 20 records over 1,010 values. 55 and 1055 renamed, 5000 new.
    records = [{"id": i, "name": f"n{i}"} for i in range(50, 60)]
    records += [{"id": i, "name": f"far{i}"} for i in range(1050, 1060)]
    records[5]["name"] = records[15]["name"] = "renamed"  # 55 and 1055
    records.append({"id": 5000, "name": "new"})
    random.Random(11).shuffle(records)  # merged in key order (ADR 0036): the same result
    result = upsert_records(engine, table, records, key=["id"])
    assert ranges == [None]
    assert result.counts() == {"inserted": 1, "updated": 2, "unchanged": 18, "duplicates": 0, "rejected": 0}
    names = _names(engine, table)
    assert (names[55], names[1055], names[5000], names[54]) == ("renamed", "renamed", "new", "n54")


def test_each_batch_of_a_run_is_judged_on_its_own_keys(
    pg: tuple[Engine, str], ranges: list[tuple[int, int] | None]
) -> None:
    engine, table = pg
    dense = [{"id": i, "name": f"n{i}" if i != 10 else "renamed"} for i in range(10, 20)]
    spread = [
        {"id": 0, "name": "n0"},
        {"id": 1080, "name": "far1080"},
        {"id": 1090, "name": "renamed"},
        {"id": 3000, "name": "new"},
        {"id": 4000, "name": "new"},
    ]
    result = upsert_records(engine, table, dense + spread, key=["id"], batch_size=10)
    assert ranges == [(10, 19), None]
    assert result.counts() == {"inserted": 2, "updated": 2, "unchanged": 11, "duplicates": 0, "rejected": 0}
    names = _names(engine, table)
    assert (names[10], names[1090], names[3000], names[4000], names[0]) == (
        "renamed",
        "renamed",
        "new",
        "new",
        "n0",
    )
