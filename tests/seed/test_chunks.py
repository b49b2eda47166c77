"""The demo generator streams: customers are drawn and written in fixed-size chunks, each a pure function of the seed
and the chunk, so the data does not depend on the order chunks are written in and memory is one chunk's whatever
the run's size.

Expected values are computed here from the split rule (a chunk's share of the events is proportional to its
customers, integer-rounded at the bounds) and from the domain (unique phones, contiguous keys), not by the generator.
"""

from __future__ import annotations

import tracemalloc
from datetime import date, datetime
from typing import Any

import pytest
from django.db import transaction

from siyu.catalog.models import Product
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Customer, Event
from siyu.seed import generate as gen
from siyu.seed.org import create_org
from siyu.seed.runner import seed_enterprise

UNTIL = date(2026, 11, 1)
CUSTOMERS, EVENTS, CHUNK = 300, 3000, 64


class _Rollback(Exception):
    pass


def _by_name(properties: dict[str, Any], products: dict[int, str]) -> dict[str, Any]:
    if "product_id" not in properties:
        return properties
    return {**properties, "product_id": products[properties["product_id"]]}


def _snapshot(*, reverse: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """Customers and events of a run with 64-customer chunks, written forwards or backwards; rolled back after.
    Stores, staff and viewed products by code or name (PostgreSQL does not give sequence values back on a rollback,
    and the demo catalog is made through the ORM)."""
    chunks = gen.Plan.chunks
    with monkeypatch.context() as patch:
        patch.setattr(gen, "CUSTOMER_CHUNK", CHUNK)
        if reverse:
            patch.setattr(gen.Plan, "chunks", lambda self: list(reversed(chunks(self))))
        customers: list[Any] = []
        events: list[Any] = []
        try:
            with transaction.atomic():
                result = seed_enterprise(customers=CUSTOMERS, events=EVENTS, seed=3, code="chunks", until=UNTIL)
                ent = result.enterprise_id
                customers = list(Customer.objects.filter(enterprise_id=ent).order_by("id").values_list(
                    "id", "name", "phone", "gender", "birthday", "home_store__code", "created_at"))
                products = dict(Product.objects.filter(enterprise_id=ent).values_list("id", "name"))
                events = [(*row[:-1], _by_name(row[-1], products)) for row in Event.objects.filter(
                    enterprise_id=ent).order_by("idempotency_key").values_list(
                    "idempotency_key", "customer_id", "name", "occurred_at", "store__code", "staff__wecom_userid",
                    "properties")]
                raise _Rollback
        except _Rollback:
            pass
    return customers, events


def test_chunks_written_backwards_give_the_same_data(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    forwards = _snapshot(reverse=False, monkeypatch=monkeypatch)
    backwards = _snapshot(reverse=True, monkeypatch=monkeypatch)
    assert len(forwards[0]) == CUSTOMERS and len(forwards[1]) == EVENTS
    assert forwards == backwards


def test_each_chunk_gets_its_share_of_events_and_keys_follow_the_customers(
        db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "CUSTOMER_CHUNK", CHUNK)
    result = seed_enterprise(customers=CUSTOMERS, events=EVENTS, seed=3, code="share", until=UNTIL)
    ent = result.enterprise_id
    first = Customer.objects.filter(enterprise_id=ent).order_by("id").values_list("id", flat=True).first()
    assert first is not None
    assert list(Customer.objects.filter(enterprise_id=ent).order_by("id").values_list("id", flat=True)) == list(
        range(first, first + CUSTOMERS))
    for lo in range(0, CUSTOMERS, CHUNK):
        hi = min(lo + CHUNK, CUSTOMERS)
        expected = EVENTS * hi // CUSTOMERS - EVENTS * lo // CUSTOMERS
        got = Event.objects.filter(enterprise_id=ent, customer_id__gte=first + lo, customer_id__lt=first + hi).count()
        assert got == expected, (lo, hi)
    rows = list(Event.objects.filter(enterprise_id=ent).values_list("idempotency_key", "customer_id", "occurred_at"))
    numbers = sorted(int(key.rsplit(":", 1)[1]) for key, _c, _t in rows)
    assert numbers == list(range(1, EVENTS + 1))
    by_key = [(c, t) for _k, c, t in sorted(rows, key=lambda r: int(r[0].rsplit(":", 1)[1]))]
    assert by_key == sorted(by_key)  # numbered in (customer, time) order across chunk bounds
    phones = [p for p in Customer.objects.filter(enterprise_id=ent).values_list("phone", flat=True) if p]
    assert len(phones) > 0.85 * CUSTOMERS and len(set(phones)) == len(phones)


def test_a_chunk_of_a_huge_run_costs_one_chunk_of_memory(db: None) -> None:
    """A chunk of a 10M-customer plan: arrays of the chunk's size, and no allocation anywhere near a run-sized
    array (10M int64 would be 80 MB)."""
    org = create_org(code="huge", name="huge", seed=1, created_at=datetime(2026, 1, 1, tzinfo=SHANGHAI),
                     accounts=("wwhuge", "wxhuge", "wxhugemp"))
    cal = gen.Calendar.ending(UNTIL)
    plan = gen.Plan(size=10_000_000, events=200_000_000, seed=1, first_id=1)
    chunk, lo, hi = plan.chunks()[123]
    tracemalloc.start()
    try:
        pop = plan.population(org, cal, chunk, lo, hi)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (lo, hi) == (123 * gen.CUSTOMER_CHUNK, 124 * gen.CUSTOMER_CHUNK)
    assert pop.size == hi - lo and len(pop.events) == hi - lo
    assert int(pop.events.sum()) == 200_000_000 * hi // 10_000_000 - 200_000_000 * lo // 10_000_000
    assert peak < 40 * 2**20
    assert len(plan.chunks()) == 10_000_000 // gen.CUSTOMER_CHUNK
    assert pop.ids[0] == 1 + lo and pop.ids[-1] == hi


def test_the_index_kept_during_the_event_load_is_the_one_rows_arrive_in_order_of() -> None:
    """Indexes are told apart by their first column, in SQLite's stored text and PostgreSQL's pg_get_indexdef."""
    from siyu.seed.writer import leading_column

    assert leading_column('CREATE INDEX "customers_event_customer_id_occurred_at_5a" ON "customers_event" '
                          '("customer_id", "occurred_at")') == "customer_id"
    assert leading_column("CREATE INDEX customers_e_name_3c ON public.customers_event USING btree "
                          "(name, occurred_at)") == "name"
    assert leading_column('CREATE INDEX "customers_event_store_id_9f" ON "customers_event" ("store_id")') == "store_id"
