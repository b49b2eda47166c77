"""The tiers API: HQ reads and sets the tiers (field-level refusals, nothing half-written), anyone who can see a
customer reads their tier; the profile shows it."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.loyalty.models import Tier, TierPolicy
from siyu.org.models import Staff
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import pay, setup_program
from tests.orders.helpers import build_shop, line

pytestmark = pytest.mark.django_db

TIERS = {"basis": "growth", "window_days": 365, "grace_days": 30, "tiers": [
    {"code": "silver", "name": "银卡", "threshold": 100, "benefits": "会员价"},
    {"code": "gold", "name": "金卡", "threshold": 500, "multiplier_percent": 150}]}


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_hq_sets_the_tiers_and_staff_read_a_customers_tier(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    hq = _client(org.hq)
    assert hq.get("/api/loyalty/tiers").json()["configured"] is False
    put = hq.put("/api/loyalty/tiers", TIERS, content_type="application/json")
    assert put.status_code == 200, put.content
    again = hq.put("/api/loyalty/tiers", TIERS, content_type="application/json")
    assert again.json() == put.json()
    assert [t["code"] for t in put.json()["tiers"]] == ["silver", "gold"]
    assert Tier.objects.count() == 2
    pay(shop.order(line(shop.pan, 1)))  # growth 299: silver
    read = hq.get(f"/api/loyalty/customers/{shop.customer.pk}/tier").json()
    assert (read["value"], read["tier"]["code"], read["next_tier"]["code"], read["to_next"]) == (299, "silver",
                                                                                                 "gold", 201)
    assert [(h["direction"], h["to_tier"]) for h in read["history"]] == [("up", "银卡")]
    page = hq.get(f"/customers/{shop.customer.pk}/")
    assert page.status_code == 200
    assert "银卡" in page.content.decode() and 'id="customer-tier"' in page.content.decode()


@pytest.mark.parametrize(("change", "field"), [
    ({"basis": "spend"}, "basis"),
    ({"grace_days": -1}, "grace_days"),
    ({"tiers": [{"code": "gold", "name": "金卡", "threshold": 500}, {"code": "silver", "name": "银卡",
                                                                      "threshold": 100}]}, "tiers[1].threshold"),
    ({"tiers": [{"code": "a", "name": "", "threshold": 5}]}, "name"),
])
def test_bad_tier_rules_are_refused_beside_the_field_and_write_nothing(org: Org, change: dict[str, object],
                                                                         field: str) -> None:
    response = _client(org.hq).put("/api/loyalty/tiers", {**TIERS, **change}, content_type="application/json")
    assert response.status_code in (400, 422), response.content
    assert field in str(response.json())
    assert not TierPolicy.objects.exists() and not Tier.objects.exists()


def test_a_customer_out_of_scope_is_404(org: Org) -> None:
    elsewhere = CustomerFactory.create(enterprise=org.enterprise)  # followed by nobody in store n1
    assert _client(org.n1_staff).get(f"/api/loyalty/customers/{elsewhere.pk}/tier").status_code == 404
    assert _client(org.hq).get(f"/api/loyalty/customers/{elsewhere.pk}/tier").status_code == 200
