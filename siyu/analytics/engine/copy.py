"""The columnar copy: a DuckDB database mirroring the tables analytics reads, kept fresh incrementally.

- build(): every table loaded once. From a SQLite file or PostgreSQL the DuckDB scanner extensions read the OLTP
  database directly (measured 4x faster than Python batches); otherwise (an in-memory test database, a read inside
  an open transaction) rows come through the Django connection in id-ordered chunks. Memory is bounded whatever the
  size: PostgreSQL tables are read by id range (the scanner pushes the range into its COPY query), SQLite tables in
  one streamed scan (sqlite_scan pushes no filter down, so ranges would each read the whole table; it streams by
  rowid ranges itself), and DuckDB runs the build under a memory limit, so the one global sort (the event log into
  (name, occurred_at) order) spills to disk instead of growing with the table.
- refresh(): the event log and every other table by id watermark for inserts, plus the change log the capture
  triggers fill for updates and deletes (capture.py). One DuckDB transaction per refresh, so a reader sees either
  all of a refresh or none of it, together with the `as_of` it answers for.
- Physical design: low-cardinality columns are DuckDB ENUMs (dictionary-encoded) and the event log is ordered by
  (name, occurred_at) so a behaviour condition reads only the row groups of its event and window (zone maps). New
  events are appended in arrival order (which keeps time filters selective) and compact() re-sorts the table when
  the unsorted tail grows.

Only the thread that builds and refreshes writes; readers take cursors (query()) from any thread.
"""

from __future__ import annotations

import json
import logging
import site
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from django.db import connections, transaction
from django.utils import timezone

from siyu.analytics.engine import capture
from siyu.analytics.engine.tables import Col, TableSpec, TableState, enum_values, enums, tables
from siyu.analytics.models import Change

log = logging.getLogger(__name__)

NEW_ROWS_PER_REFRESH = 200_000  # per table and refresh; more waits for the next one (the loop comes back at once)
CHANGES_PER_REFRESH = 100_000
CHUNK = 100_000  # rows per round trip when loading through Python
ID_CHUNK = 500  # ids per IN (...) on the OLTP side (SQLite allows 999 parameters)
GAP_TTL_S = 120.0  # a PostgreSQL id not seen this long after later ids is taken as a rolled-back insert
MAX_GAPS = 20_000
COMPACT_SHARE = 0.25  # re-sort a table once its unsorted tail is this share of its sorted rows
BULK_ID_RANGE = 2_000_000  # ids per INSERT ... SELECT when the scanner pushes the id range down (PostgreSQL)
BUILD_MEMORY_LIMIT = "1536MB"  # DuckDB's budget while building: its sorts and inserts spill to disk beyond it
# GROUP BY customer_id uses a perfect hash table (an array indexed by id - min id) when the ids span at most 2**21
# values: counting page views per customer over 1.5M events of tier A (1M customers) measured 30% faster than
# DuckDB's default (2**12). Wider spans (tier B) fall back to the ordinary hash table, so memory stays bounded.
PERFECT_HASH_BITS = 21
TOUCHED_SCHEMA = "touched"  # the customer-keyed tables' rows of the last refresh's customers


def extension_directory() -> str | None:
    """Where duckdb-ext-sqlite / duckdb-ext-postgres put their files (no download at run time)."""
    for folder in site.getsitepackages():
        candidate = Path(folder) / "duckdb_ext" / "extensions"
        if candidate.is_dir():
            return str(candidate)
    return None


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    as_of: datetime | None  # everything committed in the OLTP database before this instant is in the answer
    elapsed_ms: float
    source: str = "copy"

    @property
    def lag_s(self) -> float | None:
        return None if self.as_of is None else max(0.0, (timezone.now() - self.as_of).total_seconds())

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def column(self, index: int = 0) -> list[Any]:
        return [row[index] for row in self.rows]


@dataclass
class RefreshResult:
    as_of: datetime
    seconds: float
    inserted: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    touched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    more: bool = False  # a batch limit was reached: refresh again at once
    reloaded: list[str] = field(default_factory=list)  # tables loaded again from scratch (a capture trigger was lost)
    full: bool = False  # a build: everything is new


@dataclass
class _Delta:
    spec: TableSpec
    new_rows: list[tuple[Any, ...]] = field(default_factory=list)
    changed_ids: set[int] = field(default_factory=set)
    changed_rows: list[tuple[Any, ...]] = field(default_factory=list)
    gap_rows: list[tuple[Any, ...]] = field(default_factory=list)
    more: bool = False


class ColumnarCopy:
    def __init__(self, path: str | Path | None = None, *, using: str = "default", threads: int = 2,
                 memory_limit: str | None = None, capture_changes: bool = True) -> None:
        self.path = str(path) if path else ":memory:"
        self.using = using
        self.capture_changes = capture_changes
        config: dict[str, Any] = {"threads": threads, "perfect_ht_threshold": PERFECT_HASH_BITS}
        ext = extension_directory()
        if ext:
            config["extension_directory"] = ext
        self.memory_limit = memory_limit
        if memory_limit:
            config["memory_limit"] = memory_limit
        self.con = duckdb.connect(self.path, config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self.state: dict[str, TableState] = {}
        self.change_watermark = 0
        self.as_of: datetime | None = None
        self.built_at: datetime | None = None
        self._write_lock = threading.RLock()
        self._specs: list[TableSpec] = []
        self._attached: str | None = None
        self._last_capture_check = 0.0
        self._generation = 0  # bumped by every build and refresh: the touched tables are made again after it
        self._touched_generation = -1

    # -----------------------------------------------------------------------------------------------------------
    # Reading

    def query(self, sql: str, params: Sequence[Any] = (), *, touched_only: bool = False) -> Answer:
        """`touched_only`: every customer-keyed table the query names is read through a view holding only the rows of
        the customers the last refresh touched (schema `touched`, first on the search path), so a rule evaluated for
        them scans their rows, not the whole log. Valid for per-customer predicates, which is what segment rules are."""
        started = time.perf_counter()
        if touched_only:
            self._ensure_touched_views()
        cursor = self.con.cursor()
        try:
            if touched_only:
                cursor.execute(f"SET search_path = '{TOUCHED_SCHEMA},main'")
            cursor.execute("BEGIN TRANSACTION")
            found = cursor.execute("SELECT value FROM _meta WHERE key = 'as_of'").fetchone()
            relation = cursor.execute(sql, list(params))
            columns = [d[0] for d in relation.description or []]
            rows = relation.fetchall()
            cursor.execute("COMMIT")
        finally:
            cursor.close()
        as_of = datetime.fromisoformat(found[0]) if found and found[0] else None
        return Answer(columns=columns, rows=rows, as_of=as_of, elapsed_ms=(time.perf_counter() - started) * 1000)

    def _ensure_touched_views(self) -> None:
        """The touched customers' rows of every customer-keyed table, copied once per refresh into small tables of
        the `touched` schema: one scan of each table, after which every segment's incremental evaluation reads a few
        thousand rows instead of the whole log."""
        if self._touched_generation == self._generation:
            return
        with self._write_lock:
            if self._touched_generation < 0:  # whatever an earlier process (or version) left there goes first
                self.con.execute(f"DROP SCHEMA IF EXISTS {TOUCHED_SCHEMA} CASCADE")
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {TOUCHED_SCHEMA}")
            for spec in self._specs:
                if spec.customer is None:
                    continue
                # Names from the registered specs, never from input.
                self.con.execute(
                    f'CREATE OR REPLACE TABLE {TOUCHED_SCHEMA}."{spec.name}" AS SELECT * FROM main."{spec.name}" '  # noqa: S608
                    f'WHERE "{spec.customer}" IN (SELECT customer_id FROM main._touched)'
                )
            self._touched_generation = self._generation

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A statement on the writer's connection (derived tables the apps keep beside the mirror, e.g. RFM)."""
        with self._write_lock:
            self.con.execute(sql, list(params))

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows read on the writer's connection (sees the tables write() made)."""
        with self._write_lock:
            return list(self.con.execute(sql, list(params)).fetchall())

    def counts(self) -> dict[str, int]:
        cursor = self.con.cursor()
        try:
            return {spec.name: _count(cursor, spec.name) for spec in self._specs}
        finally:
            cursor.close()

    # -----------------------------------------------------------------------------------------------------------
    # Building

    def build(self, *, bulk: bool | None = None) -> RefreshResult:
        """Load every table from scratch. Capture triggers go in first, so nothing changed during the load is lost."""
        with self._write_lock:
            started = time.monotonic()
            as_of = timezone.now()
            self._generation += 1
            self._specs = tables()
            if self.capture_changes:
                capture.install(self._specs, self.using)
            self.change_watermark = self._max_change_id()
            self._create_schema()
            use_bulk = self._can_bulk() if bulk is None else bulk
            inserted = {}
            with self._bounded_memory():
                for spec in self._specs:
                    inserted[spec.name] = self._load_table(spec, use_bulk)
            self._set_meta(as_of)
            self.built_at = timezone.now()
            self._last_capture_check = time.monotonic()
            return RefreshResult(as_of=as_of, seconds=time.monotonic() - started, inserted=inserted, full=True)

    @contextmanager
    def _bounded_memory(self) -> Iterator[None]:
        """The build's memory limit (unless the copy was opened with its own), back to the default afterwards."""
        if self.memory_limit:
            yield
            return
        self.con.execute(f"SET memory_limit = '{BUILD_MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order = false")  # lets large INSERT ... SELECT stream
        try:
            yield
        finally:
            self.con.execute("RESET preserve_insertion_order")
            self.con.execute("RESET memory_limit")

    def _create_schema(self) -> None:
        con = self.con
        for spec in self._specs:
            con.execute(f'DROP TABLE IF EXISTS "{spec.name}"')
        for enum in enums():
            con.execute(f'DROP TYPE IF EXISTS "{enum.name}"')
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in enum_values(enum.name))
            con.execute(f'CREATE TYPE "{enum.name}" AS ENUM ({values})')
        for spec in self._specs:
            columns = ", ".join(f'"{c.name}" {self._type(c)}' for c in spec.columns)
            con.execute(f'CREATE TABLE "{spec.name}" ({columns})')
        con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("CREATE OR REPLACE TABLE _touched (customer_id BIGINT)")
        self.state = {spec.name: TableState() for spec in self._specs}

    @staticmethod
    def _type(column: Col) -> str:
        return f'"{column.type}"' if column.type in {e.name for e in enums()} else column.type

    def _load_table(self, spec: TableSpec, use_bulk: bool) -> int:
        top = self._oltp_max_id(spec)
        state = self.state[spec.name]
        loaded = 0
        if top:
            source = self._bulk_source(spec) if use_bulk else None
            if source is not None:
                self._release_sqlite()
                try:
                    loaded = self._bulk_load(spec, source, top)
                finally:
                    self._release_sqlite()
            else:
                loaded = self._python_load(spec, top)
        state.watermark = top
        state.rows_sorted, state.rows_appended = loaded, 0
        return loaded

    def _bulk_load(self, spec: TableSpec, source: str, top: int) -> int:
        """Rows up to `top` from the scanner, in id ranges where the range is pushed down (PostgreSQL), else in one
        streamed scan; a table kept in another order is sorted once at the end (out of core under the memory limit)."""
        select = ", ".join(f'{self._cast(spec, c, self._bulk_expr(spec, c))} AS "{c.name}"' for c in spec.columns)
        ranged = connections[self.using].vendor == "postgresql"
        step = BULK_ID_RANGE if ranged else int(top)
        ident = '"id"' if ranged else 'CAST("id" AS BIGINT)'  # sqlite_all_varchar: ids arrive as text
        low = 0
        while low < top:
            high = min(low + step, int(top))
            self.con.execute(
                f'INSERT INTO "{spec.name}" SELECT {select} FROM {source} '  # noqa: S608
                f"WHERE {ident} > {low} AND {ident} <= {high}"
            )
            low = high
        if spec.order_by:
            self._resort(spec)
        return _count(self.con, spec.name)

    def _release_sqlite(self) -> None:
        """Close this thread's Django connection to a SQLite file around a scan. The scanner links its own SQLite
        library, and closing its file descriptor drops every POSIX lock this process holds on the file, the WAL
        index's included: a connection left open across the scan may then see its shared-memory index rebuilt under
        it by the next connection (SIGBUS seen in the tier A bench). Reopened on next use."""
        connection = connections[self.using]
        if connection.vendor == "sqlite" and not connection.in_atomic_block:
            connection.close()

    def _bulk_expr(self, spec: TableSpec, column: Col) -> str:
        return column.expr or f'"{spec.source_column(column)}"'

    def _cast(self, spec: TableSpec, column: Col, expr: str) -> str:
        if column.type in {"JSON"}:
            return f"CAST({expr} AS JSON)"
        return f"TRY_CAST({expr} AS {self._type(column)})"

    def _python_load(self, spec: TableSpec, top: int) -> int:
        loaded, low = 0, 0
        while True:
            rows = self._fetch(spec, "WHERE id > %s AND id <= %s ORDER BY id", [low, top], limit=CHUNK)
            if not rows:
                break
            self._insert(spec, rows)
            loaded += len(rows)
            low = int(rows[-1][0])
        if spec.order_by and spec.order_by != ("id",) and loaded:
            self._resort(spec)
        return loaded

    def _can_bulk(self) -> bool:
        connection = connections[self.using]
        if connection.in_atomic_block:
            return False  # a scanner would not see this transaction's rows
        if connection.vendor == "sqlite":
            name = str(connection.settings_dict["NAME"])
            return not name.startswith("file:") and name != ":memory:" and Path(name).exists()
        return connection.vendor == "postgresql"

    def _bulk_source(self, spec: TableSpec) -> str | None:
        connection = connections[self.using]
        try:
            if connection.vendor == "sqlite":
                self.con.execute("LOAD sqlite")
                self.con.execute("SET sqlite_all_varchar = true")
                path = str(connection.settings_dict["NAME"]).replace("'", "''")
                return f"sqlite_scan('{path}', '{spec.db_table}')"
            if connection.vendor == "postgresql":
                if self._attached is None:
                    self.con.execute("LOAD postgres")
                    dsn = _libpq_dsn(connection.settings_dict)
                    self.con.execute(f"ATTACH '{dsn}' AS oltp (TYPE postgres, READ_ONLY)")
                    self._attached = "oltp"
                return f'oltp.public."{spec.db_table}"'
        except duckdb.Error as exc:
            log.warning("analytics: the DuckDB scanner is not available (%s); loading through Python", exc)
        return None

    # -----------------------------------------------------------------------------------------------------------
    # Refreshing

    def refresh(self) -> RefreshResult:
        with self._write_lock:
            if not self._specs:
                return self.build()
            started = time.monotonic()
            reloaded = self._check_capture()
            as_of = timezone.now()
            with self._oltp_snapshot():
                changes, change_top = self._read_changes()
                deltas = [self._read_delta(spec, changes.get(spec.db_table, set())) for spec in self._specs]
            result = RefreshResult(as_of=as_of, seconds=0.0, reloaded=reloaded)
            touched: set[int] = set()
            self.con.execute("BEGIN TRANSACTION")
            try:
                for delta in deltas:
                    self._apply(delta, result, touched)
                self.con.execute("DELETE FROM _touched")
                if touched:
                    self._register_ids("_touched_ids", touched)
                    self.con.execute("INSERT INTO _touched SELECT id FROM _touched_ids")
                    self.con.unregister("_touched_ids")
                self._set_meta(as_of)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.change_watermark = max(self.change_watermark, change_top)
            self._generation += 1
            result.more = len(changes) > 0 and sum(len(v) for v in changes.values()) >= CHANGES_PER_REFRESH
            result.more = result.more or any(d.more for d in deltas)
            result.touched = np.fromiter(touched, dtype=np.int64, count=len(touched))
            result.seconds = time.monotonic() - started
            return result

    @contextmanager
    def _oltp_snapshot(self) -> Iterator[None]:
        """PostgreSQL: one REPEATABLE READ snapshot for all of a refresh's reads. SQLite: plain reads (a transaction
        there would take the write lock, IMMEDIATE mode)."""
        connection = connections[self.using]
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            yield
            return
        with transaction.atomic(using=self.using):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield

    def _read_changes(self) -> tuple[dict[str, set[int]], int]:
        table = Change._meta.db_table
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                f'SELECT id, tbl, row_id FROM "{table}" WHERE id > %s ORDER BY id LIMIT %s',  # noqa: S608
                [self.change_watermark, CHANGES_PER_REFRESH],
            )
            rows = cursor.fetchall()
        out: dict[str, set[int]] = {}
        for _id, tbl, row_id in rows:
            out.setdefault(str(tbl), set()).add(int(row_id))
        return out, (int(rows[-1][0]) if rows else self.change_watermark)

    def _read_delta(self, spec: TableSpec, changed: set[int]) -> _Delta:
        state = self.state[spec.name]
        delta = _Delta(spec=spec, changed_ids=changed)
        delta.new_rows = self._fetch(spec, "WHERE id > %s ORDER BY id", [state.watermark], limit=NEW_ROWS_PER_REFRESH)
        delta.more = len(delta.new_rows) >= NEW_ROWS_PER_REFRESH
        if changed:
            delta.changed_rows = self._fetch_ids(spec, sorted(changed))
        if state.gaps:
            delta.gap_rows = self._fetch_ids(spec, sorted(state.gaps))
        return delta

    def _apply(self, delta: _Delta, result: RefreshResult, touched: set[int]) -> None:
        spec, state = delta.spec, self.state[delta.spec.name]
        changed = delta.changed_ids
        if changed:
            touched.update(self._customers_of(spec, changed))
            self._delete_ids(spec, changed)
            gone = changed - {int(r[0]) for r in delta.changed_rows}
            if gone and spec.name == "customers":
                self._forget_customers(gone)
        new_rows = [r for r in delta.new_rows if int(r[0]) not in changed]
        new_ids = {int(r[0]) for r in new_rows}
        repeated = state.ahead & new_ids
        if repeated:  # already copied through the change log while above the watermark
            self._delete_ids(spec, repeated)
        gap_rows = [r for r in delta.gap_rows if int(r[0]) not in changed]
        rows = [*new_rows, *gap_rows, *delta.changed_rows]
        if rows:
            self._insert(spec, rows)
            touched.update(self._customers_in_rows(spec, rows))
        state.rows_appended += len(new_rows) + len(gap_rows)
        for row in delta.gap_rows:
            state.gaps.pop(int(row[0]), None)
        top = max(new_ids) if new_ids else state.watermark
        # A row that arrived through the change log (inserted and changed between two refreshes) is no gap either:
        # taking it for one would copy it a second time when the gap is looked up.
        self._track_gaps(state, state.watermark, top, new_ids | changed)
        state.watermark = max(state.watermark, top)
        state.ahead = {i for i in (state.ahead | {int(r[0]) for r in delta.changed_rows}) if i > state.watermark}
        if new_rows or gap_rows:
            result.inserted[spec.name] = len(new_rows) + len(gap_rows)
        if changed:
            result.changed[spec.name] = len(changed)

    def _track_gaps(self, state: TableState, low: int, top: int, seen: set[int]) -> None:
        """On PostgreSQL an id can commit after a higher one: remember the ids skipped below the new watermark and
        look for them again for a while. SQLite has one writer at a time, so its ids commit in order."""
        if connections[self.using].vendor != "postgresql":
            return
        now = time.monotonic()
        if top - low - len(seen) > 0 and top - low <= 10 * MAX_GAPS:
            for candidate in range(low + 1, top + 1):
                if candidate not in seen:
                    state.gaps.setdefault(candidate, now)
        for gap_id, since in list(state.gaps.items()):
            if now - since > GAP_TTL_S:
                del state.gaps[gap_id]
        if len(state.gaps) > MAX_GAPS:
            for gap_id in sorted(state.gaps)[: len(state.gaps) - MAX_GAPS]:
                del state.gaps[gap_id]

    def _customers_of(self, spec: TableSpec, ids: Iterable[int]) -> set[int]:
        """The customers the copy's current rows with these ids are about (before they change)."""
        column = spec.customer
        self._register_ids("_ids", ids)
        try:
            if column is not None:
                found = self.con.execute(
                    f'SELECT DISTINCT "{column}" FROM "{spec.name}" WHERE id IN (SELECT id FROM _ids)'  # noqa: S608
                ).fetchall()
            elif spec.parent is not None:
                parent, fk = spec.parent
                found = self.con.execute(
                    f'SELECT DISTINCT p.customer_id FROM "{spec.name}" t JOIN "{parent}" p ON p.id = t."{fk}" '  # noqa: S608
                    f"WHERE t.id IN (SELECT id FROM _ids)"
                ).fetchall()
            else:
                found = []
        finally:
            self.con.unregister("_ids")
        return {int(r[0]) for r in found if r[0] is not None}

    def _customers_in_rows(self, spec: TableSpec, rows: list[tuple[Any, ...]]) -> set[int]:
        if spec.customer is not None:
            index = [c.name for c in spec.columns].index(spec.customer)
            out = {int(r[index]) for r in rows if r[index] is not None}
            if spec.name == "customers":
                merged = [c.name for c in spec.columns].index("merged_into_id")
                out.update(int(r[merged]) for r in rows if r[merged] is not None)
            return out
        if spec.parent is not None:
            return self._customers_of(spec, [int(r[0]) for r in rows])
        return set()

    def _forget_customers(self, ids: set[int]) -> None:
        """A deleted customer's rows elsewhere went with it (the event log's deletions are not captured)."""
        self._register_ids("_gone", ids)
        try:
            for spec in self._specs:
                if spec.customer and spec.name != "customers":
                    self.con.execute(
                        f'DELETE FROM "{spec.name}" WHERE "{spec.customer}" IN (SELECT id FROM _gone)'  # noqa: S608
                    )
        finally:
            self.con.unregister("_gone")

    def _delete_ids(self, spec: TableSpec, ids: Iterable[int]) -> None:
        self._register_ids("_del", ids)
        try:
            self.con.execute(f'DELETE FROM "{spec.name}" WHERE id IN (SELECT id FROM _del)')  # noqa: S608
        finally:
            self.con.unregister("_del")

    def _register_ids(self, name: str, ids: Iterable[int]) -> None:
        values = np.fromiter((int(i) for i in ids), dtype=np.int64)
        self.con.register(name, {"id": values})

    def _check_capture(self) -> list[str]:
        """Every half minute: are the capture triggers still there? A lost one (SQLite drops a table's triggers when
        a migration rebuilds it) means changes were missed: put it back and load that table again."""
        if not self.capture_changes or time.monotonic() - self._last_capture_check < 30:
            return []
        self._last_capture_check = time.monotonic()
        lost = capture.missing(self._specs, self.using)
        if not lost:
            return []
        capture.install(lost, self.using)
        for spec in lost:
            log.warning("analytics: capture trigger missing on %s; reloading it", spec.db_table)
            self.con.execute(f'DELETE FROM "{spec.name}"')  # noqa: S608
            self._load_table(spec, self._can_bulk())
        return [spec.name for spec in lost]

    # -----------------------------------------------------------------------------------------------------------
    # Maintenance

    def needs_compaction(self) -> list[str]:
        out = []
        for spec in self._specs:
            state = self.state.get(spec.name)
            if state and spec.order_by and spec.order_by != ("id",):
                if state.rows_appended > max(10_000, COMPACT_SHARE * state.rows_sorted):
                    out.append(spec.name)
        return out

    def compact(self, name: str) -> None:
        with self._write_lock:
            spec = next(s for s in self._specs if s.name == name)
            self._resort(spec)

    def _resort(self, spec: TableSpec) -> None:
        self.con.execute(
            f'CREATE OR REPLACE TABLE "{spec.name}" AS SELECT * FROM "{spec.name}" '  # noqa: S608
            f"ORDER BY {', '.join(spec.order_by)}"
        )
        state = self.state[spec.name]
        state.rows_sorted += state.rows_appended
        state.rows_appended = 0

    def prune_change_log(self) -> int:
        """Drop change-log rows this copy has applied (it is their only reader)."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(f'DELETE FROM "{Change._meta.db_table}" WHERE id <= %s',  # noqa: S608
                           [self.change_watermark])
            return int(cursor.rowcount or 0)

    def close(self) -> None:
        with self._write_lock:
            self.con.close()

    # -----------------------------------------------------------------------------------------------------------
    # OLTP reads

    def _fetch(self, spec: TableSpec, where: str, params: list[Any], *, limit: int) -> list[tuple[Any, ...]]:
        select = ", ".join(spec.source_sql(c) for c in spec.columns)
        with connections[self.using].cursor() as cursor:
            cursor.execute(f'SELECT {select} FROM "{spec.db_table}" {where} LIMIT %s',  # noqa: S608
                           [*params, limit])
            return list(cursor.fetchall())

    def _fetch_ids(self, spec: TableSpec, ids: list[int]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start:start + ID_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            out += self._fetch(spec, f"WHERE id IN ({marks})", list(chunk), limit=len(chunk))
        return out

    def _oltp_max_id(self, spec: TableSpec) -> int:
        with connections[self.using].cursor() as cursor:
            cursor.execute(f'SELECT MAX(id) FROM "{spec.db_table}"')  # noqa: S608
            found = cursor.fetchone()
        return int(found[0] or 0) if found else 0

    def _max_change_id(self) -> int:
        with connections[self.using].cursor() as cursor:
            cursor.execute(f'SELECT MAX(id) FROM "{Change._meta.db_table}"')  # noqa: S608
            found = cursor.fetchone()
        return int(found[0] or 0) if found else 0

    # -----------------------------------------------------------------------------------------------------------
    # DuckDB writes

    def _insert(self, spec: TableSpec, rows: list[tuple[Any, ...]]) -> None:
        data: dict[str, np.ndarray] = {}
        for index, column in enumerate(spec.columns):
            values = [row[index] for row in rows]
            data[column.name] = _array(column, values)
        self.con.register("_batch", data)
        try:
            select = ", ".join(self._cast(spec, c, f'"{c.name}"') for c in spec.columns)
            self.con.execute(f'INSERT INTO "{spec.name}" SELECT {select} FROM _batch')  # noqa: S608
        finally:
            self.con.unregister("_batch")

    def _set_meta(self, as_of: datetime) -> None:
        self.as_of = as_of
        self.con.execute("INSERT OR REPLACE INTO _meta VALUES ('as_of', ?)", [as_of.isoformat()])


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    found = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()  # noqa: S608 - a table spec's name
    return int(found[0]) if found else 0


def _array(column: Col, values: list[Any]) -> np.ndarray:
    if column.type == "BIGINT" and not column.nullable:
        return np.fromiter((int(v) for v in values), dtype=np.int64, count=len(values))
    return np.array([_plain(v) for v in values], dtype=object)


def _plain(value: Any) -> Any:
    """One OLTP value as DuckDB reads it from an object column (as text, cast on insert)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _libpq_dsn(settings_dict: dict[str, Any]) -> str:
    parts = {
        "dbname": settings_dict.get("NAME") or "",
        "host": settings_dict.get("HOST") or "",
        "port": settings_dict.get("PORT") or "",
        "user": settings_dict.get("USER") or "",
        "password": settings_dict.get("PASSWORD") or "",
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v != "").replace("'", "''")
