"""A segment as a journey's entry: customers newly in it (or newly out of it) since the journey last looked enter,
computed as the set difference between the segment's members and the journey's snapshot. The memberships are
written by hand; who enters is worked out by hand from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from siyu.audiences.models import Segment, SegmentMembership
from siyu.automation import services
from siyu.automation.models import Enrollment, SegmentSnapshot
from siyu.core.errors import ValidationFailed
from siyu.customers.models import Customer
from tests.automation.helpers import World, build_world, customer, live, tag_names
from tests.conftest import Org
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _join(segment: Segment, person: Customer) -> None:
    SegmentMembership.objects.create(segment=segment, customer=person, entered_at=timezone.now())


def _leave(segment: Segment, person: Customer) -> None:
    SegmentMembership.objects.filter(segment=segment, customer=person, left_at__isnull=True).update(
        left_at=timezone.now())


def _journey(world: World, segment: Segment, on: str, tag_id: int) -> dict[str, object]:
    return {"entry": {"kind": "segment", "segment_id": segment.pk, "on": on},
            "nodes": [{"id": "tag", "kind": "action", "action": "add_tag", "tag_id": tag_id}]}


def test_newly_in_and_newly_out_of_a_segment_enter(org: Org) -> None:
    world = build_world(org)
    segment = Segment.objects.create(enterprise=org.enterprise, name="高价值", kind="dynamic", built_revision=1)
    a, b, c, d = (customer(world, n, T0, staff=False) for n in ("甲", "乙", "丙", "丁"))
    _join(segment, a)
    _join(segment, b)
    joined = live(world, "进入", _journey(world, segment, "entered", world.d0.pk))
    left = live(world, "离开", _journey(world, segment, "left", world.d1.pk))
    # the baseline: those already inside are not new
    assert set(SegmentSnapshot.objects.filter(journey=joined).values_list("customer_id", flat=True)) == {a.pk, b.pk}
    services.tick()
    assert Enrollment.objects.count() == 0
    _join(segment, c)
    _join(segment, d)
    _leave(segment, b)
    _leave(segment, d)  # in and out between two looks: neither new nor gone
    services.tick()
    entered = set(Enrollment.objects.filter(journey=joined).values_list("customer_id", flat=True))
    gone = set(Enrollment.objects.filter(journey=left).values_list("customer_id", flat=True))
    assert (entered, gone) == ({c.pk}, {b.pk})
    assert (tag_names(a), tag_names(b), tag_names(c), tag_names(d)) == (set(), {"D1"}, {"D0"}, set())
    services.tick()  # the snapshot caught up: nothing twice
    assert Enrollment.objects.count() == 2
    _join(segment, b)  # back in: new to the segment again
    services.tick()
    assert sorted(Enrollment.objects.filter(journey=joined).values_list("customer_id", flat=True)) == sorted(
        [c.pk, b.pk])
    assert set(SegmentSnapshot.objects.filter(journey=left).values_list("customer_id", flat=True)) == {a.pk, b.pk,
                                                                                                      c.pk}


def test_another_enterprises_segment_is_unknown(org: Org) -> None:
    world = build_world(org)
    brand = EnterpriseFactory.create(code="other-brand", name="其他")
    other = Segment.objects.create(enterprise=brand, name="x", kind="dynamic", built_revision=1)
    with pytest.raises(ValidationFailed) as refused:
        services.create_journey(scope=world.hq, name="x", definition=_journey(world, other, "entered", world.d0.pk))
    assert (refused.value.field, refused.value.code) == ("definition.entry.segment_id", "unknown_segment")
