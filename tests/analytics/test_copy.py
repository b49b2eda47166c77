"""The columnar copy mirrors the OLTP rows, follows inserts, updates, merges and deletions, and says how fresh it is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from siyu.analytics.engine import capture
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.analytics.engine.tables import table
from siyu.customers import services
from siyu.customers.models import Customer, CustomerTag, Event
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory

pytestmark = pytest.mark.django_db


def _event(customer: Customer, key: str, name: str = "page_viewed", at: datetime | None = None) -> None:
    services.append_events(enterprise_id=customer.enterprise_id, batch=[services.EventInput(
        name=name, occurred_at=at or timezone.now(), idempotency_key=key, customer_id=customer.pk,
        properties={"path": "/p"} if name == "page_viewed" else {})])


def test_build_copies_rows_with_their_types(org: Org, copy: ColumnarCopy) -> None:
    c = CustomerFactory.create(enterprise=org.enterprise, gender="female", phone="13800000001",
                               birthday=date(1990, 5, 6), region="上海市", home_store=org.store_n1)
    plain = CustomerFactory.create(enterprise=org.enterprise, phone="")
    moment = datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)
    _event(c, "k1", at=moment)
    copy.build()
    row = copy.query("SELECT gender, birthday, has_phone, region, home_store_id FROM customers WHERE id = ?",
                     [c.pk]).rows
    assert row == [("female", date(1990, 5, 6), True, "上海市", org.store_n1.pk)]
    assert copy.query("SELECT has_phone FROM customers WHERE id = ?", [plain.pk]).scalar() is False
    event = copy.query("SELECT name, occurred_at, json_extract_string(properties, '$.path') FROM events "
                       "WHERE customer_id = ?", [c.pk]).rows
    assert event == [("page_viewed", moment.replace(tzinfo=None), "/p")]  # naive UTC


def test_event_names_are_dictionary_encoded(copy: ColumnarCopy, org: Org) -> None:
    copy.build()
    kind = copy.query("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' "
                      "AND column_name = 'name'").scalar()
    assert str(kind).startswith("ENUM(")
    values = copy.query("SELECT unnest(enum_range(NULL::event_name))").column()
    assert "page_viewed" in values and "customer_created" in values


def test_refresh_follows_inserts_updates_merges_and_deletions(org: Org, copy: ColumnarCopy) -> None:
    a = CustomerFactory.create(enterprise=org.enterprise)
    b = CustomerFactory.create(enterprise=org.enterprise)
    untouched = CustomerFactory.create(enterprise=org.enterprise)
    _event(a, "a1")
    _event(b, "b1")
    _event(untouched, "u1")
    tag_group = services.create_tag_group(enterprise_id=org.enterprise.pk, name="兴趣")
    tag = services.create_tag(group=tag_group, name="咖啡")
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[b.pk], tag_ids=[tag.pk])
    copy.build()

    _event(a, "a2")  # an insert
    Customer.objects.filter(pk=b.pk).update(region="杭州市")  # an UPDATE that skips auto_now
    services.merge_customers(survivor=a, absorbed=b, reason="test")  # moves b's events and tags to a
    CustomerTag.objects.filter(customer_id=a.pk).delete()  # a deletion
    result = copy.refresh()

    assert copy.query("SELECT count(*) FROM events WHERE customer_id = ?", [a.pk]).scalar() == \
        Event.objects.filter(customer_id=a.pk).count()
    assert copy.query("SELECT count(*) FROM events WHERE customer_id = ?", [b.pk]).scalar() == 0
    assert copy.query("SELECT region, merged_into_id FROM customers WHERE id = ?", [b.pk]).rows == [("杭州市", a.pk)]
    assert copy.query("SELECT count(*) FROM customer_tags WHERE customer_id IN (?, ?)", [a.pk, b.pk]).scalar() == 0
    assert set(result.touched.tolist()) == {a.pk, b.pk}
    assert result.inserted["events"] >= 2  # a2 and the merge's customer_merged event


def test_refresh_reads_only_what_changed(org: Org, copy: ColumnarCopy) -> None:
    c = CustomerFactory.create(enterprise=org.enterprise)
    copy.build()
    assert copy.refresh().inserted == {}
    _event(c, "x1")
    assert copy.refresh().inserted == {"events": 1}


def test_every_answer_says_how_fresh_it_is(org: Org, copy: ColumnarCopy) -> None:
    copy.build()
    before = timezone.now()
    copy.refresh()
    answer = copy.query("SELECT 1")
    assert answer.as_of is not None and before <= answer.as_of <= timezone.now()
    assert answer.lag_s is not None and answer.lag_s < 60


def test_a_lost_capture_trigger_is_put_back_and_its_table_reloaded(org: Org, copy: ColumnarCopy) -> None:
    c = CustomerFactory.create(enterprise=org.enterprise, region="北京市")
    copy.build()
    spec = table("customers")
    capture.uninstall([spec])  # as a SQLite table rebuild by a migration would
    Customer.objects.filter(pk=c.pk).update(region="天津市")  # not captured
    copy._last_capture_check = 0.0
    result = copy.refresh()
    assert result.reloaded == ["customers"]
    assert copy.query("SELECT region FROM customers WHERE id = ?", [c.pk]).scalar() == "天津市"
    assert capture.missing([spec]) == []


def test_compaction_restores_the_event_order(org: Org, copy: ColumnarCopy) -> None:
    c = CustomerFactory.create(enterprise=org.enterprise)
    copy.build()
    start = timezone.now() - timedelta(days=1)
    for i in range(30):
        _event(c, f"e{i}", name="check_in" if i % 2 else "page_viewed", at=start + timedelta(minutes=i))
    copy.refresh()
    copy.compact("events")
    rows = copy.query("SELECT name, occurred_at FROM events").rows  # physical order (no ORDER BY)
    assert rows == sorted(rows, key=lambda r: (str(r[0]), r[1])) or rows == sorted(rows)
    assert copy.needs_compaction() == []


def test_a_store_scope_counts_only_its_customers(org: Org, copy: ColumnarCopy) -> None:
    from siyu.analytics.engine.scope import customer_scope_sql
    from siyu.customers import queries
    from siyu.org.scope import Scope, scope_for_staff
    from tests.customers.scoping_data import build_world

    build_world(org)
    RelationshipFactory.create(customer=CustomerFactory.create(enterprise=org.enterprise), staff=org.n2_staff)
    copy.build()
    for staff in (org.hq, org.north_manager, org.n1_manager, org.n1_staff, org.s1_staff):
        scope = scope_for_staff(staff) if staff != org.hq else Scope.hq(org.enterprise.pk)
        where, params = customer_scope_sql(scope)
        got = set(copy.query(f"SELECT c.id FROM customers c WHERE {where}", params).column())  # noqa: S608
        assert got == set(queries.visible_customer_ids(scope)), staff.name


def test_a_row_inserted_and_changed_above_a_gap_is_copied_once(org: Org, copy: ColumnarCopy) -> None:
    """On PostgreSQL ids skipped below the watermark are looked up again later; an event that arrived through the
    change log (inserted, then moved by a merge, before the refresh) is not such a gap and must not be copied twice."""
    from django.db import transaction

    survivor = CustomerFactory.create(enterprise=org.enterprise)
    absorbed = CustomerFactory.create(enterprise=org.enterprise)
    copy.build()

    class _Burn(Exception):
        pass

    try:
        with transaction.atomic():  # takes ids from the sequence and gives none back: a gap
            _event(absorbed, "burnt-1")
            _event(absorbed, "burnt-2")
            raise _Burn
    except _Burn:
        pass
    _event(absorbed, "moved")
    services.merge_customers(survivor=survivor, absorbed=absorbed, reason="test")  # updates the event just inserted
    copy.refresh()
    copy.refresh()
    copy.refresh()
    ids = copy.query("SELECT id FROM events WHERE customer_id = ? ORDER BY id", [survivor.pk]).column()
    assert ids == list(Event.objects.filter(customer_id=survivor.pk).order_by("id").values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_bulk_build_reads_in_id_ranges_under_a_memory_limit(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner build (committed rows, a real database): ranges of 7 ids on PostgreSQL, one streamed scan on a
    SQLite file; every row arrives once, the event log ends in (name, occurred_at) order, and the copy's memory
    limit is back to what it was after the build."""
    from siyu.analytics.engine import copy as copy_module

    customers = [CustomerFactory.create(enterprise=org.enterprise) for _ in range(3)]
    start = timezone.now() - timedelta(days=3)
    for i in range(40):
        _event(customers[i % 3], f"bulk{i}", name=("page_viewed", "customer_created")[i % 2],
               at=start + timedelta(minutes=(i * 37) % 41))
    monkeypatch.setattr(copy_module, "BULK_ID_RANGE", 7)
    built = ColumnarCopy(None, threads=1, capture_changes=False)
    try:
        if not built._can_bulk():
            pytest.skip("the scanner reads only a PostgreSQL database or a SQLite file")
        limit = built.con.execute("SELECT current_setting('memory_limit')").fetchone()
        result = built.build(bulk=True)
        assert result.inserted["events"] == Event.objects.count() == 40
        assert result.inserted["customers"] == Customer.objects.count()
        ids = [r[0] for r in built.query("SELECT id FROM events ORDER BY id").rows]
        assert ids == sorted(Event.objects.values_list("id", flat=True))
        rows = built.query("SELECT name, occurred_at FROM events").rows  # physical order
        assert rows == sorted(rows, key=lambda r: (str(r[0]), r[1])) or rows == sorted(rows)
        assert built.con.execute("SELECT current_setting('memory_limit')").fetchone() == limit
    finally:
        built.close()
