"""The store-design editor in the console, driven as a browser without JavaScript would: every button posts the whole
form; adding, removing and reordering components write nothing; saving refuses a broken page with the message on the
component's field; publishing and rolling back change what the mall's home page serves."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.models import AuditEntry
from siyu.core.money import Money
from siyu.promotions import services as promotions
from siyu.promotions.models import CouponTemplate
from siyu.storefront.models import StorePage, StorePageVersion
from tests.conftest import Org
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import base

pytestmark = pytest.mark.django_db


def _client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _fields(shop: Shop, **extra: Any) -> dict[str, Any]:
    coupon = CouponTemplate.objects.get(enterprise_id=shop.enterprise_id, name="领券满100减20")
    return {"base_revision": "0", "count": "3", "title": "店庆",
            "c0-type": "banner", "c0-slide0-image_url": "/static/storefront/a.jpg", "c0-slide0-link": "",
            "c1-type": "product_grid", "c1-title": "主推", "c1-source": "products",
            "c1-product_ids": [str(shop.pan.product_id)], "c1-limit": "4", "c1-category_id": "",
            "c2-type": "coupon_strip", "c2-title": "领券", "c2-template_ids": [str(coupon.pk)], **extra}


def _open(client: Client) -> int:
    opened = client.post("/store-design/open/", {})
    assert opened.status_code == 302, opened.content
    found = re.search(r"/store-design/pages/(\d+)/", opened["Location"])
    assert found
    return int(found.group(1))


def test_hq_builds_saves_publishes_and_rolls_back_a_page(org: Org, mall_shop: Shop) -> None:
    hq = _client(org.hq)
    assert hq.get("/store-design/").status_code == 200
    page_id = _open(hq)
    url = f"/store-design/pages/{page_id}/"
    editor = hq.get(url)
    assert editor.status_code == 200 and "data-add=\"banner\"" in editor.content.decode()

    added = hq.post(url, {"base_revision": "0", "count": "0", "action": "add:notice"})
    assert added.status_code == 200 and 'data-component="notice"' in added.content.decode()
    assert StorePage.objects.get(pk=page_id).draft_revision == 0  # adding wrote nothing

    moved = hq.post(url, _fields(mall_shop, action="up:2")).content.decode()
    assert moved.index('data-component="coupon_strip"') < moved.index('data-component="product_grid"')

    broken = hq.post(url, _fields(mall_shop, **{"c1-limit": "99", "action": "save"}))
    assert broken.status_code == 422
    assert 'data-field="limit"' in broken.content.decode()
    assert StorePage.objects.get(pk=page_id).draft_revision == 0

    assert hq.post(url, _fields(mall_shop, action="publish")).status_code == 302
    home = Client().get(f"{base(org)}/").content.decode()
    assert "店庆" in home and 'data-version="1"' in home and "不粘锅" in home and "抽纸" not in home

    assert hq.post(url, _fields(mall_shop, base_revision="1", title="第二版", action="publish")).status_code == 302
    assert "第二版" in Client().get(f"{base(org)}/").content.decode()
    preview = hq.post(url, _fields(mall_shop, base_revision="2", title="草稿中", action="preview"))
    assert preview.status_code == 302 and "/preview/" in preview["Location"]
    assert "草稿中" in hq.get(preview["Location"]).content.decode()
    assert "草稿中" not in Client().get(f"{base(org)}/").content.decode()

    assert hq.post(f"{url}rollback/", {"version": "1"}).status_code == 302
    home = Client().get(f"{base(org)}/").content.decode()
    assert "店庆" in home and 'data-version="3"' in home
    assert StorePageVersion.objects.filter(page_id=page_id).count() == 3
    assert AuditEntry.objects.filter(target_type="store_page", action="store_page.rollback").count() == 1
    history = hq.get(url).content.decode()
    assert 'data-rollback="1"' in history and 'data-rollback="2"' in history and 'data-rollback="3"' not in history


def test_only_designers_reach_the_editor(org: Org, mall_shop: Shop) -> None:
    page_id = _open(_client(org.hq))
    assert _client(org.n1_staff).get("/store-design/").status_code == 403
    assert _client(org.north_manager).get(f"/store-design/pages/{page_id}/").status_code == 403
    assert _client(org.n1_manager).get(f"/store-design/pages/{page_id}/").status_code == 404  # HQ's page
    assert _client(org.n1_manager).post(f"/store-design/pages/{page_id}/", _fields(mall_shop)).status_code == 404
    assert Client().get("/store-design/").status_code == 302


def test_the_editor_builds_the_new_components_and_puts_a_bad_zone_on_its_field(org: Org, mall_shop: Shop) -> None:
    hq = _client(org.hq)
    page_id = _open(hq)
    url = f"/store-design/pages/{page_id}/"
    for kind in ("category_nav", "flash_sale", "group_buy", "hotzone", "store_selector"):
        added = hq.post(url, {"base_revision": "0", "count": "0", "action": f"add:{kind}"}).content.decode()
        assert f'data-component="{kind}"' in added
    mine = f"{base(org)}/products/"
    fields = {"base_revision": "0", "count": "3", "action": "save",
              "c0-type": "hotzone", "c0-image_url": "/static/a.jpg",
              "c0-zone0-x": "0", "c0-zone0-y": "0", "c0-zone0-w": "50", "c0-zone0-h": "50", "c0-zone0-link": mine,
              "c0-zone1-x": "60", "c0-zone1-y": "0", "c0-zone1-w": "20", "c0-zone1-h": "50",
              "c0-zone1-link": "https://evil.example/",
              "c1-type": "flash_sale", "c1-title": "秒杀", "c1-flash_sale_id": "",
              "c2-type": "category_nav", "c2-category_ids": [str(mall_shop.pan.product.category_id)]}
    refused = hq.post(url, fields)
    assert refused.status_code == 422
    html = refused.content.decode()
    assert 'data-field="zone1-link"' in html and 'data-field="flash_sale_id"' in html
    assert StorePage.objects.get(pk=page_id).draft_revision == 0  # nothing saved

    now = timezone.now()
    sale = promotions.create_flash_sale(scope=mall_shop.hq, data=promotions.FlashSaleInput(
        name="秒杀场", starts_at=now, ends_at=now + timedelta(hours=1), items=[
            promotions.FlashItemInput(sku_id=mall_shop.tissue.pk, flash_price=Money(990), flash_stock=5)]))
    fields |= {"c0-zone1-link": f"{base(org)}/coupons/", "c1-flash_sale_id": str(sale.pk)}
    saved = hq.post(url, fields)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    draft = StorePage.objects.get(pk=page_id).draft
    assert draft["components"][0]["zones"][1] == {"x": 60.0, "y": 0.0, "w": 20.0, "h": 50.0,
                                                  "link": f"{base(org)}/coupons/", "label": ""}
    assert draft["components"][1]["flash_sale_id"] == sale.pk
    assert draft["components"][2]["category_ids"] == [mall_shop.pan.product.category_id]
