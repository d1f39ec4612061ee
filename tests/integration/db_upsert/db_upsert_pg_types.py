"""An engine on the session's PostgreSQL database with a test module's own types (enums, domains)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


@contextmanager
def engine_with_types(postgres_url: str, *creates: str) -> Iterator[Engine]:
    """An engine on ``postgres_url`` where each ``CREATE TYPE``/``CREATE DOMAIN`` of ``creates`` ran.

    A type another worker or an earlier test made already is kept as it is (``duplicate_object``).
    """
    made = create_engine(postgres_url)
    with made.begin() as connection:
        for create in creates:
            connection.exec_driver_sql(
                f"DO $$ BEGIN {create}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
    try:
        yield made
    finally:
        made.dispose()
