from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from reliable_api.exceptions import ConfigurationError
from reliable_api.idempotency.db_upsert import upsert_records
from reliable_api.idempotency.sql_identifiers import check_identifier, qualified

ATTACKS = ["users; drop table x", 'a"b', "1abc", "", "x" * 64, "a-b", "tab\tle", "ü", None]


@pytest.mark.parametrize("name", ATTACKS)
def test_bad_identifiers_are_refused_by_name(name: object) -> None:
    with pytest.raises(ConfigurationError, match="invalid table name"):
        check_identifier(name, "table")


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("table", "users; drop table x"),
        ("key", ["id; --"]),
        ("schema", "public;"),
        ("create", {"x y": "text"}),
    ],
)
def test_upsert_refuses_bad_identifiers_before_touching_the_database(argument: str, value: object) -> None:
    engine = create_engine("sqlite://")
    kwargs: dict[str, object] = {"table": "ok", "key": ["id"], argument: value}
    with pytest.raises(ConfigurationError, match="invalid"):
        upsert_records(engine, records=[{"id": 1}], **kwargs)  # type: ignore[arg-type]


def test_unknown_declared_type_is_refused(tmp_path: object) -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(ConfigurationError, match="unknown column type 'blob'"):
        upsert_records(engine, "t", [], key=["id"], create={"id": "blob"})


def test_identifiers_are_quoted_by_the_dialect() -> None:
    dialect = create_engine("sqlite://").dialect
    assert qualified(dialect, "select", "main") == '"main"."select"'
