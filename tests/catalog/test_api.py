from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from siyu.catalog.models import Bundle, Category, Product, Sku
from siyu.org.services import create_api_token
from tests.conftest import Org


@pytest.fixture
def api(org: Org) -> Client:
    _token, secret = create_api_token(staff=org.hq, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def store_api(org: Org) -> Client:
    _token, secret = create_api_token(staff=org.n1_staff, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _json(client: Client, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    call = getattr(client, method)
    response = call(url, body, content_type="application/json") if body is not None else call(url)
    return response.status_code, (response.json() if response.content else None)


def _leaf(api: Client) -> int:
    _, root = _json(api, "post", "/api/catalog/categories", {"name": "日用消耗"})
    status, child = _json(api, "post", "/api/catalog/categories", {"name": "纸品清洁", "parent_id": root["id"]})
    assert status == 201
    return int(child["id"])


def _product(leaf_id: int, **over: Any) -> dict[str, Any]:
    body = {"name": "抽纸", "category_id": leaf_id, "status": "on_sale", "role": "traffic",
            "skus": [{"code": "TS-6", "specs": {"规格": "6包"}, "price_fen": 1990, "member_price_fen": 1790,
                      "stock": 50},
                     {"code": "TS-12", "specs": {"规格": "12包"}, "price_fen": 3790, "stock": 30}]}
    body.update(over)
    return body


def test_category_crud(api: Client) -> None:
    leaf_id = _leaf(api)
    status, tree = _json(api, "get", "/api/catalog/categories")
    assert status == 200
    assert [(c["name"], [k["name"] for k in c["children"]]) for c in tree] == [("日用消耗", ["纸品清洁"])]
    status, renamed = _json(api, "patch", f"/api/catalog/categories/{leaf_id}", {"name": "纸品"})
    assert (status, renamed["name"]) == (200, "纸品")
    status, _ = _json(api, "delete", f"/api/catalog/categories/{leaf_id}")
    assert status == 204
    assert Category.objects.count() == 1


def test_product_crud(api: Client) -> None:
    leaf_id = _leaf(api)
    status, made = _json(api, "post", "/api/catalog/products", _product(leaf_id))
    assert status == 201
    assert [(s["code"], s["price_fen"], s["member_price_fen"]) for s in made["skus"]] == [
        ("TS-6", 1990, 1790), ("TS-12", 3790, None)]
    status, page = _json(api, "get", "/api/catalog/products?q=抽纸&role=traffic")
    assert (status, page["total"], page["items"][0]["min_price_fen"], page["items"][0]["total_stock"]) == (
        200, 1, 1990, 80)
    first = made["skus"][0]
    row = {k: first[k] for k in ("id", "code", "specs", "member_price_fen")}
    body = _product(leaf_id, name="抽纸 3层", skus=[{**row, "price_fen": 2190, "stock": 60, "stock_seen": 50}])
    status, changed = _json(api, "put", f"/api/catalog/products/{made['id']}", body)
    assert status == 200, changed
    assert [(s["code"], s["price_fen"], s["stock"], s["is_active"]) for s in changed["skus"]] == [
        ("TS-6", 2190, 60, True), ("TS-12", 3790, 30, False)]
    status, sku = _json(api, "patch", f"/api/catalog/skus/{first['id']}", {"member_price_fen": 1890})
    assert (status, sku["member_price_fen"]) == (200, 1890)
    status, stock = _json(api, "post", f"/api/catalog/skus/{first['id']}/stock", {"delta": -10, "reason": "盘点"})
    assert (status, stock["stock"]) == (200, 50)
    status, added = _json(api, "post", f"/api/catalog/products/{made['id']}/skus",
                          {"code": "TS-24", "specs": {"规格": "24包"}, "price_fen": 6990, "stock": 3})
    assert (status, added["code"]) == (201, "TS-24")
    off = {"product_ids": [made["id"]], "status": "off_sale"}
    status, res = _json(api, "post", "/api/catalog/products/status", off)
    assert (status, res["changed"]) == (200, 1)


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"name": ""}, 422, "required", "name"),
        ({"skus": [{"code": "A", "price_fen": -1}]}, 422, "negative_price", "skus[0].price"),
        ({"skus": [{"code": "A", "price_fen": 100, "member_price_fen": 200}]}, 422, "member_price_too_high",
         "skus[0].member_price"),
        ({"skus": [{"code": "A", "specs": {"色": "红"}, "price_fen": 1}, {"code": "B", "specs": {"色": "红"},
                                                                         "price_fen": 1}]},
         422, "duplicate_specs", "skus[1].specs"),
        ({"category_id": 999_999}, 404, "not_found", "category_id"),
        ({"skus": [{"code": "A", "price_fen": "1.5"}]}, 422, "invalid", "skus[0].price_fen"),
        ({"skus": [{"code": "A", "price_fen": 1, "colour": "red"}]}, 422, "invalid", "skus[0].colour"),
    ],
)
def test_bad_products_get_field_errors_and_nothing_is_written(
    api: Client, change: dict[str, Any], status: int, code: str, field: str
) -> None:
    got_status, body = _json(api, "post", "/api/catalog/products", _product(_leaf(api), **change))
    assert (got_status, body["code"], body["field"]) == (status, code, field)
    assert Product.objects.count() == 0 and Sku.objects.count() == 0


def test_store_staff_read_but_cannot_write(api: Client, store_api: Client) -> None:
    leaf_id = _leaf(api)
    assert _json(store_api, "get", "/api/catalog/categories")[0] == 200
    status, body = _json(store_api, "post", "/api/catalog/products", _product(leaf_id))
    assert (status, body["code"]) == (403, "forbidden")
    assert Product.objects.count() == 0


def test_unauthenticated(client: Client) -> None:
    assert client.get("/api/catalog/products").status_code == 401


def test_bundle_crud(api: Client) -> None:
    leaf_id = _leaf(api)
    _, p = _json(api, "post", "/api/catalog/products", _product(leaf_id))
    six, twelve = (s["id"] for s in p["skus"])
    body = {"name": "囤货装", "price_fen": 7000, "status": "on_sale",
            "items": [{"sku_id": six, "quantity": 2}, {"sku_id": twelve, "quantity": 1}]}
    status, made = _json(api, "post", "/api/catalog/bundles", body)
    # Parts: 2 × 1990 + 3790 = 7770; available min(50 // 2, 30 // 1) = 25.
    assert (status, made["list_price_fen"], made["available"]) == (201, 7770, 25)
    status, changed = _json(api, "put", f"/api/catalog/bundles/{made['id']}", {**body, "price_fen": 6900})
    assert (status, changed["price_fen"]) == (200, 6900)
    status, err = _json(api, "post", "/api/catalog/bundles", {**body, "price_fen": 8000})
    assert (status, err["code"], err["field"]) == (422, "bundle_price_above_components", "price")
    status, err = _json(api, "post", "/api/catalog/bundles", {**body, "items": [{"sku_id": 999_999, "quantity": 2}]})
    assert (status, err["code"], err["field"], err["index"]) == (404, "unknown_sku", "items[0].sku_id", 0)
    assert Bundle.objects.count() == 1
    status, listed = _json(api, "get", "/api/catalog/bundles")
    assert [b["name"] for b in listed] == ["囤货装"]
