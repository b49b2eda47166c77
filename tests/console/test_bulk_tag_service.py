"""Bulk tagging of the selected customers or all customers a filter matches: one statement whatever the count,
scoped (a store manager's "all" is their store's), idempotent, audited, with one event per customer changed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers import services
from siyu.customers.models import CustomerTag, Event
from siyu.customers.queries import CustomerFilter
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def _holders(tag_id: int) -> set[int]:
    return set(CustomerTag.objects.filter(tag_id=tag_id).values_list("customer_id", flat=True))


def test_all_filtered_customers_are_tagged_once_with_events_and_an_audit(org: Org, people: People) -> None:
    hq = scope_for_staff(org.hq)
    flt = CustomerFilter(channel="wecom")
    assert services.bulk_tag_count(hq, flt=flt) == 2
    added = services.bulk_tag(scope=hq, tag_id=people.newbie.pk, action="add", flt=flt, actor=org.hq.user)
    assert added == 2 and _holders(people.newbie.pk) == {people.ada.pk, people.cai.pk}
    events = Event.objects.filter(name="tag_added", properties__tag_id=people.newbie.pk)
    assert sorted(events.values_list("customer_id", flat=True)) == sorted([people.ada.pk, people.cai.pk])
    assert events.first().properties == {"tag_id": people.newbie.pk, "tag": "Newbie"}  # type: ignore[union-attr]
    entry = AuditEntry.objects.filter(action="customer.tag", target_id=str(people.newbie.pk)).get()
    assert entry.changes["count"] == 2 and entry.changes["filter"] == {"channel": "wecom"}
    again = services.bulk_tag(scope=hq, tag_id=people.newbie.pk, action="add", flt=flt, actor=org.hq.user)
    assert again == 0 and events.count() == 2  # idempotent: nothing new, no new events

    removed = services.bulk_tag(scope=hq, tag_id=people.newbie.pk, action="remove", flt=CustomerFilter(),
                                actor=org.hq.user)
    assert removed == 2 and _holders(people.newbie.pk) == set()
    assert Event.objects.filter(name="tag_removed", properties__tag_id=people.newbie.pk).count() == 2


def test_a_store_managers_all_is_their_store(org: Org, people: People) -> None:
    manager = scope_for_staff(org.n1_manager)
    assert services.bulk_tag_count(manager, flt=CustomerFilter()) == 1
    services.bulk_tag(scope=manager, tag_id=people.newbie.pk, action="add", flt=CustomerFilter())
    assert _holders(people.newbie.pk) == {people.ada.pk}
    # Selected ids outside the scope are not touched (they are not theirs to see).
    services.bulk_tag(scope=manager, tag_id=people.vip.pk, action="add",
                      customer_ids=[people.ada.pk, people.bob.pk, people.cai.pk])
    assert _holders(people.vip.pk) == {people.ada.pk}


def test_an_exclusive_group_tag_replaces_its_sibling(org: Org, people: People) -> None:
    hq = scope_for_staff(org.hq)
    stage = services.create_tag_group(enterprise_id=org.enterprise.pk, name="Stage", exclusive=True)
    new, active = services.create_tag(group=stage, name="New"), services.create_tag(group=stage, name="Active")
    services.bulk_tag(scope=hq, tag_id=new.pk, action="add", flt=CustomerFilter())
    services.bulk_tag(scope=hq, tag_id=active.pk, action="add", customer_ids=[people.bob.pk])
    assert _holders(new.pk) == {people.ada.pk, people.cai.pk} and _holders(active.pk) == {people.bob.pk}


def test_the_statement_count_does_not_grow_with_the_customers(org: Org, people: People) -> None:
    hq = scope_for_staff(org.hq)
    with CaptureQueriesContext(connection) as few:
        services.bulk_tag(scope=hq, tag_id=people.newbie.pk, action="add", flt=CustomerFilter())
    for i in range(60):
        services.create_customer(enterprise_id=org.enterprise.pk, name=f"bulk{i}", created_source="wecom")
    with CaptureQueriesContext(connection) as many:
        added = services.bulk_tag(scope=hq, tag_id=people.vip.pk, action="add", flt=CustomerFilter())
    assert added == 62  # everyone but Ada, who had VIP
    assert len(many) == len(few)


def test_bad_requests_are_refused(org: Org, people: People) -> None:
    hq = scope_for_staff(org.hq)
    audited = AuditEntry.objects.filter(action__in=["customer.tag", "customer.untag"]).count()
    with pytest.raises(ValidationFailed):
        services.bulk_tag(scope=hq, tag_id=people.vip.pk, action="add")
    with pytest.raises(ValidationFailed):
        services.bulk_tag(scope=hq, tag_id=people.vip.pk, action="explode", flt=CustomerFilter())
    with pytest.raises(NotFound):
        services.bulk_tag(scope=hq, tag_id=999_999, action="add", flt=CustomerFilter())
    assert AuditEntry.objects.filter(action__in=["customer.tag", "customer.untag"]).count() == audited
