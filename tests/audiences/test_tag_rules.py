"""Rule tags: a segment's members hold the tag while they are members; an event tag is held for expire_days after
the event; every change is a tag event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.analytics.engine.copy import ColumnarCopy
from siyu.audiences import services, tag_rules
from siyu.customers import services as customer_services
from siyu.customers.models import CustomerTag, Event
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.factories import CustomerFactory, TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db


def _holders(tag_id: int) -> set[int]:
    return set(CustomerTag.objects.filter(tag_id=tag_id).values_list("customer_id", flat=True))


def test_segment_and_event_rule_tags(org: Org, copy: ColumnarCopy) -> None:
    hq = Scope.hq(org.enterprise.pk)
    women = CustomerFactory.create(enterprise=org.enterprise, gender="female")
    man = CustomerFactory.create(enterprise=org.enterprise, gender="male")
    group = TagGroupFactory.create(enterprise=org.enterprise, name="规则")
    female_tag, checked_tag = TagFactory.create(group=group, name="女性"), TagFactory.create(group=group, name="签到")
    segment = services.create_segment(scope=hq, name="女性", rule={"version": 1, "root": {
        "type": "gender", "values": ["female"]}})
    tag_rules.create_tag_rule(scope=hq, tag_id=female_tag.pk, kind="segment", segment_id=segment.pk)
    tag_rules.create_tag_rule(scope=hq, tag_id=checked_tag.pk, kind="event", event_name="check_in", expire_days=7)
    customer_services.append_events(enterprise_id=org.enterprise.pk, batch=[customer_services.EventInput(
        name="check_in", occurred_at=timezone.now() - timedelta(days=8), idempotency_key="old", customer_id=man.pk)])
    copy.build()
    tag_rules.maintain(copy, copy.refresh())
    assert _holders(female_tag.pk) == {women.pk}
    assert _holders(checked_tag.pk) == set()  # 8 days ago: expired

    customer_services.append_events(enterprise_id=org.enterprise.pk, batch=[customer_services.EventInput(
        name="check_in", occurred_at=timezone.now(), idempotency_key="new", customer_id=man.pk)])
    customer_services.update_customer(customer=women, changes={"gender": "male"})
    tag_rules.maintain(copy, copy.refresh())
    assert _holders(checked_tag.pk) == {man.pk}
    assert _holders(female_tag.pk) == set()
    removed = Event.objects.filter(name="tag_removed", customer=women).values_list("properties", flat=True)
    assert [p["tag_id"] for p in removed] == [female_tag.pk]


def test_only_hq_makes_rule_tags(org: Org) -> None:
    from siyu.core.errors import PermissionDenied
    from siyu.org.scope import scope_for_staff

    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise))
    with pytest.raises(PermissionDenied):
        tag_rules.create_tag_rule(scope=scope_for_staff(org.n1_manager), tag_id=tag.pk, kind="event",
                                  event_name="check_in")
