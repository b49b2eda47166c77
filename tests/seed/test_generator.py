"""The demo generator writes exactly what was asked, deterministic from the seed, and every row is plausible.

Expected values come from the rules of the domain (mobile number format, event schemas, who may follow whom,
calendar bounds), checked through the ORM on whichever database the suite runs on (SQLite executemany or
PostgreSQL COPY).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import translation

from siyu.core.seed.hooks import register_seed_step, unregister_seed_step
from siyu.core.seed.progress import Progress
from siyu.core.timeutil import SHANGHAI
from siyu.customers.events import schema_for
from siyu.customers.models import Customer, CustomerTag, Event, Identity, Relationship, TagGroup
from siyu.org.models import Enterprise, Region, Role, Staff, Store
from siyu.seed.runner import SeedResult, seed_enterprise
from siyu.seed.writer import PostgresWriter, SqliteWriter, writer_for

UNTIL = date(2026, 11, 1)
MOBILE = re.compile(r"^1[3-9]\d{9}$")


@pytest.fixture
def seeded(db: None) -> SeedResult:
    return seed_enterprise(customers=300, events=3000, seed=7, code="seed-a", until=UNTIL)


class _Rollback(Exception):
    pass


def _names_and_phones(seed: int) -> list[tuple[str, str]]:
    """Seed inside a transaction that is rolled back, so two runs start from the same database."""
    rows: list[tuple[str, str]] = []
    try:
        with transaction.atomic():
            result = seed_enterprise(customers=120, events=600, seed=seed, code="det", until=UNTIL)
            rows = list(
                Customer.objects.filter(enterprise_id=result.enterprise_id).order_by("id").values_list("name", "phone")
            )
            raise _Rollback
    except _Rollback:
        pass
    return rows


def test_writes_exactly_the_requested_counts(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    assert Customer.objects.filter(enterprise_id=ent).count() == 300
    assert Event.objects.filter(enterprise_id=ent).count() == 3000
    assert seeded.customers == 300 and seeded.events == 3000
    assert Identity.objects.filter(customer__enterprise_id=ent).count() == seeded.identities
    assert Relationship.objects.filter(customer__enterprise_id=ent).count() == seeded.relationships
    assert CustomerTag.objects.filter(customer__enterprise_id=ent).count() == seeded.customer_tags


def test_builds_the_organisation(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    assert sorted(Region.objects.filter(enterprise_id=ent).values_list("name", flat=True)) == ["华东", "华北", "华南"]
    stores = Store.objects.filter(enterprise_id=ent)
    assert 18 <= stores.count() <= 22
    assert {"上海", "北京", "广州", "深圳", "杭州"} <= set(stores.values_list("city", flat=True))
    staff = Staff.objects.filter(enterprise_id=ent)
    assert 70 <= staff.count() <= 90
    roles = Counter(staff.values_list("role", flat=True))
    assert roles[Role.HQ_ADMIN] == 1 and roles[Role.REGION_MANAGER] == 3
    assert roles[Role.STORE_MANAGER] == stores.count()
    for store in stores:
        team = staff.filter(store=store, role=Role.STORE_STAFF).count()
        assert 2 <= team <= 4, store.code
    assert all(staff.values_list("wecom_userid", flat=True))
    groups = {g.name: g for g in TagGroup.objects.filter(enterprise_id=ent)}
    assert groups["客户等级"].exclusive and groups["生命周期"].exclusive and not groups["兴趣偏好"].exclusive


def test_hq_admin_is_the_admin_user_when_it_exists(db: None) -> None:
    admin = User.objects.create_user("admin", password="x-long-password")
    result = seed_enterprise(customers=20, events=100, seed=1, code="with-admin", until=UNTIL)
    assert Staff.objects.get(enterprise_id=result.enterprise_id, role=Role.HQ_ADMIN).user == admin


def test_same_seed_same_people_other_seed_other_people(db: None) -> None:
    first, again, other = _names_and_phones(11), _names_and_phones(11), _names_and_phones(12)
    assert len(first) == 120
    assert first == again
    differing = sum(1 for a, b in zip(first, other, strict=True) if a != b)
    assert differing > 100


def test_phones_are_valid_mainland_mobiles_and_unique(seeded: SeedResult) -> None:
    stored = Customer.objects.filter(enterprise_id=seeded.enterprise_id).values_list("phone", flat=True)
    phones = [p for p in stored if p]
    assert len(phones) > 240  # most customers left a phone
    assert all(MOBILE.match(p) for p in phones), [p for p in phones if not MOBILE.match(p)][:5]
    assert len(set(phones)) == len(phones)
    identities = set(Identity.objects.filter(kind="phone", customer__enterprise_id=seeded.enterprise_id)
                     .values_list("value", flat=True))
    assert identities == set(phones)


def test_names_are_chinese_names(seeded: SeedResult) -> None:
    names = list(Customer.objects.filter(enterprise_id=seeded.enterprise_id).values_list("name", flat=True))
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", n) for n in names), names[:5]
    assert len(set(names)) > 200


def test_every_event_matches_its_registered_schema(seeded: SeedResult) -> None:
    seen: Counter[str] = Counter()
    for name, props in Event.objects.filter(enterprise_id=seeded.enterprise_id).values_list("name", "properties"):
        schema = schema_for(name)
        assert schema is not None, name
        parsed = schema.model_validate(props)
        assert parsed.model_dump() == props  # stored in the normalised form the service writes
        seen[name] += 1
    for expected in ("customer_created", "wecom_contact_added", "oa_followed", "page_viewed", "product_viewed",
                     "message_received", "message_sent", "check_in", "group_joined"):
        assert seen[expected] > 0, expected
    assert seen["customer_created"] == 300


def test_idempotency_keys_are_unique_and_namespaced(seeded: SeedResult) -> None:
    keys = list(Event.objects.filter(enterprise_id=seeded.enterprise_id).values_list("idempotency_key", flat=True))
    assert len(set(keys)) == 3000
    # Unique per enterprise by the constraint, so the key carries no enterprise code: "seed:" and ten digits.
    assert all(k.startswith("seed:") and len(k) == 15 and k[5:].isdigit() for k in keys)


def test_followers_belong_to_the_customers_home_store(seeded: SeedResult) -> None:
    rels = Relationship.objects.filter(customer__enterprise_id=seeded.enterprise_id).values_list(
        "staff__store_id", "customer__home_store_id", "state", "status", "added_at", "customer__created_at",
        "status_changed_at",
    )
    assert len(rels) > 150
    stores = dict(Store.objects.filter(enterprise_id=seeded.enterprise_id).values_list("id", "code"))
    for staff_store, home_store, state, status, added, created, changed in rels:
        assert staff_store == home_store
        assert added >= created
        assert state in ("", f"store_qr_{stores[home_store]}", "poster_1111", "package_card", "live_room",
                         "sms_invite")
        assert (status == "deleted_by_customer") == (changed is not None)
        if changed is not None:
            assert changed > added
    statuses = Counter(r[3] for r in rels)
    assert statuses["active"] > statuses["deleted_by_customer"] > 0


def test_sources_are_mostly_wecom_with_matching_identities(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    sources = Counter(Customer.objects.filter(enterprise_id=ent).values_list("created_source", flat=True))
    assert sources.most_common(1)[0][0] == "wecom"
    assert {"official_account", "miniprogram", "store"} <= set(sources)
    wecom = Customer.objects.filter(enterprise_id=ent, created_source="wecom")
    for customer in wecom.prefetch_related("identities", "relationships")[:50]:
        kinds = {i.kind: i for i in customer.identities.all()}
        assert kinds["wecom_external_userid"].value.startswith("wm")
        assert kinds["wecom_external_userid"].account == "ww5iyudemo0000001"
        assert customer.relationships.filter(added_at=customer.created_at).exists()
    followers = Identity.objects.filter(customer__enterprise_id=ent, kind="oa_openid")
    assert followers.exists() and all(v.startswith("o") for v in followers.values_list("value", flat=True))


def test_exclusive_tag_groups_hold_one_tag_per_customer(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    for group in TagGroup.objects.filter(enterprise_id=ent, exclusive=True):
        per_customer = Counter(
            CustomerTag.objects.filter(tag__group=group).values_list("customer_id", flat=True)
        )
        assert len(per_customer) == 300 and max(per_customer.values()) == 1, group.name


def test_events_span_a_year_with_weekly_rhythm(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    end = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=SHANGHAI).astimezone(UTC)
    times = list(Event.objects.filter(enterprise_id=ent).values_list("occurred_at", flat=True))
    assert all(t.tzinfo is not None for t in times)
    assert min(times) >= end - timedelta(days=366) and max(times) < end
    assert max(times) - min(times) > timedelta(days=300)
    months = {t.astimezone(SHANGHAI).strftime("%Y-%m") for t in times}
    assert len(months) >= 12
    created = dict(Customer.objects.filter(enterprise_id=ent).values_list("id", "created_at"))
    for customer_id, when in Event.objects.filter(enterprise_id=ent).values_list("customer_id", "occurred_at"):
        assert when >= created[customer_id]


def test_rows_point_at_existing_rows(seeded: SeedResult) -> None:
    ent = seeded.enterprise_id
    staff = set(Staff.objects.filter(enterprise_id=ent).values_list("id", flat=True))
    stores = set(Store.objects.filter(enterprise_id=ent).values_list("id", flat=True))
    customers = set(Customer.objects.filter(enterprise_id=ent).values_list("id", flat=True))
    for customer_id, staff_id, store_id in Event.objects.filter(enterprise_id=ent).values_list(
        "customer_id", "staff_id", "store_id"
    ):
        assert customer_id in customers
        assert staff_id is None or staff_id in staff
        assert store_id is None or store_id in stores
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_key_check")
            assert cursor.fetchall() == []


def test_the_bulk_path_is_the_one_for_this_database(db: None) -> None:
    writer = writer_for(connection)
    expected = {"sqlite": SqliteWriter, "postgresql": PostgresWriter}[connection.vendor]
    assert isinstance(writer, expected)


def test_a_second_enterprise_gets_other_phones_and_keys(seeded: SeedResult) -> None:
    other = seed_enterprise(customers=300, events=500, seed=7, code="seed-b", until=UNTIL)
    a = set(Customer.objects.filter(enterprise_id=seeded.enterprise_id).values_list("phone", flat=True)) - {""}
    b = set(Customer.objects.filter(enterprise_id=other.enterprise_id).values_list("phone", flat=True)) - {""}
    assert a and b and not a & b
    assert Event.objects.filter(enterprise_id=other.enterprise_id).count() == 500


def test_seed_steps_registered_by_other_apps_run_after_the_load(db: None) -> None:
    calls: list[tuple[int, float, int]] = []

    def step(enterprise_id: int, rng: np.random.Generator, progress: Progress) -> None:
        calls.append((enterprise_id, float(rng.random()), Customer.objects.filter(enterprise_id=enterprise_id).count()))

    register_seed_step("tests.probe", step)
    try:
        first = seed_enterprise(customers=10, events=50, seed=3, code="hooked", until=UNTIL)
        second = seed_enterprise(customers=10, events=50, seed=3, code="hooked-2", until=UNTIL)
    finally:
        unregister_seed_step("tests.probe")
    assert "tests.probe" in first.steps
    assert calls[0][0] == first.enterprise_id and calls[1][0] == second.enterprise_id
    assert calls[0][2] == 10  # customers exist when the step runs
    assert calls[0][1] == calls[1][1]  # the step's generator depends on the seed and its name only


def test_fewer_events_than_lifecycle_events_still_gives_the_exact_count(db: None) -> None:
    result = seed_enterprise(customers=200, events=50, seed=5, code="few", until=UNTIL)
    assert Event.objects.filter(enterprise_id=result.enterprise_id).count() == 50


def test_command_prints_progress_and_refuses_an_existing_code(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed", "--customers", "40", "--events", "300", "--enterprise", "cmd", "--until", "2026-11-01")
    out = capsys.readouterr().out
    assert "rows/s" in out and "40 customers" in out
    assert Enterprise.objects.filter(code="cmd").exists()
    with translation.override("zh-hans"), pytest.raises(CommandError, match="已存在"):
        call_command("seed", "--customers", "40", "--enterprise", "cmd")


def test_stored_json_is_what_the_orm_reads(seeded: SeedResult) -> None:
    event = Event.objects.filter(enterprise_id=seeded.enterprise_id, name="page_viewed").first()
    assert event is not None
    assert isinstance(event.properties, dict) and event.properties["path"].startswith("/pages/")
    assert json.loads(json.dumps(event.properties)) == event.properties
    customer = Customer.objects.filter(enterprise_id=seeded.enterprise_id, birthday__isnull=False).first()
    assert customer is not None and customer.birthday is not None
    assert 16 <= (UNTIL - customer.birthday).days // 365 <= 66
