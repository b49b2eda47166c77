"""A coupon to a segment, from the segment page: pick the coupon, confirm the count of members the operator may see,
and the batch issues one each (keys per batch and customer, limits held). Hand-made set: a static segment of Ada, Bob
and Cai, with a fourth customer who left it; Bob already holds the coupon."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from siyu.audiences import services as audience_services
from siyu.audiences.models import Segment, SegmentMembership
from siyu.core.money import Money
from siyu.customers import services as customer_services
from siyu.org.scope import scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponBatch, CouponTemplate
from tests.conftest import Org
from tests.console.conftest import People
from tests.factories import EnterpriseFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
RULE = {"version": 1, "root": {"type": "gender", "values": ["female"]}}


def _segment(org: Org, people: People) -> tuple[Segment, int]:
    gone = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="Dan")
    hq = scope_for_staff(org.hq)
    segment = audience_services.create_segment(scope=hq, name="老客", rule=RULE, kind="static",
                                               members=[people.ada.pk, people.bob.pk, people.cai.pk, gone.pk])
    SegmentMembership.objects.filter(segment=segment, customer=gone).update(left_at=timezone.now())
    return segment, gone.pk


def _template(org: Org) -> CouponTemplate:
    return services.create_coupon_template(scope=scope_for_staff(org.hq), data=services.CouponTemplateInput(
        name="回馈券", kind="fixed", amount_off=Money(1000), valid_days=7, per_customer_limit=1))


def _ask(client: Client, segment: Segment, template: CouponTemplate) -> tuple[str, dict[str, str]]:
    url = f"/audiences/{segment.pk}/coupon/"
    form = client.get(url).content.decode()
    key = re.search(r'name="batch_key" value="([0-9a-f]{32})"', form)
    assert key and f'value="{template.pk}"' in form
    ask = {"template": str(template.pk), "batch_key": key.group(1)}
    return url, ask


def test_hq_issues_to_the_members_once(client: Client, org: Org, people: People) -> None:
    segment, gone = _segment(org, people)
    template = _template(org)
    services.issue_coupon(enterprise_id=org.enterprise.pk, template_id=template.pk, customer_id=people.bob.pk,
                          idempotency_key="before")
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    url, ask = _ask(client, segment, template)
    confirm = client.post(url, ask).content.decode()
    assert 'data-count="3"' in confirm and "回馈券" in confirm
    first, again = client.post(url, {**ask, "confirmed": "1"}), client.post(url, {**ask, "confirmed": "1"})
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    batch = CouponBatch.objects.get()
    assert (batch.source, batch.source_label, batch.source_params, batch.total) == (
        "segment", "老客", {"segment_id": segment.pk}, 3)
    assert services.run_coupon_batch(batch_id=batch.pk) == "done"
    batch.refresh_from_db()
    assert (batch.issued, batch.skipped) == (2, 1)  # Bob held one already (one per customer)
    holders = sorted(Coupon.objects.filter(template=template).values_list("customer_id", flat=True))
    assert holders == sorted([people.ada.pk, people.bob.pk, people.cai.pk]) and gone not in holders
    page = client.get(first["Location"]).content.decode()
    assert "人群包成员" in page and 'data-issued="2"' in page


def test_a_store_manager_reaches_only_their_customers(client: Client, org: Org, people: People) -> None:
    segment, _ = _segment(org, people)
    template = _template(org)
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    url, ask = _ask(client, segment, template)
    assert 'data-count="1"' in client.post(url, ask).content.decode()  # Ada is Beijing 1's
    client.post(url, {**ask, "confirmed": "1"})
    services.run_coupon_batch(batch_id=CouponBatch.objects.get().pk)
    assert list(Coupon.objects.values_list("customer_id", flat=True)) == [people.ada.pk]


def test_refused_for_staff_another_enterprise_and_an_unbuilt_segment(client: Client, org: Org, people: People
                                                                      ) -> None:
    segment, _ = _segment(org, people)
    template = _template(org)
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    assert client.get(f"/audiences/{segment.pk}/coupon/").status_code == 403
    other = EnterpriseFactory.create(code="other-brand")
    stranger = StaffFactory.create(enterprise=other, name="o_hq", wecom_userid="o_hq", role="hq_admin",
                                   user=UserFactory.create(username="o_hq"))
    assert stranger.user is not None
    client.force_login(stranger.user)
    url = f"/audiences/{segment.pk}/coupon/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"template": str(template.pk), "batch_key": "x" * 32, "confirmed": "1"}).status_code == 404
    dynamic = audience_services.create_segment(scope=scope_for_staff(org.hq), name="新客", rule=RULE)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    url, ask = _ask(client, dynamic, template)
    refused = client.post(url, {**ask, "confirmed": "1"}).content.decode()
    assert "form-error" in refused and "该人群包的成员还在计算中" in refused and CouponBatch.objects.count() == 0
    assert Coupon.objects.count() == 0
