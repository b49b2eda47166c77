from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.catalog.models import Sku
from siyu.org.scope import scope_for_staff
from siyu.org.services import create_api_token
from siyu.promotions.models import Coupon, CouponTemplate, FlashSale
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory


@pytest.fixture
def api(org: Org) -> Client:
    _token, secret = create_api_token(staff=org.hq, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _json(client: Client, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    call = getattr(client, method)
    response = call(url, body, content_type="application/json") if body is not None else call(url)
    return response.status_code, (response.json() if response.content else None)


def _window(days: int = 1) -> dict[str, str]:
    now = timezone.now()
    return {"starts_at": (now - timedelta(days=days)).isoformat(), "ends_at": (now + timedelta(days=days)).isoformat()}


def test_coupon_templates_and_issue(api: Client, org: Org) -> None:
    body = {"name": "满99减20", "kind": "threshold", "amount_off_fen": 2000, "threshold_fen": 9900, "valid_days": 7}
    status, made = _json(api, "post", "/api/promotions/coupon-templates", body)
    assert (status, made["value"], made["issued_count"]) == (201, "¥20.00 off over ¥99.00", 0)
    alice = CustomerFactory.create(enterprise=org.enterprise)
    issue = {"customer_id": alice.pk, "idempotency_key": "welcome:1"}
    status, first = _json(api, "post", f"/api/promotions/coupon-templates/{made['id']}/issue", issue)
    status2, again = _json(api, "post", f"/api/promotions/coupon-templates/{made['id']}/issue", issue)
    assert (status, status2, first["id"]) == (200, 200, again["id"])
    assert Coupon.objects.count() == 1
    status, page = _json(api, "get", f"/api/promotions/coupons?customer_id={alice.pk}")
    assert (status, [c["code"] for c in page["items"]]) == (200, [first["code"]])
    status, err = _json(api, "put", f"/api/promotions/coupon-templates/{made['id']}", {**body, "amount_off_fen": 3000})
    assert (status, err["code"]) == (409, "template_in_use")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "threshold", "amount_off_fen": 2000, "threshold_fen": 1000, "valid_days": 7}, 422,
         "amount_above_threshold", "amount_off"),
        ({"kind": "percent", "percent_off": 0, "valid_days": 7}, 422, "invalid_percent", "percent_off"),
        ({"kind": "fixed", "amount_off_fen": 100, "validity_kind": "fixed",
          "valid_from": "2026-06-01T00:00:00", "valid_until": "2026-06-02T00:00:00+08:00"}, 422, "naive_datetime",
         "valid_from"),
        ({"kind": "bogus", "valid_days": 7}, 422, "unknown_kind", "kind"),
    ],
)
def test_bad_coupon_templates(api: Client, body: dict[str, Any], status: int, code: str, field: str) -> None:
    got, err = _json(api, "post", "/api/promotions/coupon-templates", {"name": "x", **body})
    assert (got, err["code"], err["field"]) == (status, code, field)
    assert CouponTemplate.objects.count() == 0


def test_issue_needs_a_visible_customer(org: Org) -> None:
    template = CouponTemplate.objects.create(enterprise=org.enterprise, name="t", kind="fixed", amount_off_fen=100,
                                             valid_days=3)
    _token, secret = create_api_token(staff=org.n1_staff, name="store")
    store_api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    stranger = CustomerFactory.create(enterprise=org.enterprise)
    status, err = _json(store_api, "post", f"/api/promotions/coupon-templates/{template.pk}/issue",
                        {"customer_id": stranger.pk, "idempotency_key": "k"})
    assert (status, err["field"]) == (404, "customer_id")
    RelationshipFactory.create(customer=stranger, staff=org.n1_staff)
    status, _ = _json(store_api, "post", f"/api/promotions/coupon-templates/{template.pk}/issue",
                      {"customer_id": stranger.pk, "idempotency_key": "k"})
    assert status == 200


def test_flash_sales_reductions_group_buys_and_shipping(api: Client, org: Org) -> None:
    hq = scope_for_staff(org.hq)
    target = Sku.objects.get(product=product(hq, "电动牙刷", sku("TB-1", 29900), category=leaf(hq)))
    flash = {"name": "秒杀", **_window(), "items": [{"sku_id": target.pk, "flash_price_fen": 9900, "flash_stock": 10}]}
    status, sale = _json(api, "post", "/api/promotions/flash-sales", flash)
    assert (status, sale["items"][0]["sold"]) == (201, 0)
    status, err = _json(api, "post", "/api/promotions/flash-sales", flash)
    assert (status, err["code"], err["field"]) == (409, "flash_overlap", "items[0].sku_id")
    assert FlashSale.objects.count() == 1
    reduction = {"name": "满199减20", "tiers": [[19900, 2000], [29900, 4000]], **_window()}
    status, rule = _json(api, "post", "/api/promotions/full-reductions", reduction)
    assert (status, rule["description"]) == (201, "≥¥199.00 -¥20.00 / ≥¥299.00 -¥40.00")
    status, err = _json(api, "post", "/api/promotions/full-reductions", {**reduction, "tiers": [[19900, 2000],
                                                                                             [9900, 4000]]})
    assert (status, err["code"], err["field"], err["index"]) == (422, "tiers_not_ascending", "tiers[1]", 1)
    group = {"name": "两人团", "sku_id": target.pk, "group_price_fen": 19900, **_window()}
    assert _json(api, "post", "/api/promotions/group-buys", group)[0] == 201
    status, rule_out = _json(api, "put", "/api/promotions/shipping", {"free_over_fen": 8800, "fee_fen": 800})
    assert (status, rule_out) == (200, {"free_over_fen": 8800, "fee_fen": 800})


def test_price_preview(api: Client, org: Org) -> None:
    hq = scope_for_staff(org.hq)
    a = Sku.objects.get(product=product(hq, "抽纸", sku("TS-6", 1990, 1790), category=leaf(hq)))
    b = Sku.objects.get(product=product(hq, "面霜", sku("CR-1", 19900, 17900, stock=3), category=leaf(hq)))
    _json(api, "post", "/api/promotions/full-reductions", {"name": "满199减20", "tiers": [[19900, 2000]], **_window()})
    alice = CustomerFactory.create(enterprise=org.enterprise)
    template = _json(api, "post", "/api/promotions/coupon-templates",
                     {"name": "无门槛5元", "kind": "fixed", "amount_off_fen": 500, "valid_days": 7})[1]
    coupon = _json(api, "post", f"/api/promotions/coupon-templates/{template['id']}/issue",
                   {"customer_id": alice.pk, "idempotency_key": "k"})[1]
    body = {"lines": [{"sku_id": a.pk, "quantity": 1}, {"sku_id": b.pk, "quantity": 1}], "customer_id": alice.pk,
            "coupon_id": coupon["id"], "is_member": True}
    status, result = _json(api, "post", "/api/promotions/price", body)
    # Member: 1790 + 17900 = 19690 < 19900 → the full-reduction is 210 short; coupon 500:
    # a 500·1790/19690 = 45 rem 8650, b 500·17900/19690 = 454 rem 10740 → the odd fen to b: 45, 455.
    # Goods 19190 ≥ 9900: free shipping.
    assert status == 200
    assert (result["subtotal_fen"], result["coupon_discount_fen"], result["payable_fen"]) == (19690, 500, 19190)
    assert [line["coupon_discount_fen"] for line in result["lines"]] == [45, 455]
    rejected = [p for p in result["promotions"] if p["kind"] == "full_reduction"]
    assert (rejected[0]["applied"], rejected[0]["reason"], rejected[0]["shortfall_fen"]) == (
        False, "threshold_not_met", 210)


@pytest.mark.parametrize(
    ("lines", "status", "code", "field", "index"),
    [
        ([{"sku_id": 999_999, "quantity": 1}], 404, "unknown_sku", "lines[0].sku_id", 0),
        ([{"sku_id": "A", "quantity": 1}], 422, "invalid", "lines[0].sku_id", 0),
        ([{"sku": 1, "quantity": 1}], 422, "invalid", "lines[0].sku", 0),
        ([{"quantity": 1}], 422, "invalid_line", "lines[0].sku_id", 0),
        ("SKU", -1, "", "", None),
        ("QTY0", 422, "invalid_quantity", "lines[0].quantity", 0),
        ("QTYNEG", 422, "invalid_quantity", "lines[1].quantity", 1),
        ("STOCK", 409, "out_of_stock", "lines[0].quantity", 0),
    ],
)
def test_price_preview_errors(api: Client, org: Org, lines: Any, status: int, code: str, field: str,
                              index: int | None) -> None:
    hq = scope_for_staff(org.hq)
    a = Sku.objects.get(product=product(hq, "抽纸", sku("TS-6", 1990, stock=2), category=leaf(hq)))
    cases = {"SKU": [{"sku_id": a.pk, "quantity": 1}], "QTY0": [{"sku_id": a.pk, "quantity": 0}],
             "QTYNEG": [{"sku_id": a.pk, "quantity": 1}, {"sku_id": a.pk, "quantity": -2}],
             "STOCK": [{"sku_id": a.pk, "quantity": 3}]}
    body_lines = cases[lines] if isinstance(lines, str) else lines
    got, body = _json(api, "post", "/api/promotions/price", {"lines": body_lines})
    if status == -1:
        assert (got, body["payable_fen"]) == (200, 2990)  # 1990 + ¥10 shipping
        return
    assert (got, body["code"], body["field"], body.get("index")) == (status, code, field, index)


def test_price_preview_coupon_errors(api: Client, org: Org) -> None:
    hq = scope_for_staff(org.hq)
    a = Sku.objects.get(product=product(hq, "抽纸", sku("TS-6", 1990), category=leaf(hq)))
    alice, bob = (CustomerFactory.create(enterprise=org.enterprise) for _ in range(2))
    template = _json(api, "post", "/api/promotions/coupon-templates",
                     {"name": "满99减20", "kind": "threshold", "amount_off_fen": 2000, "threshold_fen": 9900,
                      "valid_days": 7})[1]
    coupon = _json(api, "post", f"/api/promotions/coupon-templates/{template['id']}/issue",
                   {"customer_id": alice.pk, "idempotency_key": "k"})[1]
    line = [{"sku_id": a.pk, "quantity": 1}]
    for customer, code in ((bob.pk, "coupon_not_owned"), (alice.pk, "threshold_not_met")):
        status, err = _json(api, "post", "/api/promotions/price", {"lines": line, "customer_id": customer,
                                                                   "coupon_id": coupon["id"]})
        assert (status, err["code"], err["field"]) == (422, code, "coupon_id")
