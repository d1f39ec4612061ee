"""The client side of the PostgreSQL fast path: a JSON Lines batch parsed and screened by Arrow.

pyarrow's C++ JSON reader parses the batch against the table's column types; vectorized checks
then mark the records the database might refuse (a date that is not ISO or not on the calendar,
an integer out of its column's range, a string over its length or holding NUL, a null, empty or
repeated key). Those few go to the careful path, checked one by one in the database; the rest
leave as CSV for ``COPY``. The screen only routes: the database still decides, and a value it
refuses that the screen let through sends the whole batch to the careful path (slower, same
result). docs/adr/0028-db-upserts-in-the-database.md and 0029 say why.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from reliable_api.idempotency.sql_merge import Target

#: ISO 8601 forms of dates, times and timestamps that PostgreSQL takes whatever its DateStyle.
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
ISO_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]" + ISO_TIME[:-1] + r")?$"
INTEGER_RANGES = {"small": 2**15, "int": 2**31}
#: 0001-01-01 in days since 1970-01-01 (PostgreSQL has no year 0).
YEAR_ONE_DAYS = -719162
Output = Literal["copy", "load_data", "none", "table"]


@dataclass
class ArrowBatch:
    """A batch ready for the fast path.

    :param csv: the records the screen passed, as CSV of the table's columns (may be empty).
    :param rows: how many records ``csv`` holds.
    :param doubtful: 1-based line numbers of the records left to the careful path.
    :param repeats: whether a key occurs more than once in the batch (all its records are doubted).
    :param suspects: for each record of ``doubtful``, the columns whose value the screen doubted
        (empty: only its key), so the careful path can test those values first.
    :param binary: the passed records in PostgreSQL's binary ``COPY`` format instead of ``csv``
        (:mod:`~reliable_api.idempotency.db_upsert_pg_binary`), or None.
    :param table: the passed records as an Arrow table of the table's columns (output "table"),
        until the loader encodes them.
    :param key_range: the lowest and highest key of the passed records when the key is one
        integer column and they lie close together (:func:`dense_key_range`), else None.
    """

    csv: bytes
    rows: int
    doubtful: list[int] = field(default_factory=list)
    repeats: bool = True
    suspects: list[list[str]] = field(default_factory=list)
    binary: bytes | None = None
    table: Any = None
    key_range: tuple[int, int] | None = None


def arrow_schema(target: Target) -> Any:
    """The Arrow schema of the table's columns, or None (no pyarrow, or a non-scalar column)."""
    try:
        import pyarrow as pa
    except ImportError:
        return None
    from sqlalchemy import types

    fields = []
    for name in target.known:
        kind = target.types[name]
        if isinstance(kind, types.Boolean) or _mysql_boolean(kind):
            arrow = pa.bool_()
        elif isinstance(kind, types.Integer):
            arrow = pa.int64()
        elif isinstance(kind, types.Numeric):  # Float is a Numeric: JSON numbers are doubles
            arrow = pa.float64()
        elif isinstance(kind, (types.String, types.Date, types.DateTime, types.Time)):
            arrow = pa.string()
        else:  # json, arrays, anything else: the careful path keeps their JSON values whole
            return None
        fields.append(pa.field(name, arrow))
    return pa.schema(fields)


def _mysql_boolean(kind: Any) -> bool:
    """MySQL's BOOLEAN is TINYINT(1), which SQLAlchemy reflects as an integer."""
    return type(kind).__name__ == "TINYINT" and getattr(kind, "display_width", None) == 1


def arrow_batch(
    target: Target, schema: Any, data: bytes, lines: int, *, output: Output = "copy"
) -> ArrowBatch | None:
    """``data`` (``lines`` JSON Lines) parsed and screened, or None when Arrow cannot read it.

    None (the careful path for the whole batch): a field the table lacks, a value of another JSON
    type than its column's, a line that is no object.

    :param output: the passed records as CSV for PostgreSQL's ``COPY`` ("copy"), or for MySQL's
        ``LOAD DATA`` ("load_data"), which cannot tell a null from an empty field: each row starts
        with its line number, each column is followed by a 0/1 "is null" column, booleans are
        0/1; or none ("none": the screen's verdict alone); or the Arrow table itself ("table",
        in :attr:`ArrowBatch.table`, the CSV left to the caller: :func:`write_csv`).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    try:
        table = pj.read_json(io.BytesIO(data), parse_options=options)
    except pa.ArrowInvalid:
        return None
    if table.num_rows != lines:  # a blank line: row numbers would no longer be line numbers
        return None
    numbers = _int64s(range(1, lines + 1))
    doubtful, repeats, by_column = _doubtful(target, table)
    left: list[int] = []
    suspects: list[list[str]] = []
    if pc.any(doubtful).as_py():
        left = pc.filter(numbers, doubtful).to_pylist()
        suspects = _suspects(by_column, doubtful, len(left))
        table, numbers = table.filter(pc.invert(doubtful)), pc.filter(numbers, pc.invert(doubtful))
    table = table.select(target.columns)
    if output in ("none", "table"):
        kept = table if output == "table" else None
        return ArrowBatch(b"", table.num_rows, left, repeats, suspects, table=kept)
    if output == "load_data":
        columns, names = [numbers], ["n"]
        for name, column in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_boolean(column.type):
                column = pc.cast(column, pa.int8())
            columns += [column, pc.cast(pc.is_null(column), pa.int8())]
            names += [name, f"{name} is null"]
        table = pa.table(columns, names=names)
    return ArrowBatch(write_csv(table), table.num_rows, left, repeats, suspects)


def dense_key_range(table: Any, key: list[str], *, spread: int = 2) -> tuple[int, int] | None:
    """(lowest, highest) key of ``table``, if its one integer key spans few values, else None.

    Few: at most ``spread`` times as many values as ``table`` has rows. A unique key's table
    holds at most one row per integer of that span, so a merge that reads the table's rows in
    the span reads at most ``spread`` rows per record.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(key) != 1 or not table.num_rows or not pa.types.is_integer(table.schema.field(key[0]).type):
        return None
    bounds = pc.min_max(table[key[0]])
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None or high - low + 1 > spread * table.num_rows:
        return None
    return int(low), int(high)


def in_key_order(table: Any, key: list[str]) -> Any:
    """``table`` sorted by its one integer key column, or as it is (already sorted, other keys).

    A merge probes the table's key index once per staged row, in the stage's order: in key
    order the probes walk the index and the table's pages in order instead of jumping, about
    twice as fast for 50,000 keys drawn from 1,000,000 (ADR 0036).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(key) != 1 or table.num_rows < 2 or not pa.types.is_integer(table.schema.field(key[0]).type):
        return table
    keys = table[key[0]].combine_chunks()
    if pc.all(pc.less_equal(keys.slice(0, len(keys) - 1), keys.slice(1))).as_py():
        return table
    return table.take(pc.sort_indices(keys))


def write_csv(table: Any) -> bytes:
    """``table`` as CSV without a header (what ``COPY ... (FORMAT csv)`` reads)."""
    import pyarrow.csv as pcsv

    out = io.BytesIO()
    pcsv.write_csv(table, out, pcsv.WriteOptions(include_header=False))
    return out.getvalue()


def _doubtful(target: Target, table: Any) -> tuple[Any, bool, dict[str, Any]]:
    """The rows the database might refuse (a mask), whether some key repeats, and the columns.

    The third item maps each column where the screen doubted some value to its own mask.
    """
    import pyarrow.compute as pc

    combined, repeats = _key_doubts(target, table)
    by_column = {}
    for name in target.columns:
        mask = _value_doubts(target.types[name], table[name])
        if mask is not None and pc.any(mask).as_py():
            combined = pc.or_(combined, mask)
            by_column[name] = mask
    return combined, repeats, by_column


def _suspects(by_column: dict[str, Any], doubtful: Any, count: int) -> list[list[str]]:
    """For each of the ``count`` doubted rows, the columns whose value the screen doubted."""
    import pyarrow.compute as pc

    suspects: list[list[str]] = [[] for _ in range(count)]
    for name, mask in by_column.items():
        for row, doubted in enumerate(pc.filter(mask, doubtful).to_pylist()):
            if doubted:
                suspects[row].append(name)
    return suspects


def _key_doubts(target: Target, table: Any) -> tuple[Any, bool]:
    """Rows whose key is null, empty or repeated in the batch, and whether some key repeats.

    (The careful path decides which of a repeated key's records to keep.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = table.select(target.key).columns
    joined = keys[0]
    if len(keys) > 1:
        joined = pc.binary_join_element_wise(*[pc.cast(c, pa.string()) for c in keys], _constant("\x1f"))
    bad = pc.is_null(joined)
    for column in keys:
        bad = pc.or_(bad, pc.is_null(column))
        if pa.types.is_string(column.type):
            bad = pc.or_(bad, pc.fill_null(pc.equal(column, _constant("")), _constant(True)))
    # Not Table.group_by: it imports Arrow's query engine, and with it pandas (seconds).
    counts = pc.value_counts(joined)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), _constant(1)))
    if len(repeated):
        bad = pc.or_(bad, pc.is_in(joined, value_set=repeated, skip_nulls=True))
    return bad, len(repeated) > 0


def _value_doubts(kind: Any, column: Any) -> Any:
    """Rows whose value in ``column`` the column's type (``kind``) might refuse, or None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from sqlalchemy import types

    if isinstance(kind, types.Date):
        ok = _iso_dates(column)
    elif isinstance(kind, types.DateTime):
        ok = pc.and_(pc.match_substring_regex(column, ISO_TIMESTAMP), _on_calendar(column))
    elif isinstance(kind, types.Time):
        ok = pc.match_substring_regex(column, "^" + ISO_TIME)
    elif isinstance(kind, types.String) and pa.types.is_string(column.type):
        ok = pc.invert(pc.match_substring(column, "\x00"))  # PostgreSQL text cannot hold NUL
        if kind.length is not None:
            ok = pc.and_(ok, pc.less_equal(pc.utf8_length(column), _constant(int(kind.length))))
    elif (
        isinstance(kind, types.Integer)
        and not isinstance(kind, types.BigInteger)
        and pa.types.is_integer(column.type)
    ):
        bound = INTEGER_RANGES["small" if isinstance(kind, types.SmallInteger) else "int"]
        ok = pc.and_(pc.greater_equal(column, _constant(-bound)), pc.less(column, _constant(bound)))
    elif isinstance(kind, types.Numeric) and not isinstance(kind, types.Float) and kind.precision:
        # numeric(p, s) holds |x| < 10^(p-s) once rounded to s places (half away from zero).
        scale = kind.scale or 0
        bound = 10 ** (kind.precision - scale) - 10**-scale / 2
        ok = pc.less(pc.abs(column), _constant(float(bound)))
    else:
        return None
    return pc.and_(pc.is_valid(column), pc.invert(pc.fill_null(ok, _constant(False))))


def _iso_dates(column: Any) -> Any:
    """True where the value is an ISO date (YYYY-MM-DD) on the calendar, of year 1 or later.

    Arrow's own cast to date32 takes exactly such dates (of years 0-9999) and refuses the whole
    column for any other value: when it takes the column, only year 0 is left to check (a
    fifth of the regular expression and round trip's time, measured on 50,000 dates).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
    except pa.ArrowInvalid:
        return pc.and_(pc.match_substring_regex(column, ISO_DATE), _on_calendar(column))
    return pc.greater_equal(days, _constant(YEAR_ONE_DAYS))


def _on_calendar(column: Any) -> Any:
    """True where the value's first ten characters are a real date of year 1 or later.

    (Arrow's strptime rolls 2024-02-30 over to March: a round trip tells it apart. The way
    back is a cast through date32, not strftime, which is 50 times slower.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    day = pc.utf8_slice_codeunits(column, 0, 10)
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    same = pc.equal(pc.cast(pc.cast(parsed, pa.date32()), pa.string()), day)
    return pc.and_(same, pc.not_equal(pc.utf8_slice_codeunits(day, 0, 4), _constant("0000")))


def _constant(value: bool | int | float | str) -> Any:
    """``value`` as an Arrow scalar made from a buffer.

    Any conversion of a Python object (a literal given to a compute function included) makes
    pyarrow import pandas first: about two seconds in each task's first batch, measured.
    """
    import array

    import pyarrow as pa

    if isinstance(value, str):
        data = value.encode()
        offsets = pa.py_buffer(array.array("i", [0, len(data)]))
        return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])[0]
    if isinstance(value, bool):
        return pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(bytes([value]))])[0]
    if isinstance(value, int):
        return _int64s([value])[0]
    return pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(array.array("d", [value]))])[0]


def _int64s(values: Iterable[int]) -> Any:
    """``values`` as an Arrow int64 array, made from a buffer (see :func:`_constant`)."""
    import array

    import pyarrow as pa

    data = array.array("q", values)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
