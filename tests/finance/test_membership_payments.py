"""Paid membership on the real payment path: a shopper buys a plan (an unpaid virtual order), pays it through the
WeChat Pay simulator (signed, encrypted notify), and the paid hook adds one period; a notify delivered again adds
nothing; a renewal starts where the membership ends; the worker expires it; a refund follows the plan's policy
(pro rata: the unused share of the price) and its notify ends the period. The plan: 299 yuan for 365 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.state import current
from siyu.core.errors import Conflict
from siyu.customers.models import Event
from siyu.finance import queries as finance_queries
from siyu.finance.models import Account
from siyu.loyalty import queries, services
from siyu.loyalty.models import Membership, MembershipPurchase, PointsLot
from siyu.orders.models import Order
from siyu.org.scope import Scope
from siyu.promotions.models import Coupon
from tests.finance.conftest import TOKEN, Paying
from tests.finance.test_refunds import _refund_notify
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db
PRICE, DAYS = 29_900, 365


def _plan(p: Paying, **changes: Any) -> int:
    data = {"code": "plus", "name": "PLUS 年卡", "price_fen": PRICE, "period_days": DAYS,
            "points_multiplier_percent": 150, **changes}
    return services.save_plan(scope=p.shop.hq, data=services.PlanInput(**data)).pk


def _buy(p: Paying, plan_id: int, key: str) -> Any:
    return p.client.post(f"/api/storefront/membership/plans/{plan_id}/buy", {}, content_type="application/json",
                         headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key})


def _pay(p: Paying, order_id: int, *, twice: bool = False) -> datetime:
    order = Order.objects.get(pk=order_id)
    out_trade_no = p.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(p.merchant.mch_id, out_trade_no, notify=False)
    assert p.notify(sim.transaction_json(platform)).status_code == 204
    if twice:  # the platform delivers the notify again (a new request: new nonce and timestamp)
        assert p.notify(sim.transaction_json(platform)).status_code == 204
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_fen == PRICE
    assert order.paid_at is not None
    return order.paid_at


def test_bought_through_the_notify_once_renewed_from_the_end_and_expired(paying: Paying) -> None:
    setup_program(paying.shop, window=0)  # points on: the membership fee itself earns none
    plan_id = _plan(paying)
    bought = _buy(paying, plan_id, "buy-1")
    assert bought.status_code == 201, bought.content
    assert _buy(paying, plan_id, "buy-1").json()["id"] == bought.json()["id"]  # the same key: the same purchase
    first = bought.json()
    assert (first["status"], first["price_fen"], first["starts_at"]) == ("pending", PRICE, None)

    paid_at = _pay(paying, first["order_id"], twice=True)
    member = Membership.objects.get(customer=paying.shop.customer)
    assert (member.status, member.started_at, member.ends_at) == ("active", paid_at, paid_at + timedelta(days=DAYS))
    assert MembershipPurchase.objects.get(pk=first["id"]).status == "paid"
    assert Event.objects.filter(name="membership_purchased", customer=paying.shop.customer).count() == 1
    assert not PointsLot.objects.filter(order_id=first["order_id"]).exists()
    hq = Scope.hq(paying.shop.enterprise_id)
    assert finance_queries.balance(hq, Account.PLATFORM_CLEARING, currency="CNY") == PRICE  # money in once

    renewal = _buy(paying, plan_id, "buy-2").json()
    _pay(paying, renewal["order_id"])
    member.refresh_from_db()
    row = MembershipPurchase.objects.get(pk=renewal["id"])
    assert row.starts_at == paid_at + timedelta(days=DAYS)  # extends from the current end, not from today
    assert member.ends_at == row.ends_at == paid_at + timedelta(days=2 * DAYS)
    assert member.started_at == paid_at

    shopper = paying.client.get("/api/storefront/membership", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert shopper["membership"]["status"] == "active" and shopper["membership"]["plan"]["code"] == "plus"
    assert [p["status"] for p in shopper["membership"]["purchases"]] == ["paid", "paid"]

    end = paid_at + timedelta(days=2 * DAYS)
    assert services.expire_memberships(now=end - timedelta(seconds=1)) == 0
    assert services.expire_memberships(now=end) == 1
    assert services.expire_memberships(now=end + timedelta(hours=1)) == 0  # twice: nothing more
    member.refresh_from_db()
    assert (member.status, member.expired_at) == ("expired", end)
    view = queries.membership_of(enterprise_id=paying.shop.enterprise_id, customer_id=paying.shop.customer.pk,
                                 now=end)
    assert (view.status, view.days_left) == ("expired", 0)


def test_a_member_earns_points_at_the_plan_multiplier_until_it_ends(paying: Paying) -> None:
    setup_program(paying.shop, window=0)  # 1 point a yuan
    _pay(paying, _buy(paying, _plan(paying), "k").json()["order_id"])
    order = paying.shop.order(line(paying.shop.pan, 1))  # 29,900 fen
    _pay_order = paying.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(paying.merchant.mch_id, _pay_order, notify=False)
    assert paying.notify(sim.transaction_json(platform)).status_code == 204
    assert PointsLot.objects.get(order_id=order.pk).points == 299 * 150 // 100  # ×1.5 = 448


def test_plans_off_sale_or_past_their_sale_end_are_refused_and_nothing_is_written(paying: Paying) -> None:
    past = _plan(paying, code="old", sale_ends_at=timezone.now() - timedelta(minutes=1))
    off = _plan(paying, code="off", is_active=False)
    for plan_id, code in ((past, "plan_expired"), (off, "plan_unavailable")):
        answer = _buy(paying, plan_id, f"k-{code}")
        assert answer.status_code == 409 and answer.json()["code"] == code, answer.content
    assert _buy(paying, 999_999, "k-none").status_code == 404
    assert not Order.objects.exists() and not MembershipPurchase.objects.exists()
    listed = paying.client.get("/api/storefront/membership", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert listed["plans"] == [] and listed["membership"]["status"] == "none"


def test_refund_pro_rata_through_the_refund_notify_ends_the_period(paying: Paying) -> None:
    bought = _buy(paying, _plan(paying), "k").json()
    paid_at = _pay(paying, bought["order_id"])
    purchase = MembershipPurchase.objects.select_related("plan").get(pk=bought["id"])
    # a fifth of the year used: four fifths of the price back, and the whole price before the period starts
    assert services.refund_amount(purchase, paid_at + timedelta(days=73)) == PRICE * 292 // 365 == 23_920
    assert services.refund_amount(purchase, paid_at - timedelta(seconds=1)) == PRICE
    assert services.refund_amount(purchase, paid_at + timedelta(days=DAYS)) == 0

    moment = timezone.now()
    refund = services.refund_membership(scope=paying.shop.hq, purchase_id=purchase.pk, reason="不想要了", now=moment)
    expected = services.refund_amount(purchase, moment)
    assert refund.amount_fen == expected and PRICE - 2 <= expected <= PRICE  # minutes into a 365-day period
    assert _refund_notify(paying, refund) == 204
    assert _refund_notify(paying, refund) == 204  # delivered again: ended once
    purchase.refresh_from_db()
    member = Membership.objects.get(customer=paying.shop.customer)
    assert purchase.status == "refunded" and purchase.refunded_at is not None and purchase.ends_at is not None
    assert member.status == "expired" and member.ends_at == purchase.ends_at <= purchase.refunded_at
    with pytest.raises(Conflict) as again:
        services.refund_membership(scope=paying.shop.hq, purchase_id=purchase.pk, reason="again")
    assert again.value.code == "purchase_not_paid"


def test_a_plan_without_refunds_is_refused(paying: Paying) -> None:
    bought = _buy(paying, _plan(paying, refund_policy="none"), "k").json()
    _pay(paying, bought["order_id"])
    with pytest.raises(Conflict) as refused:
        services.refund_membership(scope=paying.shop.hq, purchase_id=bought["id"], reason="不想要了")
    assert refused.value.code == "membership_not_refundable"
    assert MembershipPurchase.objects.get(pk=bought["id"]).status == "paid"


def test_monthly_benefit_coupons_are_issued_once_per_month(paying: Paying) -> None:
    plan_id = _plan(paying, coupon_template_id=paying.shop.template.pk, coupons_per_month=2)
    paid_at = _pay(paying, _buy(paying, plan_id, "k").json()["order_id"])
    assert services.grant_member_coupons(now=paid_at + timedelta(minutes=1)) == 1
    assert services.grant_member_coupons(now=paid_at + timedelta(minutes=2)) == 0  # the same month: nothing more
    assert services.grant_member_coupons(now=paid_at + timedelta(days=29)) == 0
    assert services.grant_member_coupons(now=paid_at + timedelta(days=30, minutes=1)) == 1  # the second month
    view = queries.membership_of(enterprise_id=paying.shop.enterprise_id, customer_id=paying.shop.customer.pk)
    assert view.coupons_issued == 4
    assert Coupon.objects.filter(customer=paying.shop.customer, template=paying.shop.template).count() == 4
