"""Issuing a coupon to a tag set: the confirmation counts the customers; each gets one coupon through issue_coupon
with a per-batch key (a second confirm issues nothing more); the per-customer limit and the stock hold; store staff
may not do it; only customers in the operator's scope are reached."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditEntry
from siyu.core.money import Money
from siyu.customers import services as customer_services
from siyu.org.scope import scope_for_staff
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.services import CouponTemplateInput
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db


def _template(org: Org, **changes: object) -> CouponTemplate:
    data = CouponTemplateInput(name="满99减20", kind="threshold", amount_off=Money(2000), threshold=Money(9900),
                               valid_days=7, per_customer_limit=1, **changes)  # type: ignore[arg-type]
    return services.create_coupon_template(scope=scope_for_staff(org.hq), data=data)


def _holders(template: CouponTemplate) -> list[int]:
    return sorted(Coupon.objects.filter(template=template).values_list("customer_id", flat=True))


def test_confirm_with_the_count_then_issue_once(client: Client, org: Org, people: People) -> None:
    template = _template(org)
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk],
                                    tag_ids=[people.newbie.pk])
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    url = f"/promotions/coupons/{template.pk}/issue-tags/"
    form = client.get(url).content.decode()
    key = re.search(r'name="batch_key" value="([0-9a-f]{32})"', form)
    assert key
    ask = {"tags": [people.vip.pk, people.newbie.pk], "match": "any", "batch_key": key.group(1)}
    confirm = client.post(url, ask).content.decode()
    assert 'data-count="2"' in confirm and _holders(template) == []
    first = client.post(url, {**ask, "confirmed": "1"})
    again = client.post(url, {**ask, "confirmed": "1"})
    assert first.status_code == again.status_code == 302
    assert _holders(template) == sorted([people.ada.pk, people.bob.pk])
    entries = AuditEntry.objects.filter(action="coupon.issue_tags").order_by("id")
    assert [e.changes["issued"] for e in entries] == [2, 0]


def test_limit_and_stock_hold_and_scope_is_respected(org: Org, people: People) -> None:
    template = _template(org, total_stock=1)
    manager = scope_for_staff(org.n1_manager)  # sees Ada only
    everyone = [people.vip.pk]
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk, people.cai.pk],
                                    tag_ids=everyone)
    result = services.issue_coupon_to_tags(scope=manager, template_id=template.pk, tag_ids=everyone, batch_key="b1")
    assert (result.issued, result.sold_out) == (1, False) and _holders(template) == [people.ada.pk]
    hq = scope_for_staff(org.hq)
    result = services.issue_coupon_to_tags(scope=hq, template_id=template.pk, tag_ids=everyone, batch_key="b2")
    assert result.sold_out and result.issued == 0 and _holders(template) == [people.ada.pk]
    plenty = _template(org)  # no stock limit, one per customer: a new batch skips everyone who has one
    first = services.issue_coupon_to_tags(scope=hq, template_id=plenty.pk, tag_ids=everyone, batch_key="c1")
    second = services.issue_coupon_to_tags(scope=hq, template_id=plenty.pk, tag_ids=everyone, batch_key="c2")
    assert (first.issued, first.skipped, second.issued, second.skipped) == (3, 0, 0, 3)
    with pytest.raises(PermissionDenied):
        services.issue_coupon_to_tags(scope=scope_for_staff(org.n1_staff), template_id=template.pk,
                                      tag_ids=everyone, batch_key="b3")
