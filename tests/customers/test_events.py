"""The event log takes whole batches: all or nothing, idempotent by key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.core.errors import NotFound, ValidationFailed
from siyu.customers import queries, services
from siyu.customers.models import Customer, Event
from siyu.customers.services import EventInput, IdentityInput
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory


@pytest.fixture
def customer(org: Org) -> Customer:
    return CustomerFactory.create(enterprise=org.enterprise)


def event(customer: Customer, key: str, name: str = "page_viewed", **kw: Any) -> EventInput:
    props = kw.pop("properties", {"path": f"/{key}"} if name == "page_viewed" else {})
    return EventInput(
        name=name,
        occurred_at=kw.pop("occurred_at", timezone.now() - timedelta(hours=1)),
        idempotency_key=key,
        customer_id=kw.pop("customer_id", customer.pk),
        properties=props,
        **kw,
    )


def test_same_batch_twice_writes_once(org: Org, customer: Customer) -> None:
    batch = [event(customer, f"k{i}") for i in range(3)]
    first = services.ingest_events(enterprise_id=org.enterprise.pk, batch=batch)
    rows = Event.objects.count()
    second = services.ingest_events(enterprise_id=org.enterprise.pk, batch=batch)
    assert (first.created, first.duplicates) == (3, 0)
    assert (second.created, second.duplicates) == (0, 3)
    assert Event.objects.count() == rows
    assert Event.objects.filter(idempotency_key__in=["k0", "k1", "k2"]).count() == 3


def test_duplicate_keys_inside_one_batch_count_once(org: Org, customer: Customer) -> None:
    batch = [event(customer, "a"), event(customer, "b"), event(customer, "a")]
    result = services.ingest_events(enterprise_id=org.enterprise.pk, batch=batch)
    assert (result.created, result.duplicates) == (2, 1)
    assert Event.objects.filter(idempotency_key="a").count() == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"properties": {"title": "no path"}}, "events[2].properties.path"),
        ({"properties": {"path": "/x", "colour": "red"}}, "events[2].properties.colour"),
        ({"name": "no_such_event"}, "events[2].name"),
        ({"channel": "telepathy"}, "events[2].channel"),
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "events[2].occurred_at"),
        ({"customer_id": 999_999}, "events[2].customer_id"),
        ({"store_id": 999_999}, "events[2].store_id"),
        ({"identity": IdentityInput(kind="unionid", value="nobody"), "customer_id": None}, "events[2].identity"),
    ],
)
def test_one_bad_item_writes_nothing(org: Org, customer: Customer, bad: dict[str, Any], field: str) -> None:
    before = Event.objects.count()
    name = bad.pop("name", "page_viewed")
    batch = [event(customer, "ok0"), event(customer, "ok1"), event(customer, "bad", name=name, **bad)]
    with pytest.raises((ValidationFailed, NotFound)) as err:
        services.ingest_events(enterprise_id=org.enterprise.pk, batch=batch)
    assert (err.value.field, err.value.index) == (field, 2)
    assert Event.objects.count() == before


def test_identity_resolves_the_customer(org: Org) -> None:
    person = services.create_customer(
        enterprise_id=org.enterprise.pk, identities=[IdentityInput(kind="oa_openid", value="O-9")]
    )
    item = EventInput(
        name="oa_followed",
        occurred_at=timezone.now(),
        idempotency_key="follow-9",
        identity=IdentityInput(kind="oa_openid", value="O-9"),
        properties={"scene": "qr"},
    )
    services.ingest_events(enterprise_id=org.enterprise.pk, batch=[item])
    row = Event.objects.get(idempotency_key="follow-9")
    assert row.customer_id == person.pk
    assert row.properties == {"scene": "qr"}


def test_events_for_a_merged_away_customer_land_on_the_survivor(org: Org) -> None:
    ent = org.enterprise.pk
    first, second, third = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(3))
    services.merge_customers(survivor=second, absorbed=first, reason="manual")
    services.merge_customers(survivor=third, absorbed=second, reason="manual")
    services.ingest_events(enterprise_id=ent, batch=[event(first, "late", customer_id=first.pk)])
    assert Event.objects.get(idempotency_key="late").customer_id == third.pk


def test_a_scoped_caller_cannot_write_events_for_customers_it_cannot_see(org: Org) -> None:
    mine = CustomerFactory.create(enterprise=org.enterprise)
    theirs = CustomerFactory.create(enterprise=org.enterprise)
    RelationshipFactory.create(customer=mine, staff=org.s1_staff)
    RelationshipFactory.create(customer=theirs, staff=org.n1_staff)
    visible = queries.visible_customer_ids(scope_for_staff(org.s1_staff))
    with pytest.raises(NotFound) as err:
        services.ingest_events(
            enterprise_id=org.enterprise.pk,
            batch=[event(mine, "m"), event(theirs, "t")],
            visible_customers=visible,
        )
    assert (err.value.field, err.value.index) == ("events[1].customer_id", 1)
    assert not Event.objects.filter(idempotency_key__in=["m", "t"]).exists()
    result = services.ingest_events(
        enterprise_id=org.enterprise.pk, batch=[event(mine, "m")], visible_customers=visible
    )
    assert result.created == 1


def test_the_trusted_bulk_path_writes_new_keys_once_and_checks_schemas(org: Org, customer: Customer) -> None:
    ent = org.enterprise.pk
    other = CustomerFactory.create(enterprise=org.enterprise)
    batch = [event(customer, "a"), event(other, "b", store_id=org.store_n1.pk, staff_id=org.n1_staff.pk),
             event(customer, "a")]
    assert services.append_events(enterprise_id=ent, batch=batch) == 2
    assert services.append_events(enterprise_id=ent, batch=[*batch, event(other, "c")]) == 1
    assert sorted(Event.objects.filter(name="page_viewed").values_list("idempotency_key", "customer_id")) == [
        ("a", customer.pk), ("b", other.pk), ("c", other.pk)
    ]
    with pytest.raises(ValidationFailed) as bad:
        services.append_events(enterprise_id=ent, batch=[event(customer, "d"), event(customer, "e", properties={})])
    assert (bad.value.field or "").startswith("events[1]")
    assert not Event.objects.filter(idempotency_key__in=["d", "e"]).exists()


def test_the_trusted_bulk_path_hands_merged_customers_and_foreign_ids_to_the_batch_path(org: Org) -> None:
    ent = org.enterprise.pk
    absorbed, survivor = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(2))
    services.merge_customers(survivor=survivor, absorbed=absorbed, reason="manual")
    assert services.append_events(enterprise_id=ent, batch=[event(absorbed, "late")]) == 1
    assert Event.objects.get(idempotency_key="late").customer_id == survivor.pk
    with pytest.raises(NotFound):
        services.append_events(enterprise_id=ent, batch=[event(survivor, "x", store_id=10**9)])
