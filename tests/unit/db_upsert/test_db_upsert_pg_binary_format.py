"""PostgreSQL's binary COPY format as the fast path writes it, byte by byte."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pyarrow")

import pyarrow as pa

from reliable_api.idempotency.db_upsert_pg_binary import HEADER, TRAILER, Column, encode

COLUMNS = [
    Column("id", "int8", "bigint"),
    Column("ok", "bool", "boolean"),
    Column("day", "date", "date"),
    Column("n", "int2", "smallint"),
    Column("name", "text", "text"),
    Column("score", "cast", "numeric"),
    Column("i", "int4", "integer"),
    Column("x", "float8", "double precision"),
]
NULL = b"\xff\xff\xff\xff"


def _table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, None, 0], pa.int64()),
            "ok": pa.array([True, None, False]),
            "day": pa.array(["2000-01-02", None, "1999-12-31"]),
            "n": pa.array([-2, None, 0], pa.int64()),
            "name": pa.array(["é", None, ""]),
            "score": pa.array([1.5, None, 0.0]),
            "i": pa.array([258, None, -1], pa.int64()),
            "x": pa.array([1.0, None, -0.0]),
        }
    )


ROWS = [
    b"\x00\x08"  # eight fields, each its length (big-endian int32) and its bytes
    + b"\x00\x00\x00\x08" + b"\x00\x00\x00\x00\x00\x00\x00\x01"
    + b"\x00\x00\x00\x01" + b"\x01"
    + b"\x00\x00\x00\x04" + b"\x00\x00\x00\x01"  # days since 2000-01-01
    + b"\x00\x00\x00\x02" + b"\xff\xfe"
    + b"\x00\x00\x00\x02" + "é".encode()
    + b"\x00\x00\x00\x03" + b"1.5"  # sent as text, cast in the merge
    + b"\x00\x00\x00\x04" + b"\x00\x00\x01\x02"
    + b"\x00\x00\x00\x08" + b"\x3f\xf0\x00\x00\x00\x00\x00\x00",
    b"\x00\x08" + NULL * 8,
    b"\x00\x08"
    + b"\x00\x00\x00\x08" + b"\x00" * 8
    + b"\x00\x00\x00\x01" + b"\x00"
    + b"\x00\x00\x00\x04" + b"\xff\xff\xff\xff"  # day -1: a value, not a null
    + b"\x00\x00\x00\x02" + b"\x00\x00"
    + b"\x00\x00\x00\x00"  # the empty string: length 0, no bytes
    + b"\x00\x00\x00\x01" + b"0"
    + b"\x00\x00\x00\x04" + b"\xff\xff\xff\xff"
    + b"\x00\x00\x00\x08" + b"\x80" + b"\x00" * 7,
]  # fmt: skip


def test_header_rows_and_trailer_byte_by_byte() -> None:
    assert HEADER == b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    assert TRAILER == b"\xff\xff"
    assert encode(_table(), COLUMNS) == HEADER + b"".join(ROWS) + TRAILER


def test_chunks_and_slices_encode_as_their_rows() -> None:
    table = _table()
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert encode(chunked, COLUMNS) == HEADER + b"".join(ROWS) + TRAILER
    assert encode(table.slice(1, 2), COLUMNS) == HEADER + ROWS[1] + ROWS[2] + TRAILER
    assert encode(table.slice(0, 0), COLUMNS) == HEADER + TRAILER


def test_an_integer_out_of_its_column_range_is_not_wrapped() -> None:
    table = pa.table({"n": pa.array([2**15], pa.int64())})
    with pytest.raises(pa.ArrowInvalid):
        encode(table, [Column("n", "int2", "smallint")])


def test_encoding_a_parsed_batch_does_not_import_pandas() -> None:
    # Converting a Python object into Arrow imports pandas (two seconds per task): the encoder
    # makes its constants from buffers. A fresh interpreter, as in a worker's first batch.
    script = textwrap.dedent(
        """
        import io, sys
        import pyarrow as pa
        import pyarrow.json as pj
        from reliable_api.idempotency.db_upsert_pg_binary import Column, encode
        types = [pa.int64(), pa.string(), pa.bool_(), pa.string(), pa.float64()]
        options = pj.ParseOptions(explicit_schema=pa.schema(list(zip("abcde", types))))
        line = b'{"a": 1, "b": "x", "c": true, "d": "2024-02-29", "e": 1.5}\\n'
        table = pj.read_json(io.BytesIO(line), parse_options=options)
        kinds = ["int8", "text", "bool", "date", "cast"]
        data = encode(table, [Column(n, k, "") for n, k in zip("abcde", kinds)])
        assert data.endswith(b"\\x00\\x00\\x00\\x031.5\\xff\\xff"), data
        print("pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
