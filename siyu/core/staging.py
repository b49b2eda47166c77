"""Rows computed outside the database, loaded into a temporary table so set-based SQL can apply them.

A job whose result is many rows (scores from the analytics copy, say) writes them once into a staging table and then
changes the real tables with a few `INSERT … SELECT` / `UPDATE … FROM` statements, instead of one statement, or one
Python object, per row. PostgreSQL loads the table with COPY, SQLite with one prepared INSERT run; both are the
transfer of the data itself, nothing per row happens in Python beyond handing the tuple over.

Use inside a transaction: the table lives on the connection and is dropped on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections

SQLITE_BATCH = 50_000


@contextmanager
def staged(name: str, like: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
           using: str = "default") -> Iterator[str]:
    """A temporary table `name` with the types of `like`'s `columns` (an existing table), holding `rows`; yields its
    quoted name. `name`, `like` and `columns` come from code (model metadata), never from input."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table, source = qn(name), qn(like)
    cols = ", ".join(qn(c) for c in columns)
    with connection.cursor() as wrapper:
        wrapper.execute(f"DROP TABLE IF EXISTS {table}")
        # Same column types, no rows, no constraints.
        wrapper.execute(f"CREATE TEMPORARY TABLE {table} AS SELECT {cols} FROM {source} WHERE 1 = 0")  # noqa: S608
        if connection.vendor == "postgresql":
            with wrapper.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            insert = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('%s' for _c in columns)})"  # noqa: S608
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= SQLITE_BATCH:
                    wrapper.executemany(insert, batch)
                    batch = []
            if batch:
                wrapper.executemany(insert, batch)
    try:
        yield table
    finally:
        with connection.cursor() as wrapper:
            wrapper.execute(f"DROP TABLE IF EXISTS {table}")
