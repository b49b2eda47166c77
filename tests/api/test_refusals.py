"""The API refuses what it cannot honour: a query parameter no operation declares (a filter silently ignored answers
a different question than the one asked) and a create with nothing in it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from siyu.api.main import api
from siyu.customers.models import Customer
from siyu.org.services import create_api_token
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import build_shop, line

pytestmark = pytest.mark.django_db


def _operations(method: str) -> list[tuple[str, dict[str, Any]]]:
    schema = api.get_openapi_schema()
    return [(path, ops[method]) for path, ops in schema["paths"].items() if method in ops]


GETS = _operations("get")


def _hq_headers(org: Org) -> dict[str, str]:
    _token, secret = create_api_token(staff=org.hq, name="refusals")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(("path", "op"), GETS, ids=[p for p, _ in GETS])
def test_an_unknown_query_parameter_is_refused_naming_it(org: Org, path: str, op: dict[str, Any]) -> None:
    url = re.sub(r"\{[^}]+\}", "1", path)
    response = Client().get(url, {"bogus_param": "1"}, headers=_hq_headers(org))
    assert response.status_code == 400, (url, response.status_code, response.content[:200])
    body = response.json()
    assert body["field"] == "bogus_param" and body["code"] == "unknown_parameter"
    assert "bogus_param" in body["message"]


def test_declared_parameters_still_pass(org: Org) -> None:
    headers = _hq_headers(org)
    assert len(GETS) > 50
    response = Client().get("/api/customers", {"q": "x", "page": "1", "page_size": "5"}, headers=headers)
    assert response.status_code == 200, response.content
    one_bad = Client().get("/api/customers", {"q": "x", "store": "1"}, headers=headers)
    assert (one_bad.status_code, one_bad.json()["field"]) == (400, "store")


def test_an_unknown_query_parameter_on_a_write_is_refused(org: Org) -> None:
    response = Client().post("/api/customers?dry_run=1", json.dumps({"name": "Li Lei"}),
                             content_type="application/json", headers=_hq_headers(org))
    assert (response.status_code, response.json()["field"]) == (400, "dry_run")
    assert not Customer.objects.filter(name="Li Lei").exists()


@pytest.mark.parametrize("body", [{}, {"name": "", "phone": ""}, {"name": "   "}, {"gender": "male", "region": "沪"}])
def test_an_empty_customer_is_refused(org: Org, api_as: Any, body: dict[str, Any]) -> None:
    before = Customer.objects.count()
    response = api_as(org.hq).post("/api/customers", body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "name" and response.json()["code"] == "required"
    assert Customer.objects.count() == before


@pytest.mark.parametrize("body", [{"name": "Li Lei"}, {"phone": "13800138000"},
                                  {"identities": [{"kind": "unionid", "value": "o6_bmasdasdsad6_2sgVt7hMZOPfL"}]}])
def test_a_customer_with_a_name_phone_or_identity_is_created(org: Org, api_as: Any, body: dict[str, Any]) -> None:
    response = api_as(org.hq).post("/api/customers", body)
    assert response.status_code == 201, response.content


def test_admin_orders_filter_by_customer_id(org: Org) -> None:
    shop = build_shop(org)
    other = CustomerFactory.create(enterprise=org.enterprise, name="顾客乙")
    mine = [shop.order(line(shop.tissue)), shop.order(line(shop.tissue))]
    theirs = shop.order(line(shop.tissue), customer=other)
    hq = Api(create_api_token(staff=org.hq, name="hq")[1])
    listed = hq.get("/api/admin/orders", customer_id=str(shop.customer.pk)).json()
    assert sorted(o["id"] for o in listed["items"]) == sorted(o.pk for o in mine)
    assert listed["total"] == 2
    assert [o["id"] for o in hq.get("/api/admin/orders", customer_id=str(other.pk)).json()["items"]] == [theirs.pk]
    assert hq.get("/api/admin/orders", customer_id="999999").json()["total"] == 0


def test_admin_orders_customer_filter_stays_in_scope(org: Org) -> None:
    shop = build_shop(org)
    at_n1 = shop.order(line(shop.tissue), fulfillment="pickup", store_id=org.store_n1.pk)
    manager = Api(create_api_token(staff=org.n1_manager, name="n1")[1])
    outsider = Api(create_api_token(staff=org.s1_staff, name="s1")[1])
    found = manager.get("/api/admin/orders", customer_id=str(shop.customer.pk)).json()
    assert [o["id"] for o in found["items"]] == [at_n1.pk]
    assert outsider.get("/api/admin/orders", customer_id=str(shop.customer.pk)).json()["total"] == 0


# Found by the schemathesis run (tests/api/test_schemathesis.py): each was a 500.


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/tags/bulk-tag", {"customer_ids": [1], "tag_ids": [2**63]}),
    ("post", "/api/tags/bulk-untag", {"customer_ids": [2**63], "tag_ids": [1]}),
    ("post", f"/api/admin/orders/{2**63}/ship", {}),
])
def test_a_number_beyond_the_database_is_a_400(org: Org, method: str, path: str, body: dict[str, Any]) -> None:
    response = Client().generic(method.upper(), path, json.dumps(body), content_type="application/json",
                                headers=_hq_headers(org))
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["code"]


@pytest.mark.parametrize(("path", "body"), [
    ("/api/catalog/products", {"category_id": 1, "name": "x", "skus": [{"code": "A", "price_fen": 1}],
                               "currency": "rmb"}),
    ("/api/catalog/bundles", {"items": [], "name": "x", "price_fen": 100, "currency": "orders/presales.html"}),
])
def test_a_currency_that_is_not_iso_4217_is_refused_naming_it(org: Org, path: str, body: dict[str, Any]) -> None:
    response = Client().post(path, json.dumps(body), content_type="application/json", headers=_hq_headers(org))
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["field"] == "currency"


@pytest.mark.parametrize("path", ["/api/catalog/products", "/api/admin/orders", "/api/admin/after-sales",
                                  "/api/promotions/coupons"])
def test_an_absurd_page_number_is_refused_naming_it(org: Org, path: str) -> None:
    response = Client().get(path, {"page": "461168601842738792"}, headers=_hq_headers(org))
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["field"] == "page"
