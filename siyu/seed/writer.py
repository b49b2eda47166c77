"""Bulk writers: the same generated columns go to SQLite through a staging table and one INSERT ... SELECT per chunk,
and to PostgreSQL through COPY.

Why not the ORM: a million `Model()` objects cost minutes of Python; the rows here are written with exactly the
columns of the models' tables (`Model._meta.db_table`, field columns), so what lands is what the ORM would write.
`encode()` is pure (no database) so it can run in a producer thread while `write()` runs the previous chunk: SQLite and
PostgreSQL do their part with the GIL released, which keeps both cores busy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from siyu.seed.columns import NULL, Batch, Bools, Codes, Column, Const, Days, Ints, Keys, Stamps, Texts

# Tables with at least this many new rows get their plain (non-unique) indexes rebuilt after the load instead of
# maintained row by row: building an index from sorted data is several times cheaper than random B-tree inserts.
REBUILD_INDEXES_FROM = 200_000


class Writer(Protocol):
    def encode(self, batch: Batch) -> Any: ...

    def write(self, encoded: Any) -> int: ...

    def begin(self) -> None: ...

    def finish(self) -> None: ...

    def drop_indexes(self, table: str, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]: ...

    def create_indexes(self, indexes: list[tuple[str, str]]) -> None: ...

    def after_explicit_ids(self, table: str) -> None: ...


def writer_for(connection: BaseDatabaseWrapper) -> Writer:
    if connection.vendor == "sqlite":
        return SqliteWriter(connection)
    if connection.vendor == "postgresql":
        return PostgresWriter(connection)
    raise NotImplementedError(f"no bulk writer for {connection.vendor}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------------------------
# SQLite


@dataclass
class _SqliteEncoded:
    table: str
    names: list[str]
    staged: list[tuple[str, Column]]
    consts: dict[str, Const]
    rows: list[tuple[Any, ...]]
    size: int


@dataclass
class SqliteWriter:
    connection: BaseDatabaseWrapper
    _labels: dict[tuple[str, ...], int] = field(default_factory=dict)
    _next_label: int = 1
    _staging: set[str] = field(default_factory=set)
    _tuned: bool = False

    def _raw(self) -> Any:
        self.connection.ensure_connection()
        return self.connection.connection

    def begin(self) -> None:
        raw = self._raw()
        raw.execute("PRAGMA cache_size = -524288")  # 512 MiB of page cache while loading (a fixed amount)
        raw.execute("PRAGMA threads = 2")  # CREATE INDEX sorts with a helper thread
        if not self.connection.in_atomic_block:
            # Temporary files on disk, not in memory: rebuilding a 200M-row index sorts more than fits in memory,
            # and SQLite's external sort spills to temp files (in memory those would grow with the table).
            raw.execute("PRAGMA temp_store = FILE")
            # Outside a transaction only: these pragmas are no-ops inside one. The rows are consistent by
            # construction (every id they point to was written first), so per-row foreign-key checks are skipped.
            raw.execute("PRAGMA synchronous = OFF")
            raw.execute("PRAGMA foreign_keys = OFF")
            self._tuned = True
        raw.execute("CREATE TEMP TABLE IF NOT EXISTS _seed_labels (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")

    def finish(self) -> None:
        raw = self._raw()
        for name in self._staging:
            raw.execute(f"DROP TABLE IF EXISTS temp.{_quote(name)}")
        raw.execute("DROP TABLE IF EXISTS temp._seed_labels")
        self._staging.clear()
        self._labels.clear()
        raw.execute("PRAGMA cache_size = -2000")
        raw.execute("PRAGMA threads = 0")
        if self._tuned:
            raw.execute("PRAGMA temp_store = DEFAULT")
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def encode(self, batch: Batch) -> _SqliteEncoded:
        staged: list[tuple[str, Column]] = [(n, c) for n, c in batch.columns.items() if not isinstance(c, Const)]
        consts = {n: c for n, c in batch.columns.items() if isinstance(c, Const)}
        values = [_sqlite_values(col) for _name, col in staged]
        return _SqliteEncoded(batch.table, list(batch.columns), staged, consts, list(zip(*values, strict=True)),
                              len(batch))

    def _label_offset(self, labels: tuple[str, ...]) -> int:
        offset = self._labels.get(labels)
        if offset is None:
            offset = self._next_label
            self._raw().executemany(
                "INSERT INTO temp._seed_labels (id, v) VALUES (?, ?)",
                [(offset + i, label) for i, label in enumerate(labels)],
            )
            self._labels[labels] = offset
            self._next_label += len(labels)
        return offset

    def _staging_table(self, enc: _SqliteEncoded) -> str:
        name = f"_seed_stg_{enc.table}_{len(enc.staged)}"
        if name not in self._staging:
            cols = ", ".join(f"c{i}" for i in range(len(enc.staged)))
            self._raw().execute(f"CREATE TEMP TABLE IF NOT EXISTS {_quote(name)} ({cols})")
            self._staging.add(name)
        return name

    def _select(self, enc: _SqliteEncoded, staging: str) -> tuple[str, list[Any]]:
        exprs: dict[str, str] = {}
        joins: list[str] = []
        for i, (name, col) in enumerate(enc.staged):
            ref = f"s.c{i}"
            if isinstance(col, Codes):
                offset = self._label_offset(tuple(col.labels))
                joins.append(f"CROSS JOIN temp._seed_labels l{i} ON l{i}.id = {ref} + {offset}")
                exprs[name] = f"l{i}.v"
            elif isinstance(col, Stamps):
                exprs[name] = f"datetime(NULLIF({ref}, {NULL}), 'unixepoch')"
            elif isinstance(col, Days):
                exprs[name] = f"date(NULLIF({ref}, {NULL}) * 86400, 'unixepoch')"
            elif isinstance(col, Ints):
                exprs[name] = f"NULLIF({ref}, {NULL})"
            elif isinstance(col, Keys):
                exprs[name] = f"{_sql_literal(col.prefix)} || printf('%0{int(col.width)}d', {ref})"
            else:
                exprs[name] = ref
        for name in enc.consts:
            exprs[name] = "?"
        # Parameters bind in the order the placeholders appear: the constants, in column order.
        params = [_sqlite_const(enc.consts[name].value) for name in enc.names if name in enc.consts]
        select = ", ".join(exprs[name] for name in enc.names)
        sql = f"SELECT {select} FROM temp.{_quote(staging)} s {' '.join(joins)} ORDER BY s.rowid"  # noqa: S608
        return sql, params

    def write(self, encoded: _SqliteEncoded) -> int:
        enc = encoded
        raw = self._raw()
        with transaction.atomic(using=self.connection.alias):
            staging = self._staging_table(enc)
            raw.execute(f"DELETE FROM temp.{_quote(staging)}")  # noqa: S608 - quoted identifier
            marks = ", ".join("?" for _ in enc.staged)
            raw.executemany(f"INSERT INTO temp.{_quote(staging)} VALUES ({marks})", enc.rows)  # noqa: S608
            select, params = self._select(enc, staging)
            columns = ", ".join(_quote(n) for n in enc.names)
            raw.execute(f"INSERT INTO {_quote(enc.table)} ({columns}) {select}", params)
            raw.execute(f"DELETE FROM temp.{_quote(staging)}")  # noqa: S608 - quoted identifier
        return enc.size

    def drop_indexes(self, table: str, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        raw = self._raw()
        found = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
            "AND sql NOT LIKE 'CREATE UNIQUE%'",
            (table,),
        ).fetchall()
        found = [(name, sql) for name, sql in found if leading_column(sql) not in keep]
        for name, _sql in found:
            raw.execute(f"DROP INDEX {_quote(name)}")
        return [(str(name), str(sql)) for name, sql in found]

    def create_indexes(self, indexes: list[tuple[str, str]]) -> None:
        raw = self._raw()
        for _name, sql in indexes:
            raw.execute(sql)

    def after_explicit_ids(self, table: str) -> None:
        """AUTOINCREMENT's sqlite_sequence follows explicit ids by itself."""


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sqlite_const(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _sqlite_values(col: Column) -> list[Any]:
    if isinstance(col, Texts):
        return col.values
    if isinstance(col, Codes):
        return col.codes.tolist()
    if isinstance(col, Keys):
        return col.numbers.tolist()
    if isinstance(col, Bools):
        return col.values.astype(np.int64).tolist()
    assert not isinstance(col, Const)
    return col.values.tolist()


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass
class _PgEncoded:
    table: str
    names: list[str]
    text: str
    size: int


def _pg_escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _with_nulls(values: Any, mask: Any) -> list[str]:
    out = np.asarray(values, dtype=object)
    if mask.any():
        out[mask] = "\\N"
    return list(out.tolist())


def _pg_stamps(col: Stamps, size: int) -> list[str]:
    mask = col.values == NULL
    text = np.datetime_as_string(np.where(mask, 0, col.values).astype("datetime64[s]"), unit="s", timezone="UTC")
    return _with_nulls(text, mask)


def _pg_days(col: Days, size: int) -> list[str]:
    mask = col.values == NULL
    return _with_nulls(np.datetime_as_string(np.where(mask, 0, col.values).astype("datetime64[D]")), mask)


def _pg_ints(col: Ints, size: int) -> list[str]:
    mask = col.values == NULL
    return _with_nulls(col.values.astype(str), mask)


def _pg_codes(col: Codes, size: int) -> list[str]:
    labels = np.asarray([_pg_escape(label) for label in col.labels], dtype=object)
    return list(labels[col.codes].tolist())


def _pg_keys(col: Keys, size: int) -> list[str]:
    return list(np.char.add(col.prefix, np.char.zfill(col.numbers.astype(str), col.width)).tolist())


def _pg_bools(col: Bools, size: int) -> list[str]:
    return list(np.where(col.values, "t", "f").tolist())


def _pg_texts(col: Texts, size: int) -> list[str]:
    return [_pg_escape(v) for v in col.values]


def _pg_const(col: Const, size: int) -> list[str]:
    value = col.value
    if value is None:
        text = "\\N"
    elif isinstance(value, bool):
        text = "t" if value else "f"
    else:
        text = _pg_escape(str(value))
    return [text] * size


_PG_ENCODERS: dict[type, Callable[[Any, int], list[str]]] = {
    Stamps: _pg_stamps,
    Days: _pg_days,
    Ints: _pg_ints,
    Codes: _pg_codes,
    Keys: _pg_keys,
    Bools: _pg_bools,
    Texts: _pg_texts,
    Const: _pg_const,
}


@dataclass
class PostgresWriter:
    connection: BaseDatabaseWrapper
    _replica: bool = False

    def _raw(self) -> Any:
        self.connection.ensure_connection()
        return self.connection.connection

    def begin(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("SET synchronous_commit = off")
            # Skip the per-row foreign-key triggers during the load (superusers only): the generated rows only
            # point at rows written before them. Without the privilege the load simply runs with the checks.
            try:
                with transaction.atomic(using=self.connection.alias):
                    cursor.execute("SET session_replication_role = replica")
                self._replica = True
            except Exception:  # noqa: BLE001 - insufficient privilege: keep the checks
                self._replica = False

    def finish(self) -> None:
        with self.connection.cursor() as cursor:
            if self._replica:
                cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET synchronous_commit")

    def encode(self, batch: Batch) -> _PgEncoded:
        size = len(batch)
        columns = [_PG_ENCODERS[type(col)](col, size) for col in batch.columns.values()]
        text = "\n".join(map("\t".join, zip(*columns, strict=True)))
        return _PgEncoded(batch.table, list(batch.columns), text + "\n" if size else "", size)

    def write(self, encoded: _PgEncoded) -> int:
        columns = ", ".join(_quote(n) for n in encoded.names)
        with transaction.atomic(using=self.connection.alias), self._raw().cursor() as cursor:
            with cursor.copy(f"COPY {_quote(encoded.table)} ({columns}) FROM STDIN") as copy:
                copy.write(encoded.text)
        return encoded.size

    def drop_indexes(self, table: str, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relname = %s AND NOT x.indisunique AND NOT x.indisprimary "
                "AND t.relnamespace = 'public'::regnamespace",
                [table],
            )
            found = [(str(name), str(sql)) for name, sql in cursor.fetchall() if leading_column(sql) not in keep]
            for name, _sql in found:
                cursor.execute(f"DROP INDEX {_quote(name)}")
        return found

    def create_indexes(self, indexes: list[tuple[str, str]]) -> None:
        with self.connection.cursor() as cursor:
            for _name, sql in indexes:
                cursor.execute(sql)

    def after_explicit_ids(self, table: str) -> None:
        with self.connection.cursor() as cursor:
            highest = f"SELECT MAX(id) FROM {_quote(table)}"  # noqa: S608 - quoted identifier
            cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(({highest}), 1))", [table])


_INDEX_COLUMNS = re.compile(r"\(\s*\"?([A-Za-z0-9_]+)\"?")


def leading_column(sql: str) -> str:
    """The first column of a CREATE INDEX statement (SQLite's stored text or PostgreSQL's pg_get_indexdef)."""
    found = _INDEX_COLUMNS.search(sql[sql.upper().rindex(" ON "):])
    return found.group(1) if found else ""


@contextmanager
def rebuilt_indexes(writer: Writer, table: str, rows: int, report: Callable[[str], None],
                    keep: tuple[str, ...] = ()) -> Iterator[None]:
    """Drop a big table's plain indexes for the load and build them again afterwards, even when the load fails.

    Indexes led by a column in `keep` stay: the rows arrive in that column's order, so the index only grows at its
    right edge (appending to a B-tree costs about what sorting it afterwards would, without the second pass)."""
    if rows < REBUILD_INDEXES_FROM:
        yield
        return
    dropped = writer.drop_indexes(table, keep)
    try:
        yield
    finally:
        if dropped:
            started = time.monotonic()
            writer.create_indexes(dropped)
            report(f"{table}: rebuilt {len(dropped)} indexes in {time.monotonic() - started:.1f}s")
