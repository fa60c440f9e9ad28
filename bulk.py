"""Bulk reads and writes on the raw database connection, for the jobs that move 100,000 rows.

peewee's insert_many and IN lists spend more time compiling SQL and converting rows than the
database spends answering: these helpers use a prepared executemany on SQLite and COPY on
PostgreSQL. They sit beside models.py and know nothing of the domain.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import peewee

from models import db

IN_CHUNK = 10_000  # values per `IN (...)`: well under SQLite's 32,766 variables


def is_sqlite() -> bool:
    return db.param == "?"


def in_chunks(values: list, size: int = IN_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def select_in(sql: str, values: Sequence, params: Sequence = ()) -> list[tuple]:
    """The rows of `sql`, whose `{in}` is replaced by a list of `values` (in chunks), after
    `params`. Raw SQL: peewee would spend more time compiling 5,000-value IN lists and
    converting rows than the database spends answering."""
    rows = []
    for part in in_chunks(list(values)):
        marks = "(" + ", ".join([db.param] * len(part)) + ")"
        rows += db.execute_sql(sql.replace("{in}", marks), (*params, *part)).fetchall()
    return rows


def allocate_ids(model, count: int) -> list[int]:
    """`count` new primary keys for rows inserted with explicit ids, so the caller knows them
    without reading the rows back. SQLite: after the current maximum (the caller holds the
    write lock, its transaction began IMMEDIATE). PostgreSQL: from the table's sequence."""
    if count <= 0:
        return []
    table = model._meta.table_name
    if is_sqlite():
        start = db.execute_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0] + 1
        return list(range(start, start + count))
    cursor = db.execute_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", (count,)
    )
    return sorted(row[0] for row in cursor.fetchall())


def insert_rows(table: str, columns: Sequence[str], rows: list[tuple], *, nulls: bool = True) -> None:
    """Many rows at once on the raw connection: a prepared executemany on SQLite, COPY on
    PostgreSQL. None is NULL; text is always quoted, so no text value can read as NULL.
    `nulls=False` promises no None in `rows` (batch records and errors): on PostgreSQL the rows
    then go as COPY's text format, built by one %-format per row (_copy_text), several times
    faster to build and to read than CSV with its quoting. Driver errors come out as peewee's
    (IntegrityError, …)."""
    if not rows:
        return
    with peewee.__exception_wrapper__:
        connection = db.connection()
        if is_sqlite():
            marks = ", ".join("?" * len(columns))
            connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        if nulls:
            buffer = io.StringIO("".join(",".join(map(_csv_field, row)) + "\n" for row in rows))
            options = "FORMAT csv"
        else:
            buffer = io.StringIO(_copy_text(rows, len(columns)))
            options = "FORMAT text"  # no value is NULL (\N): an empty field stays ''
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})", buffer)


def insert_row(table: str, columns: Sequence[str], values: Sequence) -> None:
    """One row holding a large `bytes` value (an uploaded file) without copies of it: SQLite
    binds it; PostgreSQL gets it raw by a binary COPY, where a bytea parameter would be sent
    hex-escaped inside the SQL text (twice its size, built in memory, then parsed by the
    server: 0.5 s for 10 MB). Values are int, str or bytes, and never None."""
    with peewee.__exception_wrapper__:
        connection = db.connection()
        if is_sqlite():
            marks = ", ".join("?" * len(columns))
            connection.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", tuple(values))
            return
        types = _column_types(table)
        pieces = [_COPY_SIGNATURE + struct.pack("!iih", 0, 0, len(columns))]
        for column, value in zip(columns, values, strict=True):
            data = _binary_value(types[column], value)
            pieces += (struct.pack("!i", len(data)), data)
        pieces.append(b"\xff\xff")  # the end of the data
        with connection.cursor() as cursor:
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
            cursor.copy_expert(sql, _Pieces(pieces), size=_PIECE)


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"  # then flags and header extension length (0, 0)
_PIECE = 1024 * 1024
_INTEGERS = {"int2": "!h", "int4": "!i", "int8": "!q"}
_column_types_of: dict[str, dict[str, str]] = {}


def _column_types(table: str) -> dict[str, str]:
    """PostgreSQL: each column's type name (int4, text, bytea, …), read once per process."""
    if table not in _column_types_of:
        rows = db.execute_sql(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (table,),
        ).fetchall()
        _column_types_of[table] = dict(rows)
    return _column_types_of[table]


def _binary_value(type_name: str, value) -> bytes:
    """A value in the binary form of its column's type (bytes as they are: no copy)."""
    if type_name in _INTEGERS:
        return struct.pack(_INTEGERS[type_name], value)
    if type_name == "bytea":
        return value
    if type_name in ("text", "varchar"):
        return value.encode()
    raise TypeError(f"insert_row: no binary form for a {type_name} column")


class _Pieces:
    """A file to read COPY data from, made of byte strings sent in turn (at most `size` bytes
    a read), so a large value is never joined into one more copy."""

    def __init__(self, pieces):
        self.pieces = [memoryview(p) for p in pieces]
        self.index = self.offset = 0

    def read(self, size: int = _PIECE) -> bytes:
        while self.index < len(self.pieces):
            piece = self.pieces[self.index]
            if self.offset < len(piece):
                part = piece[self.offset : self.offset + size]
                self.offset += len(part)
                return bytes(part)
            self.index, self.offset = self.index + 1, 0
        return b""


def unhurried_commit() -> None:
    """PostgreSQL: this transaction's COMMIT does not wait for its WAL to reach the disk
    (SET LOCAL synchronous_commit = off; SQLite runs synchronous=normal already). A crash of
    the database server may then lose the last commits (a fraction of a second), never corrupt
    or half-apply them. Only for job transactions that are safe to lose: each one's work and
    its progress commit together, and a lost one is just done again by the next run (the
    validation resumes after its last committed chunk; processing re-reads the records still
    VALIDO, its cards unique per record and its recharges per ledger key). Not for
    anything a user was told is done (a payment, an upload). Call it first in the transaction."""
    if not is_sqlite():
        db.execute_sql("SET LOCAL synchronous_commit = off")


def copy_to_temp(name: str, shape: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """PostgreSQL: `rows` into the session's temporary table `name` (with the columns of the
    query `shape`, created on first use, emptied at each commit), by COPY: much faster than
    sending the rows as SQL text when a statement has to join them (UPDATE … FROM, INSERT …
    ON CONFLICT)."""
    db.execute_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS {shape} WITH NO DATA")
    db.execute_sql(f"DELETE FROM {name}")
    insert_rows(name, columns, rows)


def _copy_text(rows: list[tuple], width: int) -> str:
    """`rows` (tuples of int, str, bool, date…; no None) as the data of COPY's text format:
    fields split by tabs, rows by newlines, a backslash written twice. Built whole by
    %-formatting; if a value holds a tab, a newline or a carriage return (the counts tell),
    the rows are built again field by field with those escaped."""
    line = "\t".join(("%s",) * width)
    text = "\n".join([line % row for row in rows]) + "\n"
    if text.count("\t") != (width - 1) * len(rows) or text.count("\n") != len(rows) or "\r" in text:
        return "".join("\t".join(map(_text_field, row)) + "\n" for row in rows)
    return text.replace("\\", "\\\\") if "\\" in text else text


_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_field(value) -> str:
    return str(value).translate(_TEXT_ESCAPES)


def _csv_field(value) -> str:
    """A value as COPY's CSV reads it: text always quoted (so '' stays an empty string and
    nothing reads as NULL), None bare and empty (NULL)."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return '"' + value.replace('"', '""') + '"'
    if kind is bool:
        return "t" if value else "f"
    return str(value)  # int, date, datetime


class Prepared:
    """A query of every request compiled to SQL once per database dialect, then run with new
    parameter values (building peewee's SQL costs more than SQLite running it). `build(*params)`
    makes the query from placeholder values; only values passed that way may vary."""

    _MARK = -7_340_000_000  # placeholder values no real id takes

    def __init__(self, build):
        self.build = build
        self.compiled = {}

    def _compile(self, arity: int):
        database = db.obj
        key = type(database)
        if key not in self.compiled:
            marks = [self._MARK - i for i in range(arity)]
            query = self.build(*marks)
            sql, params = query.sql()
            slots = [marks.index(p) if p in marks else None for p in params]
            self.compiled[key] = (query.model, sql, params, slots)
        return self.compiled[key]

    def _params(self, compiled, values):
        _model, _sql, params, slots = compiled
        return [p if slot is None else values[slot] for p, slot in zip(params, slots, strict=True)]

    def models(self, *values) -> list:
        """The rows as instances of the query's model."""
        compiled = self._compile(len(values))
        return list(compiled[0].raw(compiled[1], *self._params(compiled, values)))

    def tuples(self, *values) -> list[tuple]:
        compiled = self._compile(len(values))
        return db.execute_sql(compiled[1], self._params(compiled, values)).fetchall()
