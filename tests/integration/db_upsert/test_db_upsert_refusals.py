"""Bad input and refused values: each record set aside with its key and reason, the rest loaded."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from reliable_api.idempotency.db_upsert import upsert_records, upsert_staged
from reliable_api.staging.files import StagedWriter

SCHEMA = {"id": "integer", "name": "text", "day": "date", "score": "numeric"}


def _good(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"n{i}", "day": "2024-02-29", "score": i} for i in range(start, start + n)]


def _names(engine: Engine, table: str) -> dict[int, str]:
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql(f"SELECT id, name FROM {table}").all())  # type: ignore[arg-type]


def test_bad_records_are_rejected_by_reason_and_the_rest_loads(engine: Engine, table: str) -> None:
    records: list[Any] = _good(20)
    records += [
        {"id": 100, "name": "x", "nickname": "not a column"},
        {"id": None, "name": "null key"},
        {"id": 5, "name": "an earlier version"},
        {"id": 5, "name": "n5", "day": "2024-02-29", "score": 5},  # the same values again: only counted
        [1, 2],
    ]
    records.insert(3, {"id": 3, "name": "superseded"})
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    by_reason = {rejection.error.reason: rejection for rejection in result.rejected}
    assert sorted(by_reason) == ["duplicate_key", "missing_key", "not_a_record", "unknown_field"]
    assert by_reason["unknown_field"].error.record_key == "100"
    assert "nickname" in str(by_reason["unknown_field"].error)
    assert by_reason["missing_key"].record == {"id": None, "name": "null key"}
    assert by_reason["duplicate_key"].record == {"id": 5, "name": "an earlier version"}
    assert (result.inserted, result.duplicates, result.unchanged) == (20, 1, 0)
    names = _names(engine, table)
    assert (len(names), names[3], names[5]) == (20, "n3", "n5")


def test_doubted_records_are_checked_apart_and_matched_to_their_lines(engine: Engine, table: str) -> None:
    # Every field of the right JSON type: Arrow reads the batch, the repeated and null keys are
    # checked apart from the rest (on PostgreSQL), and each refusal names its record.
    records: list[Any] = _good(20)
    records[4] = {"id": 3, "name": "three, other values", "day": "2024-02-29", "score": 3}
    records.append({"id": 6, "name": "n6", "day": "2024-02-29", "score": 6})  # the same as line 7
    records.append({"id": None, "name": "null key", "day": "2024-02-29", "score": 0})
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert result.counts() == {"inserted": 19, "updated": 0, "unchanged": 0, "duplicates": 1, "rejected": 2}
    refused = {r.error.reason: r.record for r in result.rejected}
    assert refused == {"duplicate_key": records[3], "missing_key": records[-1]}
    assert sorted(_names(engine, table)) == [i for i in range(20) if i != 4]


def test_keys_that_are_absent_empty_or_not_scalar_are_refused(engine: Engine, table: str) -> None:
    records: list[Any] = [
        {"name": "no id"},
        {"id": "", "name": "empty id"},
        {"id": {"a": 1}, "name": "object id"},
        {"id": [1], "name": "array id"},
        {"id": "7", "name": "a string id that casts"},
    ]
    result = upsert_records(engine, table, records, key=["id"], create={"id": "text", "name": "text"})
    reasons = [(r.record["name"], r.error.reason) for r in result.rejected]
    assert sorted(reasons) == [
        ("array id", "invalid_key"),
        ("empty id", "missing_key"),
        ("no id", "missing_key"),
        ("object id", "invalid_key"),
    ]
    assert _names(engine, table) == {"7": "a string id that casts"}


def test_values_the_column_refuses_are_rejected_with_the_column(engine: Engine, table: str) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite stores any value by affinity: it refuses none of these")
    records = _good(30)
    records[4] = {"id": 4, "name": "bad day", "day": "N/A"}
    records[17] = {"id": 17, "name": "bad score", "score": "lots"}
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert result.counts() == {"inserted": 28, "updated": 0, "unchanged": 0, "duplicates": 0, "rejected": 2}
    refused = {rejection.error.record_key: rejection.error for rejection in result.rejected}
    assert set(refused) == {"4", "17"}
    assert "day" in str(refused["4"])
    assert "N/A" in str(refused["4"])
    assert "score" in str(refused["17"])
    assert "lots" in str(refused["17"])
    assert refused["4"].reason == "db_refused"
    assert sorted(_names(engine, table)) == [i for i in range(30) if i not in (4, 17)]
    again = upsert_records(engine, table, records, key=["id"])
    assert (again.unchanged, again.inserted, len(again.rejected)) == (28, 0, 2)


def test_refused_values_that_repeat_and_refusals_the_screen_did_not_foresee(
    engine: Engine, table: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the screen's doubted records are checked as a set on PostgreSQL only")
    mood = f"{table}_mood"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TYPE {mood} AS ENUM ('calm', 'busy')")
        connection.exec_driver_sql(f"CREATE TABLE {table} (id integer PRIMARY KEY, day date, mood {mood})")
    try:
        records = [{"id": i, "day": "2024-02-29", "mood": "calm"} for i in range(60)]
        for i in (3, 13, 23, 33):
            records[i]["day"] = "N/A"  # one refused value, four times
        records[43]["day"] = "2023-02-29"
        records[50]["day"] = "2024-3-1"  # doubted by the screen, taken by PostgreSQL
        records[51].update(day="2024-3-1", mood="sleepy")  # doubted for its day, refused for its mood
        result = upsert_records(engine, table, records, key=["id"])
        assert (result.inserted, result.unchanged, len(result.rejected)) == (54, 0, 6)
        refused = {r.error.record_key: str(r.error) for r in result.rejected}
        assert set(refused) == {"3", "13", "23", "33", "43", "51"}
        na = refused["3"]
        assert na.startswith("column 'day': ")
        assert "N/A" in na
        assert {refused[k] for k in ("13", "23", "33")} == {na}
        assert refused["43"].startswith("column 'day': ")
        assert "2023-02-29" in refused["43"]
        assert refused["51"].startswith("column 'mood': ")
        assert "sleepy" in refused["51"]
        with engine.connect() as connection:
            day = connection.exec_driver_sql(f"SELECT day::text FROM {table} WHERE id = 50").scalar()
        assert day == "2024-03-01"
        again = upsert_records(engine, table, records[:51], key=["id"])  # nothing the screen missed
        assert (again.unchanged, len(again.rejected)) == (46, 5)
        assert {str(r.error) for r in again.rejected} == {na, refused["43"]}
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            connection.exec_driver_sql(f"DROP TYPE IF EXISTS {mood}")


def test_refused_and_repeated_records_among_clean_ones_come_back_whole(engine: Engine, table: str) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite stores any value by affinity: it refuses none of these")
    records: list[Any] = _good(40)
    records[7] = {"id": 7, "name": "no day", "day": "N/A"}
    records[21] = {"id": 21, "name": "leap", "day": "2023-02-29"}
    records[30] = {"id": 12, "name": "twelve again, other values", "day": "2024-02-29", "score": 1}
    records.append({"id": 12, "name": "n12", "day": "2024-02-29", "score": 12})  # the same as line 13
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert (result.inserted, result.duplicates) == (37, 1)
    refused = {(r.error.record_key, r.error.reason): r.record for r in result.rejected}
    assert refused == {
        ("7", "db_refused"): records[7],
        ("21", "db_refused"): records[21],
        ("12", "duplicate_key"): records[30],
    }
    assert sorted(_names(engine, table)) == [i for i in range(40) if i not in (7, 21, 30)]


def test_a_value_mysql_would_truncate_on_load_is_refused_not_cut(engine: Engine, table: str) -> None:
    if engine.dialect.name != "mysql":
        pytest.skip(
            "a MySQL TEXT column holds 65,535 bytes; LOAD DATA would cut a longer value with a warning"
        )
    records = _good(5)
    records[2] = {"id": 2, "name": "x" * 70_000, "day": "2024-02-29", "score": 2}
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA)
    assert (result.inserted, [(r.error.record_key, r.error.reason) for r in result.rejected]) == (
        4,
        [("2", "db_refused")],
    )
    assert sorted(_names(engine, table)) == [0, 1, 3, 4]


def test_rows_the_table_refuses_are_set_aside_row_by_row(engine: Engine, table: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, name varchar(20) NOT NULL, "
            "score integer CHECK (score >= 0))"
        )
    upsert_records(engine, table, [{"id": 1, "name": "one", "score": 1}], key=["id"])
    records = [
        {"id": 1, "name": "one, renamed", "score": 1},
        {"id": 2, "name": None, "score": 2},
        {"id": 3, "name": "negative", "score": -3},
        {"id": 4, "name": "four", "score": 4},
    ]
    result = upsert_records(engine, table, records, key=["id"])
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    assert sorted(r.error.record_key for r in result.rejected) == ["2", "3"]
    assert all(r.error.reason == "db_refused" for r in result.rejected)
    assert _names(engine, table) == {1: "one, renamed", 4: "four"}


def test_a_row_the_table_refuses_on_a_first_load_is_set_aside(engine: Engine, table: str) -> None:
    # On PostgreSQL a first load COPYs straight into the empty table: the CHECK stops that COPY.
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, name text, score integer CHECK (score >= 0))"
        )
    records = [{"id": i, "name": f"n{i}", "score": -1 if i == 6 else i} for i in range(10)]
    result = upsert_records(engine, table, records, key=["id"])
    assert (result.inserted, [r.error.record_key for r in result.rejected]) == (9, ["6"])
    assert sorted(_names(engine, table)) == [i for i in range(10) if i != 6]


def test_a_batch_that_meets_existing_keys_after_new_ones_is_merged(engine: Engine, table: str) -> None:
    # Two batches of new keys (COPYed straight in on PostgreSQL), then one whose keys exist.
    records = _good(20) + [{**r, "name": "renamed"} if r["id"] % 2 else r for r in _good(10, start=5)]
    result = upsert_records(engine, table, records, key=["id"], create=SCHEMA, batch_size=10)
    assert result.counts() == {"inserted": 20, "updated": 5, "unchanged": 5, "duplicates": 0, "rejected": 0}
    names = _names(engine, table)
    assert [i for i, name in sorted(names.items()) if name == "renamed"] == [5, 7, 9, 11, 13]


def test_staged_parts_load_in_batches_and_rerun_writes_nothing(
    engine: Engine, table: str, tmp_path: Path
) -> None:
    writer = StagedWriter(str(tmp_path / "staged"), part_size=7)
    writer.write(_good(30))
    staged = writer.close().to_xcom()
    first = upsert_staged(engine, table, staged, key=["id"], create=SCHEMA, batch_size=5)
    second = upsert_staged(engine, table, str(tmp_path / "staged"), key=["id"], batch_size=5)
    assert (first.inserted, second.unchanged, second.inserted + second.updated) == (30, 30, 0)


def test_concurrent_upserts_of_the_same_keys(engine: Engine, table: str) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("counts under concurrent writers are exact on PostgreSQL only (ADR 0005)")
    upsert_records(engine, table, [], key=["id"], create=SCHEMA)
    errors: list[BaseException] = []
    results = []

    def load(suffix: str) -> None:
        try:
            records = [{"id": i, "name": f"n{i}{suffix}"} for i in range(300)]
            results.append(upsert_records(engine, table, records, key=["id"], batch_size=50))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load, args=(suffix,)) for suffix in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    names = _names(engine, table)
    assert len(names) == 300
    assert {name[-1] for name in names.values()} <= {"a", "b"}
    assert sum(r.inserted for r in results) == 300
