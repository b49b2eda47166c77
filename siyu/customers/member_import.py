"""Member import: a brand's existing members from its previous SCRM or POS member system, from an Excel or CSV sheet.

upload (file kept on disk, hash -> a re-upload returns the first import) -> mapping (suggested from the headers) ->
dry run (the validation report, nothing written) -> the import job (streamed, BATCH rows per transaction).

Decided here (docs/member-import.md says it for operators):
- A row is one person: its identities (unionid, phone, mini-program openid, Official Account openid, card number)
  find the customer who already has any of them; several customers behind one row are merged by
  `services.resolve_customer` (the rare path, one row at a time); nobody -> a new customer (source "import").
- What a live channel already knows wins: the sheet fills blank name, gender, birthday and home store, never
  overwrites them. Points balance, tier, lifetime spend and purchase dates are kept as the customer's imported
  profile (`ImportedMemberProfile`, the latest sheet wins): the loyalty ledger does not exist yet and will open
  from them. Tags go into the tag group "导入标签 / Imported".
- A second row with an identity an earlier row of the same file had is reported as a duplicate and skipped.
- Every imported row writes one `member_imported` event whose key is a digest of the row's content: importing the
  same rows again (the same file, or another file with those rows) writes no new event and no new customer.
- Crash-safe: each batch commits with the checkpoint (the last sheet row done); the job restarted after a crash
  streams past the checkpoint (still collecting the identities seen, for duplicate detection) and continues.
- Set-based per batch: one query for the identities behind the batch, one for the customers, bulk inserts of
  customers, identities, profiles, tags and events, one bulk update of blanks filled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit, sheet_jobs
from siyu.core.audit import Actor
from siyu.core.timeutil import SHANGHAI
from siyu.customers import member_sheet as sheet
from siyu.customers.member_sheet import Member, Problem
from siyu.customers.models import (
    Channel,
    Customer,
    CustomerTag,
    Event,
    Identity,
    ImportedMemberProfile,
    MemberImport,
    MemberImportError,
    Tag,
    TagGroup,
    TagKind,
)
from siyu.customers.services import IdentityInput, resolve_customer
from siyu.org.models import Store
from siyu.org.scope import Scope

BATCH = 5000
MAX_BYTES = sheet_jobs.MAX_BYTES
MAX_ERROR_ROWS = sheet_jobs.MAX_ERROR_ROWS
TAG_GROUP = "导入标签"
TASK = "customers.run_member_import"
MAX_EVENT_TAGS = 20

KIND = sheet_jobs.Kind(
    model=MemberImport, error_model=MemberImportError, error_fk="member_import", folder="member-imports",
    action="customers.member_import", target_type="member_import", task=TASK,
    hq_only=_("only HQ imports members"), missing=_("no such member import"),
    counters=("created_customers", "merged_customers", "errors"))

ProgressHook = Callable[[MemberImport], None]


# ---------------------------------------------------------------------------------------------------------------
# Upload and mapping (the shape every sheet import shares: siyu.core.sheet_jobs)


def upload_member_file(*, scope: Scope, stream: IO[bytes] | bytes, filename: str = "",
                       actor: Actor = None) -> MemberImport:
    """Store the sheet (streamed to disk, hashed on the way), read its header and suggest a mapping. The same file
    uploaded again returns the import it made the first time."""
    imp: MemberImport = sheet_jobs.upload(KIND, scope=scope, stream=stream, filename=filename, actor=actor,
                                          inspect=sheet.inspect_file, suggest=sheet.suggest_mapping)
    return imp


def get_import(*, scope: Scope, import_id: int) -> MemberImport:
    imp: MemberImport = sheet_jobs.get(KIND, scope=scope, import_id=import_id)
    return imp


def set_mapping(*, scope: Scope, import_id: int, mapping: Mapping[str, str], actor: Actor = None) -> MemberImport:
    imp: MemberImport = sheet_jobs.set_mapping(KIND, scope=scope, import_id=import_id, mapping=mapping,
                                               check=sheet.check_mapping, actor=actor)
    return imp


def _stores(enterprise_id: int) -> dict[str, int]:
    return dict(Store.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))


PreviewRow = sheet.PreviewRow


def preview(*, scope: Scope, import_id: int, limit: int = 10) -> list[PreviewRow]:
    """The first rows as the mapping reads them, with each row's problems."""
    imp = get_import(scope=scope, import_id=import_id)
    where = sheet.positions(imp.mapping, imp.header)
    stores = _stores(imp.enterprise_id)
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    out: list[PreviewRow] = []
    for row_number, cells in _data_rows(imp):
        values = {key: sheet._shown(cells[i] if i < len(cells) else None) for key, i in where.items()}
        parsed = sheet.parse_row(row_number, cells, where, stores, today)
        out.append(PreviewRow(row_number, values, parsed if isinstance(parsed, list) else []))
        if len(out) >= limit:
            break
    return out


def _data_rows(imp: MemberImport) -> Iterator[tuple[int, list[Any]]]:
    return sheet.data_rows(Path(imp.path), imp.file_format, imp.encoding)


def imports(*, scope: Scope) -> QuerySet[MemberImport]:
    """The enterprise's member imports, newest first (HQ only)."""
    return sheet_jobs.listing(KIND, scope=scope)


def error_report(*, import_id: int, scope: Scope | None = None) -> QuerySet[MemberImportError]:
    """The rows an import refused, in sheet order. `scope` None is the command line (trusted)."""
    return sheet_jobs.error_report(KIND, import_id=import_id, scope=scope)


# ---------------------------------------------------------------------------------------------------------------
# Validation over the whole file (the dry run and the job share it)


class _Seen:
    """Identities met earlier in the file, to report a second row with one as a duplicate. Phones are kept as ints
    and other identities as 64-bit hashes, so a million rows cost tens of MB, not hundreds."""

    def __init__(self) -> None:
        self.phones: set[int] = set()
        self.others: set[int] = set()

    def clash(self, member: Member) -> str:
        if member.phone and int(member.phone) in self.phones:
            return "phone"
        for kind, value in member.identities():
            if kind != "phone" and hash((kind, value)) in self.others:
                return {"oa_openid": "openid", "member_card": "card_no"}.get(kind, kind)
        return ""

    def add(self, member: Member) -> None:
        if member.phone:
            self.phones.add(int(member.phone))
        for kind, value in member.identities():
            if kind != "phone":
                self.others.add(hash((kind, value)))


@dataclass
class Checked:
    row_number: int
    member: Member | None
    problems: list[Problem]


def _checked(imp: MemberImport, today: date) -> Iterator[Checked]:
    where = sheet.positions(imp.mapping, imp.header)
    sheet_jobs.require_mapping(sheet.check_mapping, imp.mapping, imp.header)
    stores = _stores(imp.enterprise_id)
    seen = _Seen()
    for row_number, cells in _data_rows(imp):
        parsed = sheet.parse_row(row_number, cells, where, stores, today)
        if isinstance(parsed, list):
            yield Checked(row_number, None, parsed)
            continue
        clash = seen.clash(parsed)
        if clash:
            value = getattr(parsed, clash, "")
            yield Checked(row_number, None, [Problem(clash, "duplicate_in_file",
                                                     "an earlier row of this file has the same identity", value)])
            continue
        seen.add(parsed)
        yield Checked(row_number, parsed, [])


def _problems(checked: Iterable[Checked]) -> Iterator[tuple[int, Problem]]:
    return ((c.row_number, p) for c in checked for p in c.problems)


def _error_rows(imp: MemberImport, checked: Iterable[Checked]) -> list[MemberImportError]:
    return sheet_jobs.error_rows(KIND, imp.pk, _problems(checked))


@dataclass
class DryRun:
    total_rows: int
    valid_rows: int
    error_rows: int


def dry_run(*, scope: Scope, import_id: int, actor: Actor = None) -> DryRun:
    """Check every row, replace the import's report with what was found, write nothing else."""
    imp = get_import(scope=scope, import_id=import_id)
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    total = valid = bad = 0
    sheet_jobs.clear_report(KIND, imp.pk)
    report = sheet_jobs.Report(KIND, imp.pk, chunk=BATCH)
    for checked in _checked(imp, today):
        total += 1
        if checked.member is not None:
            valid += 1
            continue
        bad += 1
        report.add(1, _problems([checked]))
    report.flush()
    MemberImport.objects.filter(pk=imp.pk).update(total_rows=total, valid_rows=valid, errors=bad)
    audit.record(enterprise_id=imp.enterprise_id, actor=actor, action="customers.member_import.dry_run",
                 target_type="member_import", target_id=imp.pk,
                 summary=audit.ntext(
                     N_("%(count)s row, %(bad)s with errors"), N_("%(count)s rows, %(bad)s with errors"),
                     total, bad=bad))
    return DryRun(total_rows=total, valid_rows=valid, error_rows=bad)


# ---------------------------------------------------------------------------------------------------------------
# The job


def start_member_import(*, scope: Scope, import_id: int, actor: Actor = None, enqueue: bool = True) -> MemberImport:
    """Queue the import (or re-queue one that failed: it continues from its checkpoint)."""
    imp: MemberImport = sheet_jobs.start(KIND, scope=scope, import_id=import_id, check=sheet.check_mapping,
                                         actor=actor, enqueue=enqueue)
    return imp


def resume_stale_import(*, scope: Scope, import_id: int, actor: Actor = None) -> MemberImport:
    """A job whose worker died stays "running": put it back in the queue (it continues from its checkpoint)."""
    imp: MemberImport = sheet_jobs.resume_stale(KIND, scope=scope, import_id=import_id, check=sheet.check_mapping,
                                                actor=actor)
    return imp


def _batches(items: Iterator[Checked], skip_to: int) -> Iterator[list[Checked]]:
    return sheet_jobs.batches(items, skip_to=skip_to, size=BATCH, last_row=lambda c: c.row_number)


def run_member_import(*, import_id: int, progress: ProgressHook | None = None,
                      after_batch: Callable[[int], None] | None = None) -> str:
    """Process a queued import batch by batch, each batch one transaction with its checkpoint and counters (the
    console and the command line read them). `after_batch(k)` runs after batch k commits (tests crash there)."""
    today = timezone.localtime(timezone.now(), SHANGHAI).date()

    def work(imp: MemberImport) -> None:
        tags = _TagCache(imp.enterprise_id)
        with _bulk_session():
            _run_batches(imp, today, tags, progress, after_batch)

    done = sheet_jobs.run(KIND, import_id=import_id, work=work, done={"valid_rows": F("processed_rows") - F("errors")})
    return "skipped" if done is None else "done"


SQLITE_IMPORT_CACHE_KIB = 256 * 1024


@contextmanager
def _bulk_session() -> Iterator[None]:
    """SQLite's page cache is 2 MB per connection by default: at a million members the identity and event key
    indexes no longer fit and every insert reads pages back from the file. The import's connection gets a fixed
    256 MiB for the job's length (bounded, whatever the sheet's size) and its own setting back afterwards."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


def _run_batches(imp: MemberImport, today: date, tags: _TagCache, progress: ProgressHook | None,
                 after_batch: Callable[[int], None] | None) -> None:
    def commit(batch: Sequence[Checked]) -> None:
        with transaction.atomic():
            result = _write_batch(imp, batch, tags)
            MemberImport.objects.filter(pk=imp.pk).update(
                checkpoint_row=batch[-1].row_number, processed_rows=F("processed_rows") + len(batch),
                created_customers=F("created_customers") + result.created,
                merged_customers=F("merged_customers") + result.merged,
                errors=F("errors") + result.errors)

    sheet_jobs.run_batches(imp, _batches(_checked(imp, today), imp.checkpoint_row), commit, progress, after_batch)


@dataclass
class BatchResult:
    created: int = 0
    merged: int = 0
    errors: int = 0


class _TagCache:
    def __init__(self, enterprise_id: int) -> None:
        self.enterprise_id = enterprise_id
        self.ids: dict[str, int] = {}
        self.group: TagGroup | None = None

    def resolve(self, names: set[str]) -> dict[str, int]:
        missing = names - set(self.ids)
        if missing:
            if self.group is None:
                self.group, _ignored = TagGroup.objects.get_or_create(enterprise_id=self.enterprise_id, name=TAG_GROUP)
            found = dict(Tag.objects.filter(group=self.group, name__in=missing).values_list("name", "id"))
            fresh = [Tag(group=self.group, name=name, kind=TagKind.MANUAL) for name in sorted(missing - set(found))]
            if fresh:
                Tag.objects.bulk_create(fresh, ignore_conflicts=True)
                found = dict(Tag.objects.filter(group=self.group, name__in=missing).values_list("name", "id"))
            self.ids.update(found)
        return {name: self.ids[name] for name in names}


def _digest(enterprise_id: int, member: Member) -> str:
    return hashlib.sha256(f"{enterprise_id}\x1e{member.digest_source()}".encode()).hexdigest()[:40]


def _owners(enterprise_id: int, members: Sequence[Member]) -> dict[tuple[str, str], int]:
    """The customers already holding the batch's identities: one indexed lookup per identity kind, the values passed
    as one array (PostgreSQL `unnest`, one index probe per value) or one JSON list (SQLite `json_each`), not a
    5,000-item IN the ORM compiles."""
    by_kind: dict[str, set[str]] = {}
    for member in members:
        for kind, value in member.identities():
            by_kind.setdefault(kind, set()).add(value)
    table = connection.ops.quote_name(Identity._meta.db_table)
    if connection.vendor == "postgresql":
        # one index probe per value, whatever the statistics say: `value = ANY(%s)` let the planner, with the table's
        # statistics stale (they are during a bulk load, and always with autovacuum off), use the index for
        # (enterprise, kind) only and filter every identity of the kind: a scan of the whole table per batch, the
        # import slowing as the table grew. A LATERAL ... LIMIT 1 is not flattened, so its equality stays an index
        # condition on all three columns (the unique index: at most one row).
        sql = ("SELECT i.kind, i.value, i.customer_id FROM unnest(%s::text[]) AS v(value) "  # noqa: S608
               f"CROSS JOIN LATERAL (SELECT kind, value, customer_id FROM {table} "
               "WHERE enterprise_id = %s AND kind = %s AND value = v.value LIMIT 1) AS i")
    else:
        sql = (f"SELECT kind, value, customer_id FROM {table} "  # noqa: S608 - the model's table
               "WHERE enterprise_id = %s AND kind = %s AND value IN (SELECT value FROM json_each(%s))")
    out: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        for kind, values in sorted(by_kind.items()):
            listed = sorted(values)
            if connection.vendor == "postgresql":
                cursor.execute(sql, [listed, enterprise_id, kind])
            else:
                cursor.execute(sql, [enterprise_id, kind, json.dumps(listed)])
            out.update(((k, v), cid) for k, v, cid in cursor.fetchall())
    return out


def _write_batch(imp: MemberImport, batch: Sequence[Checked], tags: _TagCache) -> BatchResult:
    result = BatchResult()
    bad = [c for c in batch if c.member is None]
    result.errors = len(bad)
    MemberImportError.objects.bulk_create(_error_rows(imp, bad), ignore_conflicts=True)
    members = [c.member for c in batch if c.member is not None]
    if not members:
        return result
    now = timezone.now()
    owners = _owners(imp.enterprise_id, members)
    customer_of: dict[int, int] = {}
    new: list[Member] = []
    for member in members:
        found = {owner for pair in member.identities() if (owner := owners.get(pair)) is not None}
        if not found:
            new.append(member)
        elif len(found) == 1:
            customer_of[member.row_number] = found.pop()
        else:  # one row, several customers: the same person seen by several channels -> merge (rare)
            customer_of[member.row_number] = _resolve(imp, member)
            for pair in member.identities():
                owners[pair] = customer_of[member.row_number]
    result.merged = len(customer_of)
    result.created = len(new)
    _create_customers(imp, new, customer_of, now)
    fresh_rows = {m.row_number for m in new}
    _attach_identities(imp, [m for m in members if m.row_number not in fresh_rows], owners, customer_of)
    _fill_blanks(imp, members, customer_of, fresh_rows, now)
    _profiles(imp, members, customer_of, now)
    _tags(members, customer_of, tags, now)
    _events(imp, members, customer_of, now)
    return result


def _resolve(imp: MemberImport, member: Member) -> int:
    identities = [IdentityInput(kind=kind, value=value) for kind, value in member.identities()]
    return resolve_customer(enterprise_id=imp.enterprise_id, identities=identities).pk


def _insert(model: Any, fields: Sequence[str], rows: Sequence[Sequence[Any]], conflict: str = "") -> None:
    """Many rows in one go. SQLite: one prepared INSERT run by executemany (in C; the ORM's bulk_create compiles SQL
    per object, which costs more than the database's own work at a million rows). PostgreSQL: COPY, straight into
    the table, or into a temporary staging table and from there one INSERT ... SELECT with the conflict clause (per-row
    statements, even pipelined, ran at a few hundred rows/s). Values come in adapted (`_adapt`)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy(model, fields, rows, conflict)
        return
    qn = connection.ops.quote_name
    meta = model._meta
    columns = [qn(meta.get_field(name).column) for name in fields]
    sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - names from the model
           f"VALUES ({', '.join('%s' for _c in columns)}) {conflict}")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _copy(model: Any, fields: Sequence[str], rows: Iterable[Sequence[Any]], conflict: str = "") -> None:
    qn = connection.ops.quote_name
    meta = model._meta
    table = qn(meta.db_table)
    columns = ", ".join(qn(meta.get_field(name).column) for name in fields)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor, for COPY
        if not conflict:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        stage = qn(f"stage_{meta.db_table}")
        # the staging table has the target's column types and no constraints; dropped with the transaction
        cursor.execute(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "  # noqa: S608 - names from the model
                       f"SELECT {columns} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} {conflict}")  # noqa: S608
        cursor.execute(f"DROP TABLE {stage}")


def _allocate_ids(model: Any, count: int) -> list[int]:
    """Ids for rows about to be inserted with executemany (which returns none). PostgreSQL: from the table's
    sequence. SQLite: above the highest ever used; safe because the transaction holds the write lock (every
    transaction begins IMMEDIATE) and a million-row import allocates them once per batch."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, count])
            return [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM " + connection.ops.quote_name(table))  # noqa: S608
        top = int(cursor.fetchone()[0])
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        top = max(top, int(found[0]) if found else 0)
    return list(range(top + 1, top + 1 + count))


def _when(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _day(value: date | None) -> Any:
    if value is None or _ON_POSTGRES:
        return value
    return value.isoformat()  # what SQLite's adapter makes of a date, without its per-call cost


# asked once per date cell, connection.vendor's thread-local look-up showed in the profile; the engine is fixed
_ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]


def _create_customers(imp: MemberImport, new: Sequence[Member], customer_of: dict[int, int], now: datetime) -> None:
    if not new:
        return
    ids = _allocate_ids(Customer, len(new))
    when = _when(now)
    ent = imp.enterprise_id
    _insert(Customer, ("id", "enterprise", "name", "gender", "birthday", "phone", "region", "created_source",
                       "home_store", "created_at", "updated_at"),
            [(cid, ent, m.name, m.gender or "unknown", _day(m.birthday), m.phone, "", Channel.IMPORT.value,
              m.store_id, when, when) for cid, m in zip(ids, new, strict=True)])
    for cid, member in zip(ids, new, strict=True):
        customer_of[member.row_number] = cid
    # a clash on an identity means a concurrent writer took it: the batch rolls back and the job can be resumed
    _insert(Identity, ("enterprise", "customer", "kind", "value", "account", "created_at"),
            [(ent, cid, kind, value, "", when) for cid, m in zip(ids, new, strict=True)
             for kind, value in m.identities()])
    _insert(Event, ("enterprise", "customer", "name", "occurred_at", "received_at", "channel", "store", "campaign",
                    "properties", "idempotency_key"),
            [(ent, cid, "customer_created", when, when, Channel.IMPORT.value, m.store_id, "", "{}",
              f"customer_created:{cid}") for cid, m in zip(ids, new, strict=True)],
            "ON CONFLICT DO NOTHING")


def _attach_identities(imp: MemberImport, known: Sequence[Member], owners: Mapping[tuple[str, str], int],
                       customer_of: Mapping[int, int]) -> None:
    """Identities the sheet knows that the matched customer does not have yet (nobody else has them either)."""
    when = _when(timezone.now())
    _insert(Identity, ("enterprise", "customer", "kind", "value", "account", "created_at"),
            [(imp.enterprise_id, customer_of[m.row_number], kind, value, "", when)
             for m in known for kind, value in m.identities() if (kind, value) not in owners],
            "ON CONFLICT DO NOTHING")


def _fill_blanks(imp: MemberImport, members: Sequence[Member], customer_of: Mapping[int, int],
                 new_rows: set[int], now: datetime) -> None:
    """What the sheet knows and the matched customer does not: filled; what a channel already set: kept. One
    prepared UPDATE over the matched customers, the blank test in SQL (no read first)."""
    rows = [(m.name, m.gender or "unknown", _day(m.birthday), m.phone, m.store_id, _when(now),
             customer_of[m.row_number], imp.enterprise_id)
            for m in members if m.row_number not in new_rows]
    if not rows:
        return
    table = connection.ops.quote_name(Customer._meta.db_table)
    if connection.vendor == "postgresql":
        _fill_blanks_pg(table, rows)
        return
    sql = (f"UPDATE {table} SET "  # noqa: S608 - the model's table
           "name = CASE WHEN name = '' THEN %s ELSE name END, "
           "gender = CASE WHEN gender = 'unknown' THEN %s ELSE gender END, "
           "birthday = COALESCE(birthday, %s), "
           "phone = CASE WHEN phone = '' THEN %s ELSE phone END, "
           "home_store_id = COALESCE(home_store_id, %s), "
           "updated_at = %s "
           "WHERE id = %s AND enterprise_id = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _fill_blanks_pg(table: str, rows: Sequence[Sequence[Any]]) -> None:
    """The same as one UPDATE ... FROM a staging table COPY filled (a row can name a customer twice: the first wins)."""
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute("CREATE TEMPORARY TABLE stage_fill (name text, gender text, birthday date, phone text, "
                       "store_id bigint, updated_at timestamptz, customer_id bigint, enterprise_id bigint) "
                       "ON COMMIT DROP")
        with cursor.copy("COPY stage_fill FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"UPDATE {table} AS c SET "  # noqa: S608 - the model's table
            "name = CASE WHEN c.name = '' THEN s.name ELSE c.name END, "
            "gender = CASE WHEN c.gender = 'unknown' THEN s.gender ELSE c.gender END, "
            "birthday = COALESCE(c.birthday, s.birthday), "
            "phone = CASE WHEN c.phone = '' THEN s.phone ELSE c.phone END, "
            "home_store_id = COALESCE(c.home_store_id, s.store_id), "
            "updated_at = s.updated_at "
            "FROM (SELECT DISTINCT ON (customer_id) * FROM stage_fill ORDER BY customer_id) AS s "
            "WHERE c.id = s.customer_id AND c.enterprise_id = s.enterprise_id")
        cursor.execute("DROP TABLE stage_fill")


_PROFILE_UPDATE = ("points_balance", "tier", "lifetime_spend_fen", "first_purchase_on", "last_purchase_on",
                   "store_code", "member_import_id", "updated_at")


def _profiles(imp: MemberImport, members: Sequence[Member], customer_of: Mapping[int, int], now: datetime) -> None:
    when = _when(now)
    rows = {}
    for m in members:
        if m.points is None and not m.tier and m.lifetime_spend_fen is None and not m.first_purchase \
                and not m.last_purchase and not m.store_code:
            continue
        cid = customer_of[m.row_number]
        rows[cid] = (imp.enterprise_id, cid, m.points, m.tier, m.lifetime_spend_fen, settings.SIYU_CURRENCY,
                     _day(m.first_purchase), _day(m.last_purchase), m.store_code, imp.pk, when)
    update = ", ".join(f"{c} = excluded.{c}" for c in _PROFILE_UPDATE)
    _insert(ImportedMemberProfile, ("enterprise", "customer", "points_balance", "tier", "lifetime_spend_fen",
                                    "currency", "first_purchase_on", "last_purchase_on", "store_code",
                                    "member_import", "updated_at"),
            list(rows.values()), f"ON CONFLICT (customer_id) DO UPDATE SET {update}")


def _tags(members: Sequence[Member], customer_of: Mapping[int, int], tags: _TagCache, now: datetime) -> None:
    names = {name for m in members for name in m.tags}
    if not names:
        return
    ids = tags.resolve(names)
    when = _when(now)
    _insert(CustomerTag, ("customer", "tag", "source", "created_at"),
            [(customer_of[m.row_number], ids[name], TagKind.MANUAL.value, when) for m in members for name in m.tags],
            "ON CONFLICT DO NOTHING")


def _events(imp: MemberImport, members: Sequence[Member], customer_of: Mapping[int, int], now: datetime) -> None:
    when = _when(now)
    rows = []
    for m in members:
        props: dict[str, Any] = {"import_id": imp.pk, "row": m.row_number}
        for key, value in (("tier", m.tier), ("points_balance", m.points), ("lifetime_spend_fen", m.lifetime_spend_fen),
                           ("store_code", m.store_code), ("tags", m.tags[:MAX_EVENT_TAGS])):
            if value not in (None, "", []):
                props[key] = value
        for key, day in (("first_purchase_on", m.first_purchase), ("last_purchase_on", m.last_purchase)):
            if day is not None:
                props[key] = day.isoformat()
        rows.append((imp.enterprise_id, customer_of[m.row_number], "member_imported", when, when, Channel.IMPORT.value,
                     m.store_id, "", json.dumps(props, ensure_ascii=False),
                     f"member_imported:{_digest(imp.enterprise_id, m)}"))
    _insert(Event, ("enterprise", "customer", "name", "occurred_at", "received_at", "channel", "store", "campaign",
                    "properties", "idempotency_key"), rows, "ON CONFLICT DO NOTHING")


def merge_imported_profile(absorbed_id: int, survivor_id: int) -> int:
    """A merge keeps the survivor's imported profile; the absorbed one's moves over only when it has none."""
    if ImportedMemberProfile.objects.filter(customer_id=survivor_id).exists():
        ImportedMemberProfile.objects.filter(customer_id=absorbed_id).delete()
        return 0
    return int(ImportedMemberProfile.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
