"""Validated, dialect-quoted SQL identifiers: the only names that reach an upsert statement.

Values are always bound or COPYed; names cannot be bound, so they must pass a strict pattern
first and are then quoted by the dialect, which makes injection through a table or column name
impossible (``users; drop table x`` fails the pattern before anything is sent).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

#: Letters, digits and underscores, not starting with a digit, at most 63 characters
#: (PostgreSQL's limit; MySQL allows 64, SQLite more).
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: object, what: str) -> str:
    """Return ``name`` when it is a safe identifier.

    :param what: what the name is (``"table"``, ``"column"``...), for the error message.
    :raises ConfigurationError: naming the identifier when it does not match :data:`IDENTIFIER`.
    """
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, "
            "not starting with a digit, at most 63 characters"
        )
    return name


def check_identifiers(names: Sequence[object], what: str) -> list[str]:
    """:func:`check_identifier` for each name, refusing an empty list and repeated names."""
    checked = [check_identifier(name, what) for name in names]
    if not checked:
        raise ConfigurationError(f"at least one {what} name is needed")
    if len(set(checked)) != len(checked):
        raise ConfigurationError(f"repeated {what} names in {checked}")
    return checked


def quote(dialect: Dialect, name: str) -> str:
    """``name`` quoted by ``dialect`` (always quoted, so reserved words and case survive)."""
    return dialect.identifier_preparer.quote_identifier(name)


def qualified(dialect: Dialect, table: str, schema: str | None) -> str:
    """``"schema"."table"`` (or ``"table"``) quoted by ``dialect``."""
    name = quote(dialect, table)
    return f"{quote(dialect, schema)}.{name}" if schema else name
