"""The store-design components beyond banner/grid/coupons: category navigation, best sellers (units on orders paid
in the last 30 days), a flash sale's countdown, a group-buy block, image hot-zones and the store selector: each
validated (with the JSON path and a code for every problem), published, and rendered on the mall's home page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.money import Money
from siyu.orders.services import states
from siyu.promotions import services as promotions
from siyu.storefront.models import StorePage
from tests.catalog.helpers import leaf, product, sku
from tests.conftest import Org
from tests.factories import StoreFactory
from tests.orders.helpers import Shop, line
from tests.storefront.mall.conftest import base

pytestmark = pytest.mark.django_db
API = "/api/storefront-admin"


def _hq(org: Org) -> Client:
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    return client


def _publish(org: Org, components: list[dict[str, Any]]) -> Any:
    hq = _hq(org)
    page = hq.post(f"{API}/pages", json.dumps({"store_id": None}), content_type="application/json").json()
    saved = hq.put(f"{API}/pages/{page['id']}/draft", json.dumps({"document": {"schema": 1, "components": components}}),
                   content_type="application/json")
    if saved.status_code != 200:
        return saved
    return hq.post(f"{API}/pages/{page['id']}/publish", "{}", content_type="application/json")


def _home(org: Org) -> str:
    response = Client().get(f"{base(org)}/")
    assert response.status_code == 200
    return response.content.decode()


def _section(html: str, kind: str) -> str:
    found = re.search(rf'<(?:section|nav|form) class="[^"]*" data-component="{kind}".*?</(?:section|nav|form)>', html,
                      re.S)
    assert found is not None, f"no {kind} block"
    return found.group(0)


def _paid_order(shop: Shop, target: Any, quantity: int, *, days_ago: int) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    order = shop.order(line(target, quantity), now=when)
    states.mark_paid(order_id=order.pk, paid_at=when, payment_ref=f"pay-{order.pk}")


def test_best_sellers_count_units_paid_in_the_last_30_days(org: Org, mall_shop: Shop) -> None:
    kettle = product(mall_shop.hq, "电水壶", sku("KETTLE", 15900, stock=100),
                     category=leaf(mall_shop.hq, "家电", "厨电"))
    kettle_sku = kettle.skus.get()
    _paid_order(mall_shop, mall_shop.tissue, 3, days_ago=2)   # tissue: 3 units this month
    _paid_order(mall_shop, mall_shop.pan, 1, days_ago=29)     # pan: 1 unit, just inside the window
    _paid_order(mall_shop, kettle_sku, 5, days_ago=31)        # kettle: 5 units, but paid 31 days ago
    mall_shop.order(line(kettle_sku, 4))                      # and 4 more on an unpaid order: neither counts
    published = _publish(org, [{"type": "product_grid", "title": "热销榜", "source": "best_sellers", "limit": 5}])
    assert published.status_code == 200, published.content
    grid = _section(_home(org), "product_grid")
    names = re.findall(r'<span class="name">([^<]+)</span>', grid)
    assert names == ["抽纸", "不粘锅"]


def test_category_nav_shows_the_chosen_categories_in_order(org: Org, mall_shop: Shop) -> None:
    pans, paper = mall_shop.pan.product.category_id, mall_shop.tissue.product.category_id
    published = _publish(org, [{"type": "category_nav", "title": "逛分类", "category_ids": [pans, paper]}])
    assert published.status_code == 200
    nav = _section(_home(org), "category_nav")
    assert re.findall(r"category=(\d+)\">([^<]+)<", nav) == [(str(pans), "厨具"), (str(paper), "纸品清洁")]


def test_flash_sale_block_counts_down_to_the_sales_end(org: Org, mall_shop: Shop) -> None:
    now = timezone.now()
    sale = promotions.create_flash_sale(scope=mall_shop.hq, data=promotions.FlashSaleInput(
        name="午间秒杀", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=2), items=[
            promotions.FlashItemInput(sku_id=mall_shop.tissue.pk, flash_price=Money(990), flash_stock=10)]))
    assert _publish(org, [{"type": "flash_sale", "title": "秒杀", "flash_sale_id": sale.pk}]).status_code == 200
    block = _section(_home(org), "flash_sale")
    left = int(re.search(r'data-left="(\d+)"', block).group(1))  # type: ignore[union-attr]
    assert 2 * 3600 - 60 <= left <= 2 * 3600
    shanghai = timezone.localtime(sale.ends_at, timezone.get_fixed_timezone(480))
    assert f"{shanghai:%m}月{shanghai:%d}日 {shanghai:%H:%M} 结束" in block  # readable without JavaScript
    assert "抽纸" in block and "¥9.90" in block


def test_a_flash_sale_that_has_ended_shows_nothing(org: Org, mall_shop: Shop) -> None:
    now = timezone.now()
    sale = promotions.create_flash_sale(scope=mall_shop.hq, data=promotions.FlashSaleInput(
        name="昨日秒杀", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1), items=[
            promotions.FlashItemInput(sku_id=mall_shop.tissue.pk, flash_price=Money(990), flash_stock=10)]))
    assert _publish(org, [{"type": "notice", "text": "欢迎"},
                          {"type": "flash_sale", "flash_sale_id": sale.pk}]).status_code == 200
    assert 'data-component="flash_sale"' not in _home(org)


def test_group_buy_block_lists_running_group_buys(org: Org, mall_shop: Shop) -> None:
    now = timezone.now()
    group = promotions.create_group_buy(scope=mall_shop.hq, data=promotions.GroupBuyInput(
        name="三人团不粘锅", sku_id=mall_shop.pan.pk, group_price=Money(19900), starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1), group_size=3))
    assert _publish(org, [{"type": "group_buy", "group_buy_ids": [group.pk]}]).status_code == 200
    block = _section(_home(org), "group_buy")
    assert "三人团不粘锅" in block and "¥199.00" in block and "3人团" in block


def test_hotzones_render_as_positioned_links(org: Org, mall_shop: Shop) -> None:
    link = f"{base(org)}/products/{mall_shop.pan.product_id}/"
    assert _publish(org, [{"type": "hotzone", "image_url": "/static/a.jpg", "zones": [
        {"x": 10, "y": 20.5, "w": 30, "h": 40, "link": link, "label": "锅"}]}]).status_code == 200
    block = _section(_home(org), "hotzone")
    assert f'href="{link}" style="left:10%;top:20.5%;width:30%;height:40%"' in block


def test_store_selector_lists_open_stores_and_switches_the_page(org: Org, mall_shop: Shop) -> None:
    StoreFactory.create(region=org.store_n1.region, code="closed-1", name="已关门店", is_active=False)
    assert _publish(org, [{"type": "store_selector", "title": "附近门店"}]).status_code == 200
    block = _section(_home(org), "store_selector")
    assert "已关门店" not in block
    assert org.store_n1.name in block and f'value="{org.store_n1.code}"' in block


@pytest.mark.parametrize(("component", "path", "code"), [
    ({"type": "hotzone", "image_url": "/a.jpg", "zones": [
        {"x": 0, "y": 0, "w": 10, "h": 10, "link": "https://evil.example/"}]}, "components[0].zones[0].link",
     "not_mall_path"),
    ({"type": "hotzone", "image_url": "/a.jpg", "zones": [
        {"x": 0, "y": 0, "w": 10, "h": 10, "link": "/m/another-brand/products/"}]}, "components[0].zones[0].link",
     "not_mall_path"),
    ({"type": "hotzone", "image_url": "/a.jpg", "zones": [
        {"x": 80, "y": 0, "w": 30, "h": 10, "link": "/m/{code}/"}]}, "components[0].zones[0].w", "zone_outside"),
    ({"type": "hotzone", "image_url": "/a.jpg", "zones": [
        {"x": -1, "y": 0, "w": 10, "h": 10, "link": "/m/{code}/"}]}, "components[0].zones[0].x", "greater_than_equal"),
    ({"type": "hotzone", "image_url": "/a.jpg", "zones": [
        {"x": 0, "y": 0, "w": 10, "h": 101, "link": "/m/{code}/"}]}, "components[0].zones[0].h", "less_than_equal"),
    ({"type": "flash_sale", "title": "秒杀"}, "components[0].flash_sale_id", "required"),
    ({"type": "flash_sale", "flash_sale_id": 987654}, "components[0].flash_sale_id", "unknown_flash_sale"),
    ({"type": "group_buy", "group_buy_ids": [987654]}, "components[0].group_buy_ids[0]", "unknown_group_buy"),
    ({"type": "category_nav", "category_ids": [987654]}, "components[0].category_ids[0]", "unknown_category"),
])
def test_bad_components_are_refused_with_path_and_code(org: Org, mall_shop: Shop, component: dict[str, Any],
                                                       path: str, code: str) -> None:
    component = json.loads(json.dumps(component).replace("{code}", org.enterprise.code))
    refused = _publish(org, [component])
    assert refused.status_code == 422, refused.content
    errors = refused.json()["errors"]
    assert {"path": path, "code": code} in [{"path": e["path"], "code": e["code"]} for e in errors]
    page = StorePage.objects.get(enterprise=org.enterprise, store__isnull=True)
    assert page.draft["components"] == [] and page.published_version is None
