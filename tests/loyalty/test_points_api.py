"""The points API and the profile's points section: who may read, redeem and adjust; clear codes; once per key."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.loyalty import queries, services
from siyu.loyalty.models import PointsOperation
from siyu.org.models import Staff
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import build_shop

pytestmark = pytest.mark.django_db


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def _url(customer_id: int, tail: str = "") -> str:
    return f"/api/loyalty/customers/{customer_id}/points{tail}"


def test_points_read_redeem_once_per_key_and_refuse_more_than_held(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    hq = _client(org.hq)
    added = hq.post(_url(c, "/adjust"), {"points": 120, "reason": "welcome"}, content_type="application/json",
                    headers={"Idempotency-Key": "a1"})
    assert added.status_code == 201, added.content
    assert added.json()["balance"] == 120
    body = {"points": 50, "reason": "毛巾礼品"}
    first = hq.post(_url(c, "/redeem"), body, content_type="application/json", headers={"Idempotency-Key": "r1"})
    again = hq.post(_url(c, "/redeem"), body, content_type="application/json", headers={"Idempotency-Key": "r1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["balance"] == again.json()["balance"] == 70
    assert PointsOperation.objects.filter(kind="redeem").count() == 1
    reused = hq.post(_url(c, "/redeem"), {"points": 51, "reason": "x"}, content_type="application/json",
                     headers={"Idempotency-Key": "r1"})
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    too_many = hq.post(_url(c, "/redeem"), {"points": 71, "reason": "x"}, content_type="application/json",
                       headers={"Idempotency-Key": "r2"})
    assert too_many.status_code == 409
    assert (too_many.json()["code"], too_many.json()["field"]) == ("insufficient_points", "points")
    assert queries.balance(shop.enterprise_id, c) == 70
    read = hq.get(_url(c)).json()
    assert (read["balance"], read["pending"]) == (70, 0)
    assert [(row["kind"], row["points"]) for row in read["history"]] == [("redeem", -50), ("earn_adjustment", 120)]
    assert read["lots"][0]["remaining"] == 70


@pytest.mark.parametrize(("body", "field"), [
    ({"points": 0, "reason": "x"}, "points"),
    ({"points": -5, "reason": "x"}, "points"),
    ({"points": 5, "reason": ""}, "reason"),
    ({"points": 5}, "reason"),
    ({"points": 5, "reason": "x", "extra": 1}, "extra"),
])
def test_bad_redeem_input_is_a_422_naming_the_field(org: Org, body: dict[str, object], field: str) -> None:
    shop = build_shop(org)
    response = _client(org.hq).post(_url(shop.customer.pk, "/redeem"), body, content_type="application/json",
                                    headers={"Idempotency-Key": "bad"})
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_store_staff_redeem_their_customers_but_may_not_adjust(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    shop.customer.home_store = org.store_n1
    shop.customer.save()
    services.adjust(scope=shop.hq, customer_id=c, points=30, reason="welcome", key="w")
    manager = _client(org.n1_manager)
    assert manager.get(_url(c)).json()["balance"] == 30
    adjusted = manager.post(_url(c, "/adjust"), {"points": 10, "reason": "x"}, content_type="application/json",
                            headers={"Idempotency-Key": "m1"})
    assert adjusted.status_code == 403
    redeemed = manager.post(_url(c, "/redeem"), {"points": 10, "reason": "gift"}, content_type="application/json",
                            headers={"Idempotency-Key": "m2"})
    assert redeemed.status_code == 201 and redeemed.json()["balance"] == 20
    # a customer of another store is out of the store manager's sight: 404, never a 403 that confirms it exists
    elsewhere = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_s1)
    assert manager.get(_url(elsewhere.pk)).status_code == 404


def test_program_is_hq_and_validates_categories(org: Org) -> None:
    build_shop(org)
    hq = _client(org.hq)
    assert hq.get("/api/loyalty/program").json()["configured"] is False
    bad = hq.put("/api/loyalty/program", {"points_per_yuan": 1, "fen_per_point": 1, "return_window_days": 7,
                                          "expiry_days": 365, "category_rates": [{"category_id": 999999,
                                                                                  "points_per_yuan": 2}]},
                 content_type="application/json")
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        422, "unknown_category", "category_rates[0].category_id")
    ok = hq.put("/api/loyalty/program", {"points_per_yuan": 2, "fen_per_point": 1, "return_window_days": 0,
                                         "expiry_days": 90}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["points_per_yuan"] == 2 and ok.json()["configured"] is True
    assert _client(org.n1_manager).get("/api/loyalty/program").status_code == 403


def test_profile_shows_points_and_the_console_redeems(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=88, reason="生日礼", key="b")
    hq = _client(org.hq)
    page = hq.get(f"/customers/{c}/").content.decode()
    assert 'data-points-balance="88"' in page and "生日礼" in page and 'id="adjust-points"' in page
    assert "积分可用" in page and "总部发放" in page  # the console speaks Chinese by default
    done = hq.post(f"/loyalty/customers/{c}/points/redeem/", {"points": "8", "reason": "纸巾", "key": "k1"})
    assert done.status_code == 302
    hq.post(f"/loyalty/customers/{c}/points/redeem/", {"points": "8", "reason": "纸巾", "key": "k1"})  # double submit
    assert queries.balance(shop.enterprise_id, c) == 80
    refused = hq.post(f"/loyalty/customers/{c}/points/redeem/", {"points": "81", "reason": "x", "key": "k2"},
                      follow=True)
    assert queries.balance(shop.enterprise_id, c) == 80
    assert "少于 81" in refused.content.decode()  # the refusal in the page's language
