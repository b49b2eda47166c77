"""Reviews (UGC) on the mall's product page: approved review submissions about that product only, newest first,
the reviewer's name masked; pending and rejected ones, photos-only posts and other products' reviews never show."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.content import services as content
from siyu.content.queries import mask_name
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import Shop
from tests.storefront.mall.conftest import base

pytestmark = pytest.mark.django_db


def _review(shop: Shop, name: str, text: str, product_id: int) -> int:
    customer = CustomerFactory.create(enterprise=shop.org.enterprise, name=name)
    return content.submit_ugc(enterprise_id=shop.enterprise_id, customer_id=customer.pk, kind="review", text=text,
                              product_id=product_id).pk


def test_only_approved_reviews_of_the_product_show_with_masked_names(org: Org, mall_shop: Shop) -> None:
    pan = mall_shop.pan.product_id
    first = _review(mall_shop, "王小明", "锅很好用，不粘。", pan)
    second = _review(mall_shop, "李四", "发货快", pan)
    pending = _review(mall_shop, "赵六", "还在审核的评价", pan)
    rejected = _review(mall_shop, "钱七", "被拒绝的评价", pan)
    other = _review(mall_shop, "孙八", "纸巾柔软", mall_shop.tissue.product_id)
    for sid in (first, second, other):
        content.approve_ugc(scope=mall_shop.hq, submission_id=sid)
    content.reject_ugc(scope=mall_shop.hq, submission_id=rejected, reason="广告")
    assert pending

    html = Client().get(f"{base(org)}/products/{pan}/").content.decode()
    section = re.search(r'<section class="reviews".*?</section>', html, re.S)
    assert section is not None
    text = section.group(0)
    assert "买家评价（2）" in text
    assert re.findall(r'<strong class="who">([^<]+)</strong>', text) == ["李**", "王**"]  # newest approval first
    assert "锅很好用" in text and "发货快" in text
    for hidden in ("还在审核", "被拒绝", "纸巾柔软", "王小明", "李四"):
        assert hidden not in html


def test_a_product_without_reviews_has_no_section(org: Org, mall_shop: Shop) -> None:
    html = Client().get(f"{base(org)}/products/{mall_shop.tissue.product_id}/").content.decode()
    assert 'class="reviews"' not in html


def test_mask_name() -> None:
    assert [mask_name(n) for n in ("王小明", "李", "", "  ")] == ["王**", "李**", "匿名用户", "匿名用户"]
