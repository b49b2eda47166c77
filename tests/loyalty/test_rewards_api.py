"""The points catalogue over HTTP: HQ manages it (store staff are refused), a shopper reads it and redeems once per
Idempotency-Key; a refusal is a 409 naming its field and writes nothing. The pan gift costs 20,000 points; the
shopper holds 30,000."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.loyalty import services
from siyu.loyalty.models import Redemption, Reward
from siyu.orders.models import Order, StorefrontSession
from tests.conftest import Org
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import ADDRESS, build_shop

pytestmark = pytest.mark.django_db
TOKEN = "sf_rewards-token-0001"


def _staff(org: Org, role: str = "hq") -> Client:
    client = Client()
    staff = org.hq if role == "hq" else org.n1_staff
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def _shopper(shop_enterprise: int, customer_id: int) -> Client:
    now = timezone.now()
    StorefrontSession.objects.create(enterprise_id=shop_enterprise, customer_id=customer_id, app_id="wxmall",
                                     openid="o_rewards", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_hq_manages_the_catalogue_and_store_staff_may_not(org: Org) -> None:
    shop = build_shop(org)
    body = {"kind": "gift", "name": "不粘锅", "points": 20000, "sku_id": shop.pan.pk}
    refused = _staff(org, "store").post("/api/loyalty/rewards", body, content_type="application/json")
    assert refused.status_code == 403 and not Reward.objects.exists()
    hq = _staff(org)
    made = hq.post("/api/loyalty/rewards", body, content_type="application/json")
    assert made.status_code == 201, made.content
    bad = hq.post("/api/loyalty/rewards", {**body, "sku_id": 999999}, content_type="application/json")
    assert (bad.status_code, bad.json()["field"]) == (422, "sku_id")
    off = hq.put(f"/api/loyalty/rewards/{made.json()['id']}", {**body, "is_active": False},
                 content_type="application/json")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert hq.put("/api/loyalty/rewards/999999", body, content_type="application/json").status_code == 404
    assert [r["id"] for r in hq.get("/api/loyalty/rewards").json()] == [made.json()["id"]]


def test_a_shopper_redeems_once_per_key_and_a_refusal_writes_nothing(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=30000, reason="start", key="start")
    reward = services.save_reward(scope=shop.hq, data=services.RewardInput(
        kind="gift", name="不粘锅", points=20000, sku_id=shop.pan.pk))
    phone = _shopper(shop.enterprise_id, shop.customer.pk)
    listed = phone.get("/api/storefront/rewards").json()
    assert listed["balance"] == 30000 and [(i["id"], i["in_stock"]) for i in listed["items"]] == [(reward.pk, 5)]
    url = f"/api/storefront/rewards/{reward.pk}/redeem"
    body = json.dumps({"address": ADDRESS})
    first = phone.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    again = phone.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 201), first.content
    assert first.json() == again.json() and first.json()["points"] == 20000
    assert Order.objects.count() == 1 and Redemption.objects.count() == 1
    poor = phone.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k2")
    assert (poor.status_code, poor.json()["code"], poor.json()["field"]) == (409, "insufficient_points", "points")
    assert Order.objects.count() == 1 and shop.stock(shop.pan) == 4
    mine = phone.get("/api/storefront/points").json()
    assert (mine["balance"], mine["checkout_points_per_yuan"]) == (10000, 0)
    huge = phone.post(url, json.dumps({"address": ADDRESS, "quantity": 11}), content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY="k3")
    assert huge.status_code == 422 and Redemption.objects.count() == 1
    assert phone.post("/api/storefront/rewards/999999/redeem", body, content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY="k4").status_code == 404
    seen = _staff(org).get("/api/loyalty/redemptions").json()
    assert [(r["reward_id"], r["points"], r["customer_id"]) for r in seen["items"]] == [
        (reward.pk, 20000, shop.customer.pk)]
    assert Client().get("/api/storefront/rewards").status_code == 401


def test_the_catalogue_page_adds_edits_and_lists_redemptions(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=30000, reason="start", key="start")
    hq = _staff(org)
    page = hq.get("/loyalty/rewards/")
    assert page.status_code == 200 and "积分商城" in page.content.decode()
    form = {"kind": "gift", "name": "不粘锅", "points": "20000", "sku_id": str(shop.pan.pk), "coupon_template_id": "",
            "is_active": "on"}
    assert hq.post("/loyalty/rewards/", form).status_code == 302
    reward = Reward.objects.get()
    no_sku = hq.post("/loyalty/rewards/", {**form, "sku_id": ""})
    assert no_sku.status_code == 400 and "请选择兑换的 SKU" in no_sku.content.decode()
    edited = hq.post("/loyalty/rewards/", {**form, "reward_id": str(reward.pk), "points": "15000"})
    assert edited.status_code == 302 and Reward.objects.get().points == 15000 and Reward.objects.count() == 1
    services.redeem_reward(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, reward_id=reward.pk,
                           key="k1", delivery=services.CheckoutInput(address=ADDRESS))
    listed = hq.get("/loyalty/rewards/").content.decode()
    assert 'id="redemption-rows"' in listed and "15000" in listed and f"/customers/{shop.customer.pk}/" in listed
    assert _staff(org, "store").get("/loyalty/rewards/").status_code == 403
