"""`seed_enterprise`: a whole demo enterprise, from its stores to a year of events, written set-based."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.utils.translation import gettext_lazy as _

from siyu.catalog import services as catalog_services
from siyu.channels.wecom import seed as wecom_seed
from siyu.core.errors import Conflict, ValidationFailed
from siyu.core.seed.hooks import run_seed_steps
from siyu.core.seed.progress import Progress
from siyu.core.timeutil import SHANGHAI, now
from siyu.customers.models import Customer
from siyu.org.models import Enterprise
from siyu.seed import generate as gen
from siyu.seed import vocab
from siyu.seed.columns import Batch
from siyu.seed.org import DEMO_MP_APP_ID, DEMO_OA_APP_ID, DEMO_WECOM_CORP_ID, OrgPlan, create_org, model
from siyu.seed.writer import Writer, rebuilt_indexes, writer_for

WRITE_ROWS = 200_000  # rows per INSERT/COPY round trip: large enough to amortise, small enough to stay lean
EVENTS_PER_CUSTOMER = 20


@dataclass(frozen=True)
class SeedResult:
    enterprise_id: int
    code: str
    stores: int
    staff: int
    customers: int
    identities: int
    relationships: int
    customer_tags: int
    events: int
    seconds: float
    rates: dict[str, float]
    steps: list[str]


def _table(label: str) -> str:
    return str(model(label)._meta.db_table)


def _check_columns(batch: Batch, label: str) -> None:
    """The generated columns are exactly the model's concrete columns (the id may be left to the database)."""
    wanted = {f.column for f in model(label)._meta.concrete_fields}
    got = set(batch.columns)
    if got != wanted and got != wanted - {"id"}:
        raise AssertionError(f"{label}: columns {sorted(got ^ wanted)} differ from the model")


class _Stop:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _put(pending: queue.Queue[Any], item: Any, stopping: threading.Event) -> bool:
    """Queue an item unless the writer has stopped; False when it has."""
    while not stopping.is_set():
        try:
            pending.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _load(writer: Writer, batches: Iterator[Batch], label: str, progress: Progress) -> int:
    """Generate and encode in a producer thread while this thread writes the previous chunk."""
    pending: queue.Queue[Any] = queue.Queue(maxsize=2)
    stopping = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                for start in range(0, len(batch), WRITE_ROWS):
                    if not _put(pending, writer.encode(batch.slice(start, start + WRITE_ROWS)), stopping):
                        return
            pending.put(_Stop())
        except BaseException as exc:  # noqa: BLE001 - handed to the writing thread, which raises it
            pending.put(_Stop(exc))

    producer = threading.Thread(target=produce, name=f"seed-{label}", daemon=True)
    producer.start()
    written = 0
    try:
        while True:
            item = pending.get()
            if isinstance(item, _Stop):
                if item.error is not None:
                    raise item.error
                break
            rows = writer.write(item)
            written += rows
            progress.advance(label, rows)
    finally:
        stopping.set()
        producer.join(timeout=30)
    return written


def _analyze(using: str, tables: list[str]) -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 1000")
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')


@dataclass
class _Run:
    plan: gen.Plan
    org: OrgPlan
    cal: gen.Calendar
    voc: gen.EventVocabulary
    seed: int
    writer: Writer
    progress: Progress
    rates: dict[str, float]

    def table(self, label: str, name: str, total: int, make: Callable[[gen.Population, int, int, int], Batch],
              in_order_of: tuple[str, ...] = ()) -> int:
        """Write one table chunk by chunk; `total` is the expected row count (progress and the index decision)."""
        table = _table(label)

        def batches() -> Iterator[Batch]:
            for chunk, lo, hi in self.plan.chunks():
                # drawn again for every table: a chunk is cheap to draw, and memory stays one chunk's
                pop = self.plan.population(self.org, self.cal, chunk, lo, hi)
                batch = make(pop, chunk, lo, hi)
                _check_columns(batch, label)
                yield batch

        self.progress.start(name, total)
        with rebuilt_indexes(self.writer, table, total, self.progress.note, keep=in_order_of):
            written = _load(self.writer, batches(), name, self.progress)
            self.rates[name] = self.progress.finish(name)
        return written


def _event_prefix(code: str) -> str:
    # The key is unique per enterprise already: the code adds nothing but bytes (twice, in the row and its unique
    # index: about 18 bytes an event, 3.6 GB at tier B's 200M events).
    del code
    return "seed:"


def _first_customer_id(using: str) -> int:
    table = _table("customers.Customer")
    with connections[using].cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - model table name
        return int(cursor.fetchone()[0]) + 1


def _phone_slot() -> int:
    """The first phone slot no earlier seed used: every seeded enterprise holds some of its slot's first numbers.

    Identities are unique per enterprise, so this is not needed for the load to succeed; disjoint slots keep seeded
    brands' customers apart, as two real brands' mostly are. Probed on the customers' indexed phone column."""
    customer = Customer
    for slot in range(gen.PHONE_SLOTS):
        probe = gen.phones(np.arange(32, dtype=np.int64) * gen.PHONE_SLOTS + slot)
        if not customer.objects.filter(phone__in=probe).exists():
            return slot
    raise Conflict(
        _("this database already holds %(PHONE_SLOTS)s seeded enterprises") % {"PHONE_SLOTS": gen.PHONE_SLOTS},
        field="enterprise",
        code="too_many_seeded",
    )


def _validate(customers: int, events: int, code: str) -> None:
    if customers < 1:
        raise ValidationFailed(_("seed at least one customer"), field="customers", code="customers_range")
    if events < 0:
        raise ValidationFailed(_("events cannot be negative"), field="events", code="events_negative")
    if not code or len(code) > 40:
        raise ValidationFailed(_("the enterprise code must be 1-40 characters"), field="enterprise",
                               code="enterprise_length")
    if Enterprise.objects.filter(code=code).exists():
        raise Conflict(
            _("enterprise %(code)s already exists") % {"code": repr(code)},
            field="enterprise", code="exists",
        )


def seed_enterprise(
    *,
    customers: int = 20_000,
    events: int | None = None,
    seed: int = 1,
    code: str = "demo",
    name: str = "思域优选",
    until: date | None = None,
    progress: Progress | None = None,
    using: str = "default",
) -> SeedResult:
    """Create enterprise `code` with its org, `customers` customers and exactly `events` events (deterministic).

    `until` is the Shanghai day the data ends before (default: today), so the year of events ends yesterday.
    """
    started = time.monotonic()
    events = EVENTS_PER_CUSTOMER * customers if events is None else events
    progress = progress or Progress()
    _validate(customers, events, code)
    until = until or now().astimezone(SHANGHAI).date()
    cal = gen.Calendar.ending(until)
    accounts = (DEMO_WECOM_CORP_ID, DEMO_OA_APP_ID, DEMO_MP_APP_ID)
    org = create_org(code=code, name=name, seed=seed, created_at=now().replace(microsecond=0), accounts=accounts)
    progress.note(f"enterprise {code} (#{org.enterprise_id}): {len(org.store_ids)} stores, {org.staff_count} staff")
    plan = gen.Plan(size=customers, events=events, seed=seed, first_id=_first_customer_id(using),
                    phone_slot=_phone_slot())
    writer = writer_for(connections[using])
    # The catalog first, so the product views in the event log point at products that exist (the orders step finds
    # it there and sells from it).
    product_ids = catalog_services.seed_demo_catalog(org.enterprise_id, random.Random(seed)).product_ids  # noqa: S311
    run = _Run(plan, org, cal, gen.EventVocabulary.build(org, product_ids), seed, writer, progress, {})
    counts = _write_all(run, using)
    steps = run_seed_steps(enterprise_id=org.enterprise_id, seed=seed, progress=progress)
    # Every source state the relationships carry is a channel code operators see by name (stores' codes are made by
    # the WeCom step; the campaigns' here, since their names live in the generator's vocabulary).
    wecom_seed.campaign_codes(org.enterprise_id, vocab.CAMPAIGN_STATES)
    return SeedResult(
        enterprise_id=org.enterprise_id, code=code, stores=len(org.store_ids), staff=org.staff_count,
        customers=counts["customers"], identities=counts["identities"], relationships=counts["relationships"],
        customer_tags=counts["customer tags"], events=counts["events"], seconds=time.monotonic() - started,
        rates=run.rates, steps=steps,
    )


def _write_all(run: _Run, using: str) -> dict[str, int]:
    plan, org, seed = run.plan, run.org, run.seed
    # Expected row counts per customer (progress lines and the rebuild-indexes decision only; the rows are exact).
    size = plan.size
    counts: dict[str, int] = {}
    run.writer.begin()
    try:
        customers = _table("customers.Customer")
        counts["customers"] = run.table(
            "customers.Customer", "customers", size,
            lambda p, c, lo, hi: gen.customer_batch(customers, p, org, c, lo, hi, seed))
        run.writer.after_explicit_ids(customers)
        identities = _table("customers.Identity")
        counts["identities"] = run.table(
            "customers.Identity", "identities", int(3.4 * size),
            lambda p, c, lo, hi: gen.identity_batch(identities, p, org, c, lo, hi, seed))
        relationships = _table("customers.Relationship")
        counts["relationships"] = run.table(
            "customers.Relationship", "relationships", int(0.75 * size),
            lambda p, c, lo, hi: gen.relationship_batch(relationships, p, org, run.voc, lo, hi))
        tags = _table("customers.CustomerTag")
        counts["customer tags"] = run.table(
            "customers.CustomerTag", "customer tags", int(3.9 * size),
            lambda p, c, lo, hi: gen.tag_batch(tags, p, org, run.cal, c, lo, hi, seed))
        prefix = _event_prefix(org.code)
        events = _table("customers.Event")
        counts["events"] = run.table(
            "customers.Event", "events", plan.events,
            lambda p, c, lo, hi: gen.event_batch(events, p, org, run.voc, run.cal, chunk=c, lo=lo, hi=hi, seed=seed,
                                                 first_number=plan.events_before(lo) + 1, key_prefix=prefix),
            in_order_of=("customer_id",))  # chunks ascend by customer and each is sorted by (customer, time)
    finally:
        run.writer.finish()
    with transaction.atomic(using=using):
        _analyze(using, [_table(label) for label in ("customers.Customer", "customers.Identity",
                                                     "customers.Relationship", "customers.CustomerTag",
                                                     "customers.Event")])
    return counts
