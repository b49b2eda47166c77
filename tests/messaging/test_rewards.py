"""A coupon or points attached to a campaign (issue 28): each recipient gets them once, keyed by the delivery,
issued before the send and named in the message; a re-run sender, a crash after the issue and before the send, and a
crash after the issue and before it is recorded, never double-issue and never lose the message."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from simulator.state import Simulator
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.loyalty.models import PointsLot, PointsProgram
from siyu.messaging import rewards, senders, services
from siyu.messaging.models import Delivery
from siyu.messaging.services import CampaignInput
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions.models import Coupon, CouponTemplate
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock
from tests.messaging.helpers import make_customer
from tests.messaging.kit import sim, sms_campaign

__all__ = ["sim"]

TEXT = "{name}，送你券{coupon_code}和{points}积分"


@pytest.fixture
def template(org: Org) -> CouponTemplate:
    return CouponTemplate.objects.create(enterprise=org.enterprise, name="满100减10", kind="fixed",
                                         amount_off_fen=1000, valid_days=7)


@pytest.fixture
def program(org: Org) -> PointsProgram:
    return PointsProgram.objects.create(enterprise=org.enterprise)


def _code(message: str) -> str:
    found = re.search(r"送你券(\w+)和50积分$", message)
    assert found, message
    return found.group(1)


def test_each_recipient_gets_the_coupon_and_points_once_named_in_the_text(
        org: Org, hq: Scope, accounts: Accounts, clock: Clock, sim: Simulator, template: CouponTemplate,
        program: PointsProgram) -> None:
    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    b = make_customer(org, name="李雷", phone=True, sms_consent=True)
    campaign = sms_campaign(hq, accounts, [a.pk, b.pk], TEXT, coupon_template_id=template.pk, points=50)
    assert services.send_due() == 2
    assert services.send_due() == 0  # a re-run sends and issues nothing more
    for customer in (a, b):
        coupon = Coupon.objects.get(customer=customer)
        assert coupon.idempotency_key == f"campaign:{campaign.pk}:customer:{customer.pk}:coupon"
        assert sim.sms.messages(customer.phone) == [f"【品牌】{customer.name}，送你券{coupon.code}和50积分"]
        lot = PointsLot.objects.get(customer=customer)
        assert (lot.points, lot.key) == (50, f"campaign:{campaign.pk}:customer:{customer.pk}:points")
        assert Delivery.objects.get(customer=customer).coupon_code == coupon.code


def test_a_crash_after_the_issue_and_before_the_send(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                     sim: Simulator, template: CouponTemplate,
                                                     program: PointsProgram, monkeypatch: Any) -> None:
    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    sms_campaign(hq, accounts, [a.pk], TEXT, coupon_template_id=template.pk, points=50)

    def killed(**_kw: Any) -> None:
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(senders, "send_sms", killed)
        with pytest.raises(SystemExit):
            services.send_due()
    row = Delivery.objects.get(customer=a)
    assert row.status == "sending" and row.coupon_code  # the coupon is recorded before the send
    assert sim.sms.messages(a.phone) == []
    assert services.send_due() == 0  # the lease still holds
    clock.tick(timedelta(seconds=61))
    assert services.send_due() == 1
    coupon = Coupon.objects.get(customer=a)
    assert coupon.code == row.coupon_code
    assert sim.sms.messages(a.phone) == [f"【品牌】王芳，送你券{coupon.code}和50积分"]
    assert PointsLot.objects.filter(customer=a).count() == 1


def test_a_crash_after_the_issue_and_before_it_is_recorded(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                          sim: Simulator, template: CouponTemplate,
                                                          program: PointsProgram, monkeypatch: Any) -> None:
    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    sms_campaign(hq, accounts, [a.pk], TEXT, coupon_template_id=template.pk, points=50)
    issue_one = rewards._issue_one

    def issued_then_killed(delivery: Delivery, now: Any) -> str:
        issue_one(delivery, now)
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(rewards, "_issue_one", issued_then_killed)
        with pytest.raises(SystemExit):
            services.send_due()
    assert Delivery.objects.get(customer=a).coupon_code == ""
    assert Coupon.objects.filter(customer=a).count() == 1
    clock.tick(timedelta(seconds=61))
    assert services.send_due() == 1
    coupon = Coupon.objects.get(customer=a)  # the same coupon, found again by its key
    assert sim.sms.messages(a.phone) == [f"【品牌】王芳，送你券{coupon.code}和50积分"]
    assert PointsLot.objects.filter(customer=a).count() == 1


def test_a_sold_out_coupon_fails_the_delivery_without_a_message(org: Org, hq: Scope, accounts: Accounts,
                                                               clock: Clock, sim: Simulator,
                                                               template: CouponTemplate) -> None:
    template.total_stock = 1
    template.save()
    a = make_customer(org, phone=True, sms_consent=True)
    b = make_customer(org, phone=True, sms_consent=True)
    sms_campaign(hq, accounts, [a.pk, b.pk], "券{coupon_code}", coupon_template_id=template.pk)
    services.send_due()
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["failed", "sent"]
    failed = Delivery.objects.get(status="failed")
    assert sim.sms.messages(failed.customer.phone) == []


def test_what_may_be_attached(org: Org, hq: Scope, template: CouponTemplate) -> None:
    def data(**kw: Any) -> CampaignInput:
        return CampaignInput(name="x", audience_kind="list", customer_ids=[1], channels=["sms"],
                             content={"sms": "hi"}, **kw)

    with pytest.raises(NotFound) as missing:
        services.create_campaign(scope=hq, data=data(coupon_template_id=template.pk + 100))
    assert missing.value.field == "coupon_template_id"
    with pytest.raises(ValidationFailed) as no_program:
        services.create_campaign(scope=hq, data=data(points=10))
    assert no_program.value.code == "no_points_program"
    PointsProgram.objects.create(enterprise=org.enterprise)
    manager = scope_for_staff(org.n1_manager)
    with pytest.raises(PermissionDenied):
        services.create_campaign(scope=manager, data=data(points=10))
    assert services.create_campaign(scope=hq, data=data(points=10, coupon_template_id=template.pk)).points == 10
