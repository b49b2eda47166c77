"""Enterprises are isolated in the customer model: an identity (phone, unionid, openid) is unique per enterprise, so
one person may be a customer of two brands; a lookup in one brand never finds, joins or names the other's customer;
an event's idempotency key is per enterprise; audit rows belong to an enterprise and are read per enterprise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core import audit
from siyu.core import queries as core_queries
from siyu.core.errors import Conflict
from siyu.core.models import AuditEntry
from siyu.customers import services
from siyu.customers.models import Customer, Event, Identity
from siyu.customers.services import EventInput, IdentityInput
from siyu.org.models import Enterprise
from tests.conftest import Org
from tests.factories import EnterpriseFactory

PHONE = "13912345678"
UNIONID = "oUshared-person-0001"


@pytest.fixture
def other(db: None) -> Enterprise:
    return EnterpriseFactory.create(code="other-brand", name="Other brand")


def _person(enterprise_id: int, name: str) -> Customer:
    return services.create_customer(
        enterprise_id=enterprise_id, name=name, phone=PHONE, identities=[IdentityInput(kind="unionid", value=UNIONID)]
    )


def test_one_person_is_a_customer_of_two_brands(org: Org, other: Enterprise) -> None:
    mine = _person(org.enterprise.pk, "Mine")
    theirs = _person(other.pk, "Theirs")
    assert mine.pk != theirs.pk
    assert services.find_by_identity(enterprise_id=org.enterprise.pk, kind="phone", value=PHONE) == mine
    assert services.find_by_identity(enterprise_id=other.pk, kind="phone", value=PHONE) == theirs
    assert services.find_by_identity(enterprise_id=other.pk, kind="unionid", value=UNIONID) == theirs
    owners = dict(Identity.objects.filter(kind="phone", value=PHONE).values_list("enterprise_id", "customer_id"))
    assert owners == {org.enterprise.pk: mine.pk, other.pk: theirs.pk}


def test_resolving_in_one_brand_never_joins_the_others_customer(org: Org, other: Enterprise) -> None:
    mine = _person(org.enterprise.pk, "Mine")
    found = services.resolve_customer(enterprise_id=other.pk, identities=[IdentityInput(kind="unionid", value=UNIONID)])
    assert found.pk != mine.pk and found.enterprise_id == other.pk
    assert list(Identity.objects.filter(customer=mine).values_list("kind", flat=True).order_by("kind")) == [
        "phone", "unionid"]
    again = services.resolve_customer(enterprise_id=other.pk, identities=[IdentityInput(kind="unionid", value=UNIONID)])
    assert again.pk == found.pk


def test_a_refusal_inside_one_brand_names_its_own_customer(org: Org, other: Enterprise) -> None:
    _person(other.pk, "Theirs")
    mine = _person(org.enterprise.pk, "Mine")
    second = services.create_customer(enterprise_id=org.enterprise.pk, name="Second")
    with pytest.raises(Conflict) as refused:
        services.attach_identity(customer=second, identity=IdentityInput(kind="phone", value=PHONE))
    assert refused.value.code == "identity_taken"
    assert f"customer {mine.pk}" in refused.value.message


def test_event_keys_are_per_enterprise(org: Org, other: Enterprise) -> None:
    mine, theirs = _person(org.enterprise.pk, "Mine"), _person(other.pk, "Theirs")
    at = timezone.now() - timedelta(minutes=5)

    def batch(customer: Customer) -> list[EventInput]:
        return [EventInput(name="page_viewed", occurred_at=at, idempotency_key="k-1", customer_id=customer.pk,
                           properties={"path": "/"})]

    assert services.ingest_events(enterprise_id=org.enterprise.pk, batch=batch(mine)).created == 1
    assert services.ingest_events(enterprise_id=other.pk, batch=batch(theirs)).created == 1
    assert services.ingest_events(enterprise_id=other.pk, batch=batch(theirs)).duplicates == 1
    # the one-statement internal path and the many-events path, with a key the other brand already used
    assert services.record_event(customer=theirs, name="page_viewed", idempotency_key="k-2", properties={"path": "/"})
    assert services.record_event(customer=mine, name="page_viewed", idempotency_key="k-2", properties={"path": "/"})
    assert not services.record_event(customer=mine, name="page_viewed", idempotency_key="k-2",
                                     properties={"path": "/"})
    later = [EventInput(name="page_viewed", occurred_at=at, idempotency_key="k-3", customer_id=c.pk,
                        properties={"path": "/"}) for c in (mine,)]
    services.append_events(enterprise_id=other.pk, batch=[
        EventInput(name="page_viewed", occurred_at=at, idempotency_key="k-3", customer_id=theirs.pk,
                   properties={"path": "/"})])
    assert services.append_events(enterprise_id=org.enterprise.pk, batch=later) == 1
    keyed = Event.objects.filter(idempotency_key__startswith="k-")
    keys = sorted(keyed.values_list("enterprise_id", "idempotency_key"))
    assert keys == sorted([(e, k) for e in (org.enterprise.pk, other.pk) for k in ("k-1", "k-2", "k-3")])


def test_audit_rows_belong_to_an_enterprise_and_are_read_per_enterprise(org: Org, other: Enterprise) -> None:
    with pytest.raises(TypeError):
        audit.record(actor=None, action="x", target_type="y", target_id=1)  # type: ignore[call-arg]
    _person(org.enterprise.pk, "Mine")
    _person(other.pk, "Theirs")
    assert set(AuditEntry.objects.values_list("enterprise_id", flat=True)) == {org.enterprise.pk, other.pk}
    mine = core_queries.audit_entries(enterprise_id=org.enterprise.pk)
    theirs = core_queries.audit_entries(enterprise_id=other.pk)
    assert mine.total == theirs.total == 1
    assert {e.enterprise_id for e in mine.items} == {org.enterprise.pk}
    assert {e.enterprise_id for e in theirs.items} == {other.pk}
