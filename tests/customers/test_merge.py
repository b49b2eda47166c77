"""Merging two customers keeps everything they had; the absorbed one disappears from every list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import translation

from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers import queries, services
from siyu.customers.models import Customer, CustomerMerge, CustomerTag, Event, Identity, Relationship
from siyu.customers.services import EventInput, IdentityInput
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 2, 0, tzinfo=UTC)


@pytest.fixture
def pair(org: Org) -> tuple[Customer, Customer]:
    ent = org.enterprise.pk
    survivor = services.create_customer(
        enterprise_id=ent,
        name="Alice",
        phone="13800000001",
        identities=[IdentityInput(kind="unionid", value="U-ALICE")],
        created_at=at(3, 1),
    )
    absorbed = services.create_customer(
        enterprise_id=ent,
        name="Alicia",
        phone="13900000002",
        gender="female",
        region="Beijing",
        identities=[IdentityInput(kind="oa_openid", value="O-ALICIA")],
        created_at=at(1, 5),
    )
    return survivor, absorbed


def test_merge_keeps_identities_tags_relationships_and_events(org: Org, pair: tuple[Customer, Customer]) -> None:
    survivor, absorbed = pair
    ent = org.enterprise.pk
    group = TagGroupFactory.create(enterprise=org.enterprise)
    both, only_absorbed, only_survivor = (TagFactory.create(group=group, name=n) for n in ("vip", "mom", "runner"))
    services.tag_customers(enterprise_id=ent, customer_ids=[survivor.pk], tag_ids=[both.pk, only_survivor.pk])
    services.tag_customers(enterprise_id=ent, customer_ids=[absorbed.pk], tag_ids=[both.pk, only_absorbed.pk])

    # n1 staff follows both: the absorbed customer's add is earlier, so its date and source state win.
    services.add_relationship(customer=survivor, staff=org.n1_staff, added_at=at(3, 5), state="qr-late")
    services.add_relationship(customer=absorbed, staff=org.n1_staff, added_at=at(1, 10), state="qr-early")
    # n2 staff follows both: here the survivor's add is earlier and stays.
    services.add_relationship(customer=survivor, staff=org.n2_staff, added_at=at(1, 1), state="n2-first")
    services.add_relationship(customer=absorbed, staff=org.n2_staff, added_at=at(2, 1), state="n2-second")
    # s1 staff follows only the absorbed customer: the relationship moves.
    services.add_relationship(customer=absorbed, staff=org.s1_staff, added_at=at(2, 2), state="s1")
    services.ingest_events(
        enterprise_id=ent,
        batch=[
            EventInput(
                name="page_viewed",
                occurred_at=at(2, d),
                idempotency_key=f"pv-{d}",
                customer_id=absorbed.pk,
                properties={"path": f"/p/{d}"},
            )
            for d in (3, 4)
        ],
    )
    absorbed_events = set(Event.objects.filter(customer=absorbed).values_list("id", flat=True))
    # customer_created + tag_added x2 (vip, mom) + page_viewed x2
    assert len(absorbed_events) == 5

    record = services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual", actor=org.hq.user)

    assert set(Identity.objects.filter(customer=survivor).values_list("kind", "value")) == {
        ("unionid", "U-ALICE"),
        ("phone", "13800000001"),
        ("oa_openid", "O-ALICIA"),
        ("phone", "13900000002"),
    }
    assert sorted(CustomerTag.objects.filter(customer=survivor).values_list("tag__name", flat=True)) == [
        "mom",
        "runner",
        "vip",
    ]
    rels = {r.staff_id: r for r in Relationship.objects.filter(customer=survivor)}
    assert set(rels) == {org.n1_staff.pk, org.n2_staff.pk, org.s1_staff.pk}
    assert (rels[org.n1_staff.pk].added_at, rels[org.n1_staff.pk].state) == (at(1, 10), "qr-early")
    assert (rels[org.n2_staff.pk].added_at, rels[org.n2_staff.pk].state) == (at(1, 1), "n2-first")
    assert rels[org.s1_staff.pk].state == "s1"
    assert not Relationship.objects.filter(customer=absorbed).exists()
    assert not CustomerTag.objects.filter(customer=absorbed).exists()

    survivor_events = set(Event.objects.filter(customer=survivor).values_list("id", flat=True))
    assert absorbed_events <= survivor_events
    merged_event = Event.objects.get(customer=survivor, name="customer_merged")
    assert merged_event.properties == {"absorbed_id": absorbed.pk, "reason": "manual"}

    assert record == CustomerMerge.objects.get(survivor=survivor, absorbed_id=absorbed.pk)
    assert record.absorbed_snapshot["name"] == "Alicia"
    assert record.absorbed_snapshot["phone"] == "13900000002"
    assert ["oa_openid", "O-ALICIA"] in [list(pair) for pair in record.absorbed_snapshot["identities"]]
    assert {k: record.moved[k] for k in ("identities", "tags", "relationships", "events")} == {
        "identities": 2,  # oa_openid + phone
        "tags": 1,  # "mom"; the shared "vip" is kept once
        "relationships": 3,
        "events": 5,
    }
    assert record.actor == org.hq.user
    entry = AuditEntry.objects.get(action="customer.merge", target_id=str(survivor.pk))
    assert entry.actor == org.hq.user and entry.actor_label == "hq"


def test_merge_fills_blank_profile_fields_and_keeps_the_earliest_creation(
    org: Org, pair: tuple[Customer, Customer]
) -> None:
    survivor, absorbed = pair
    services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")
    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    assert survivor.name == "Alice"  # not blank: kept
    assert survivor.phone == "13800000001"
    assert survivor.gender == "female"  # was unknown: taken from the absorbed customer
    assert survivor.region == "Beijing"
    assert survivor.created_at == at(1, 5)
    assert absorbed.merged_into_id == survivor.pk
    assert absorbed.phone == ""


def test_absorbed_customer_is_hidden_and_says_merged(org: Org, pair: tuple[Customer, Customer]) -> None:
    survivor, absorbed = pair
    services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")
    hq = scope_for_staff(org.hq)
    assert list(queries.customers(hq).values_list("id", flat=True)) == [survivor.pk]
    for language, says in (("en", f"merged into {survivor.pk}"), ("zh-hans", f"已合并到 {survivor.pk}")):
        with translation.override(language), pytest.raises(NotFound) as err:
            queries.get_customer(hq, absorbed.pk)
        assert err.value.code == "merged" and says in err.value.message
    assert {c.pk for c in queries.search(hq, queries.CustomerFilter(q="Alicia")).items} == set()
    # the absorbed customer's phone now finds the survivor
    assert {c.pk for c in queries.search(hq, queries.CustomerFilter(q="13900000002")).items} == {survivor.pk}


def test_merge_refuses_self_and_repeat(org: Org, pair: tuple[Customer, Customer]) -> None:
    survivor, absorbed = pair
    with pytest.raises(ValidationFailed):
        services.merge_customers(survivor=survivor, absorbed=survivor, reason="manual")
    services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")
    with pytest.raises(Conflict):
        services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")
    assert CustomerMerge.objects.count() == 1


def test_resolve_customer_merges_two_customers_sharing_a_person(org: Org) -> None:
    ent = org.enterprise.pk
    by_unionid = services.create_customer(enterprise_id=ent, identities=[IdentityInput(kind="unionid", value="U1")])
    by_phone = services.create_customer(enterprise_id=ent, phone="13700000003")

    found = services.resolve_customer(
        enterprise_id=ent,
        identities=[
            IdentityInput(kind="unionid", value="U1"),
            IdentityInput(kind="phone", value="+86 137-0000-0003"),
            IdentityInput(kind="mp_openid", value="MP-1"),
        ],
    )

    assert found.pk == by_unionid.pk  # the older customer survives
    by_phone.refresh_from_db()
    assert by_phone.merged_into_id == by_unionid.pk
    assert CustomerMerge.objects.get(absorbed_id=by_phone.pk).reason == "identity"
    assert set(Identity.objects.filter(customer=found).values_list("kind", "value")) == {
        ("unionid", "U1"),
        ("phone", "13700000003"),
        ("mp_openid", "MP-1"),
    }


def test_resolve_customer_finds_or_creates_without_merging(org: Org) -> None:
    ent = org.enterprise.pk
    known = services.create_customer(enterprise_id=ent, identities=[IdentityInput(kind="unionid", value="U2")])
    assert services.resolve_customer(enterprise_id=ent, identities=[IdentityInput(kind="unionid", value="U2")]) == known
    fresh = services.resolve_customer(
        enterprise_id=ent, identities=[IdentityInput(kind="oa_openid", value="O-NEW")], defaults={"name": "New"}
    )
    assert fresh.pk != known.pk and fresh.name == "New"
    assert Customer.objects.filter(enterprise_id=ent).count() == 2
    assert not CustomerMerge.objects.exists()
