"""The PL/pgSQL checks of the PostgreSQL loader's careful path: each raw line parsed, checked, cast.

The lines wait in :data:`RAW` (``_rapi_n``, ``doc``, and ``doubt``: the columns Arrow's screen
doubted, for the records it parsed); the block fills :data:`STAGE` with the records the
database takes and :data:`REFUSED` with the others, each with its reason and, for a refused value,
the column. docs/adr/0028-db-upserts-in-the-database.md and 0029 say why it works this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reliable_api.idempotency.sql_merge import LINE

if TYPE_CHECKING:
    from reliable_api.idempotency.sql_merge import Target

RAW, STAGE, REFUSED = "_rapi_raw", "_rapi_stage", "_rapi_refused"


def check_block(target: Target, *, suspects: bool) -> str:
    """A PL/pgSQL block that parses, checks and casts every raw line into the stage.

    :param suspects: the lines are records Arrow parsed, each with the columns the screen
        doubted: check those set-based first (:func:`_check_suspects`), and each record on its
        own (:func:`_check_each`) only when that leaves a refusal unexplained.
    """
    declare = "DECLARE r record; v record; d jsonb; k text; c text; problem text; why text;"
    if not suspects:
        return f"DO $rapi$\n{declare}\nBEGIN\n{_check_each(target)}\nEND $rapi$"
    return f"""DO $rapi$
{declare} refused jsonb := '[]';
BEGIN
  BEGIN
{_check_suspects(target)}
  EXCEPTION WHEN others THEN  -- what the set-based checks wrote is undone with their subtransaction
{_check_each(target)}
  END;
END $rapi$"""


def _check_suspects(target: Target) -> str:
    """PL/pgSQL: the screen's doubted records checked as a set, each doubted value cast once.

    Refused values repeat in real data ("N/A", "", "unknown"): each distinct (column, value)
    the screen doubted is cast in its own subtransaction, the records holding a refused one
    are refused with the column and the database's message, the rest are cast into the stage
    in one statement. Anything unexpected (a record that is no object or has an unknown field,
    a refusal in a value the screen did not doubt) raises, and :func:`_check_each` decides.
    """
    t = target
    keys, known = _text_array(t.key), _text_array(t.known)
    left = f"{LINE} NOT IN (SELECT n FROM {REFUSED})"
    return f"""    IF EXISTS (SELECT 1 FROM {RAW} WHERE CASE WHEN jsonb_typeof(doc::jsonb) = 'object'
        THEN doc::jsonb - {known} <> '{{}}'::jsonb ELSE true END) THEN
      RAISE EXCEPTION 'records the screen did not parse';
    END IF;
    INSERT INTO {REFUSED} SELECT DISTINCT ON ({LINE}) {LINE}, 'missing_key',
        format('record has no value for natural key field %L', u.k)
      FROM {RAW}, unnest({keys}) WITH ORDINALITY AS u(k, i)
      WHERE coalesce(jsonb_typeof(doc::jsonb -> u.k), 'null') = 'null' OR doc::jsonb ->> u.k = ''
      ORDER BY {LINE}, u.i;
    FOR v IN SELECT DISTINCT u.c, doc::jsonb -> u.c AS value FROM {RAW}, unnest(doubt) AS u(c)
        WHERE {left} AND coalesce(jsonb_typeof(doc::jsonb -> u.c), 'null') <> 'null' LOOP
      BEGIN PERFORM {_cast(target, "jsonb_build_object(v.c, v.value)")};
      EXCEPTION WHEN others THEN
        refused := refused || jsonb_build_array(jsonb_build_object(
          'c', v.c, 'value', v.value, 'why', format('column %L: %s', v.c, SQLERRM)));
      END;
    END LOOP;
    INSERT INTO {REFUSED} SELECT DISTINCT ON ({LINE}) {LINE}, 'db_refused', b.why
      FROM {RAW}, unnest(doubt) WITH ORDINALITY AS u(c, i),
        jsonb_to_recordset(refused) AS b(c text, value jsonb, why text)
      WHERE {left} AND b.c = u.c AND b.value = doc::jsonb -> u.c ORDER BY {LINE}, u.i;
    INSERT INTO {STAGE} SELECT {LINE}, {t.column_list("p.")}
      FROM {RAW}, {_cast(target, "doc::jsonb")} p WHERE {left};"""


def _check_each(target: Target) -> str:
    """PL/pgSQL: each raw line parsed, checked and cast on its own, in its own subtransaction."""
    t = target
    keys = _text_array(t.key)
    known = _text_array(t.known)
    # A refused value's column is looked for among those whose cast can fail: unbounded text
    # takes any JSON string (NUL is refused when the line is parsed), so it is not tried.
    columns = _text_array([name for name in t.columns if not _takes_any_text(t.types[name])])
    return f"""  FOR r IN SELECT {LINE} AS n, doc FROM {RAW} LOOP
    problem := NULL; d := NULL;
    BEGIN d := r.doc::jsonb;
    EXCEPTION WHEN others THEN
      problem := 'db_refused'; why := 'the database cannot store this record: ' || SQLERRM;
    END;
    IF problem IS NULL AND coalesce(jsonb_typeof(d), '') <> 'object' THEN
      problem := 'not_a_record';
      why := 'not a record (a JSON object): ' || coalesce(jsonb_typeof(d), 'an empty line');
    END IF;
    IF problem IS NULL THEN
      FOREACH k IN ARRAY {keys} LOOP
        IF coalesce(jsonb_typeof(d -> k), 'null') = 'null' OR d ->> k = '' THEN
          problem := 'missing_key'; why := format('record has no value for natural key field %L', k); EXIT;
        ELSIF jsonb_typeof(d -> k) IN ('object', 'array') THEN
          problem := 'invalid_key';
          why := format('natural key field %L is not a scalar: %s', k, d -> k); EXIT;
        END IF;
      END LOOP;
    END IF;
    IF problem IS NULL AND d - {known} <> '{{}}'::jsonb THEN
      problem := 'unknown_field';
      SELECT format('fields the table has no column for: %s', string_agg(quote_literal(x), ', '))
        INTO why FROM jsonb_object_keys(d - {known}) x;
    END IF;
    IF problem IS NULL THEN
      BEGIN
        INSERT INTO {STAGE} SELECT r.n, {t.column_list("p.")} FROM {_cast(target, "d")} p;
      EXCEPTION WHEN others THEN
        problem := 'db_refused'; why := SQLERRM;
        FOREACH c IN ARRAY {columns} LOOP
          CONTINUE WHEN coalesce(jsonb_typeof(d -> c), 'null') = 'null';
          BEGIN PERFORM {_cast(target, "jsonb_build_object(c, d -> c)")};
          EXCEPTION WHEN others THEN why := format('column %L: %s', c, SQLERRM); EXIT;
          END;
        END LOOP;
      END;
    END IF;
    IF problem IS NOT NULL THEN INSERT INTO {REFUSED} VALUES (r.n, problem, why); END IF;
  END LOOP;"""


def _cast(target: Target, record: str) -> str:
    """SQL casting the JSON object ``record`` to the table's row type, field by field."""
    return f"jsonb_populate_record(NULL::{target.name}, {record})"


def _takes_any_text(kind: Any) -> bool:
    from sqlalchemy import types

    return isinstance(kind, types.String) and kind.length is None and not isinstance(kind, types.Enum)


def _text_array(names: list[str]) -> str:
    # Validated identifiers (letters, digits, underscores): safe as SQL string literals.
    return "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]::text[]"
