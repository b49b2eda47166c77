"""Paid membership plans over HTTP and in the console: HQ sets them (store staff are refused, another enterprise's plan
is a 404), bad input is a 422 naming its field with nothing written (a 10 MB body too), every save is audited; the
members list and a customer's membership are scoped like the customer; the plans page works in Chinese and English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from siyu.core.models import AuditEntry
from siyu.customers import services as customers
from siyu.loyalty import services
from siyu.loyalty.models import Membership, MembershipPlan
from siyu.orders.services import states
from siyu.org.scope import Scope
from siyu.promotions.models import CouponTemplate
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory
from tests.orders.helpers import build_shop

pytestmark = pytest.mark.django_db
PLAN: dict[str, Any] = {"code": "plus", "name": "PLUS 年卡", "price_fen": 29900, "period_days": 365,
        "points_multiplier_percent": 150, "refund_policy": "pro_rata"}


def _staff(org: Org, role: str = "hq") -> Client:
    client = Client()
    staff = org.hq if role == "hq" else org.n1_staff
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_hq_sets_plans_and_store_staff_may_not(org: Org) -> None:
    refused = _staff(org, "store").post("/api/loyalty/membership/plans", PLAN, content_type="application/json")
    assert refused.status_code == 403 and not MembershipPlan.objects.exists()
    hq = _staff(org)
    made = hq.post("/api/loyalty/membership/plans", PLAN, content_type="application/json")
    assert made.status_code == 201, made.content
    plan = made.json()
    assert (plan["price_fen"], plan["period_days"], plan["points_multiplier_percent"]) == (29900, 365, 150)
    again = hq.post("/api/loyalty/membership/plans", PLAN, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "plan_code_taken"
    changed = hq.put(f"/api/loyalty/membership/plans/{plan['id']}", {**PLAN, "price_fen": 19900, "is_active": False},
                     content_type="application/json")
    assert changed.status_code == 200 and changed.json()["price_fen"] == 19900 and not changed.json()["is_active"]
    assert [p["id"] for p in hq.get("/api/loyalty/membership/plans").json()] == [plan["id"]]
    assert AuditEntry.objects.filter(action="membership.plan").count() == 2
    assert _staff(org, "store").get("/api/loyalty/membership/plans").status_code == 403


@pytest.mark.parametrize(("change", "field"), [
    ({"price_fen": 0}, "price_fen"),
    ({"period_days": 0}, "period_days"),
    ({"code": "Not A Code"}, "code"),
    ({"points_multiplier_percent": 90}, "points_multiplier_percent"),
    ({"refund_policy": "half"}, "refund_policy"),
])
def test_bad_plans_are_refused_with_the_field_and_nothing_written(org: Org, change: dict[str, Any],
                                                                  field: str) -> None:
    answer = _staff(org).post("/api/loyalty/membership/plans", {**PLAN, **change}, content_type="application/json")
    assert answer.status_code == 422 and field in answer.content.decode()
    assert not MembershipPlan.objects.exists()


def test_coupons_each_month_need_a_template_of_this_enterprise(org: Org) -> None:
    shop = build_shop(org)
    other = EnterpriseFactory.create(code="other-brand")
    foreign = CouponTemplate.objects.create(
        enterprise=other, name="外", kind="fixed", amount_off_fen=100, valid_days=7)
    hq = _staff(org)
    for template in (None, foreign.pk):
        answer = hq.post("/api/loyalty/membership/plans", {**PLAN, "coupons_per_month": 2,
                                                           "coupon_template_id": template},
                         content_type="application/json")
        assert answer.status_code == 422 and answer.json()["field"] == "coupon_template_id", answer.content
    ok = hq.post("/api/loyalty/membership/plans", {**PLAN, "coupons_per_month": 2,
                                                   "coupon_template_id": shop.template.pk},
                 content_type="application/json")
    assert ok.status_code == 201 and MembershipPlan.objects.count() == 1


def test_a_huge_body_is_refused_without_a_write(org: Org) -> None:
    body = '{"code": "big", "name": "' + "x" * (10 * 1024 * 1024) + '", "price_fen": 100, "period_days": 30}'
    answer = _staff(org).post("/api/loyalty/membership/plans", body, content_type="application/json")
    assert 400 <= answer.status_code < 500 and not MembershipPlan.objects.exists()


def test_another_enterprises_plan_is_not_found(org: Org) -> None:
    other = EnterpriseFactory.create(code="other-brand")
    theirs = services.save_plan(scope=Scope.hq(other.pk), data=services.PlanInput(**PLAN))
    answer = _staff(org).put(f"/api/loyalty/membership/plans/{theirs.pk}", PLAN, content_type="application/json")
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == PLAN["name"] and theirs.price_fen == 29900
    assert _staff(org).get("/api/loyalty/membership/plans").json() == []


def _member(org: Org, customer: Any, plan_id: int, key: str) -> None:
    bought = services.buy_membership(enterprise_id=org.enterprise.pk, customer_id=customer.pk, plan_id=plan_id,
                                     key=key)
    states.mark_paid(order_id=bought.order_id, paid_at=timezone.now(), payment_ref=f"pay-{key}")


def test_members_and_a_customers_membership_are_scoped_like_the_customer(org: Org) -> None:
    plan = services.save_plan(scope=Scope.hq(org.enterprise.pk), data=services.PlanInput(**PLAN))
    north = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_n1, name="北方会员")
    south = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_s1, name="南方会员")
    customers.add_relationship(customer=north, staff=org.n1_staff, added_at=timezone.now(), channel="wecom")
    customers.add_relationship(customer=south, staff=org.s1_staff, added_at=timezone.now(), channel="wecom")
    _member(org, north, plan.pk, "n")
    _member(org, south, plan.pk, "s")
    assert Membership.objects.filter(status="active").count() == 2
    everyone = _staff(org).get("/api/loyalty/members").json()
    assert sorted(m["customer_name"] for m in everyone["items"]) == ["北方会员", "南方会员"]
    mine = _staff(org, "store").get("/api/loyalty/members").json()
    assert [m["customer_name"] for m in mine["items"]] == ["北方会员"]
    assert _staff(org, "store").get(f"/api/loyalty/customers/{south.pk}/membership").status_code == 404
    view = _staff(org, "store").get(f"/api/loyalty/customers/{north.pk}/membership").json()
    assert view["status"] == "active" and view["plan"]["code"] == "plus" and 364 <= view["days_left"] <= 365
    expired = _staff(org).get("/api/loyalty/members?status=expired").json()
    assert expired["total"] == 0


def test_the_plans_page_saves_through_the_service_and_shows_members(org: Org) -> None:
    hq = _staff(org)
    form = {"code": "month", "name": "月卡", "price_fen": "990", "period_days": "30",
            "points_multiplier_percent": "120", "member_price_percent": "95", "coupons_per_month": "0",
            "refund_policy": "none", "is_active": "on"}
    bad = hq.post("/loyalty/membership/", {**form, "price_fen": "0"})
    assert bad.status_code == 400 and not MembershipPlan.objects.exists()
    saved = hq.post("/loyalty/membership/", form)
    assert saved.status_code == 302 and MembershipPlan.objects.get().refund_policy == "none"
    customer = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_n1, name="页面会员")
    _member(org, customer, MembershipPlan.objects.get().pk, "page")
    zh = hq.get("/loyalty/membership/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert zh.status_code == 200 and "付费会员" in zh.content.decode() and "页面会员" in zh.content.decode()
    hq.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    en = hq.get("/loyalty/membership/")
    assert "Paid membership" in en.content.decode() and "No refund" in en.content.decode()
    assert _staff(org, "store").get("/loyalty/membership/").status_code == 403
    profile = hq.get(f"/customers/{customer.pk}/")
    assert profile.status_code == 200 and 'data-membership="active"' in profile.content.decode()
    later = timezone.now() + timedelta(days=31)
    assert services.expire_memberships(now=later) == 1
