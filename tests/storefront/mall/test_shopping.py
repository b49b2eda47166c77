"""Browsing, cart, checkout, pay, orders, after-sale and the coupon centre on the H5 mall, through the test client.

Hand-worked figures (tests.orders.helpers.build_shop): tissue ¥19.90 (stock 50), pan ¥299.00 (stock 5); free shipping
over ¥99, else ¥10. Two tissues and one pan: 2 × 1,990 + 29,900 = 33,880 fen, shipping free. With the claimed coupon
"领券满100减20" (¥20 off over ¥100): 33,880 − 2,000 = 31,880 fen."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from siyu.finance.models import Payment
from siyu.orders.models import AfterSale, CartItem, Order
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.storefront.models import MallAddress
from tests.conftest import Org
from tests.orders.helpers import Shop, paid
from tests.storefront.mall.conftest import Platforms, base, sms_sign_in

pytestmark = pytest.mark.django_db

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 静安区", "detail": "南京西路1号"}


def _form_key(page: Any) -> str:
    found = re.search(rb'name="form_key" value="([0-9a-f]{32})"', page.content)
    assert found, page.content[:400]
    return found.group(1).decode()


def _shopper(client: Client, org: Org, platforms: Platforms, phone: str = "13700001111") -> None:
    assert sms_sign_in(client, org, platforms, phone).status_code == 302


def _add(client: Client, org: Org, shop: Shop, sku: Any, quantity: int) -> Any:
    return client.post(f"{base(org)}/products/{sku.product_id}/", {"sku_id": sku.pk, "quantity": quantity,
                                                                   "then": "cart"})


def test_home_page_is_small_chinese_and_lists_what_is_on_sale(client: Client, org: Org, mall_shop: Shop) -> None:
    page = client.get(f"{base(org)}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "抽纸" in html and "不粘锅" in html and "领券满100减20" in html and 'lang="zh-CN"' in html
    assets = re.findall(r'(?:href|src)="/static/([^"]+\.(?:css|js))"', html)
    assert sorted(assets) == ["storefront/mall.css", "vendor/htmx.min.js"]
    size = len(page.content)
    for asset in assets:
        found = finders.find(asset)
        assert isinstance(found, str), asset
        with open(found, "rb") as fh:
            size += len(fh.read())
    assert size < 150 * 1024, size


def test_search_and_category_filter(client: Client, org: Org, mall_shop: Shop) -> None:
    found = client.get(f"{base(org)}/products/", {"q": "抽纸"}).content.decode()
    assert "抽纸" in found and "不粘锅" not in found
    category = mall_shop.pan.product.category_id
    listed = client.get(f"{base(org)}/products/", {"category": category}).content.decode()
    assert "不粘锅" in listed and "抽纸" not in listed
    assert client.get(f"{base(org)}/products/", {"category": "x" * 5000, "page": "-3"}).status_code == 200


def test_product_page_shows_skus_stock_and_member_price(client: Client, org: Org, mall_shop: Shop) -> None:
    page = client.get(f"{base(org)}/products/{mall_shop.pan.product_id}/").content.decode()
    assert "¥299.00" in page and "库存 5" in page


def test_cart_needs_sign_in(client: Client, org: Org, mall_shop: Shop) -> None:
    answer = _add(client, org, mall_shop, mall_shop.tissue, 1)
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert CartItem.objects.count() == 0


def test_checkout_prices_on_the_server_whatever_the_form_says(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    _shopper(client, org, platforms)
    assert _add(client, org, mall_shop, mall_shop.tissue, 2).status_code == 302
    assert _add(client, org, mall_shop, mall_shop.pan, 1).status_code == 302
    centre = client.get(f"{base(org)}/coupons/")
    template = CouponTemplate.objects.get(name="领券满100减20")
    claimed = client.post(f"{base(org)}/coupons/{template.pk}/claim/", {"form_key": _form_key(centre)})
    assert claimed.status_code == 302
    coupon = Coupon.objects.get(template=template)
    page = client.get(f"{base(org)}/checkout/", {"coupon_id": coupon.pk})
    assert "¥318.80" in page.content.decode()  # 33,880 − 2,000
    placed = client.post(f"{base(org)}/checkout/", {
        "form_key": _form_key(page), "coupon_id": coupon.pk, **ADDRESS,
        # forged: prices, totals and quantities are not the form's to say
        "amount_fen": "1", "price_fen": "1", "payable_fen": "1", "quantity": "100", "sku_id": mall_shop.pan.pk,
    })
    assert placed.status_code == 302, placed.content.decode()[:2000]
    order = Order.objects.get()
    assert (order.amount_fen, order.coupon_discount_fen, order.shipping_fen) == (31_880, 2_000, 0)
    assert sorted(order.lines.values_list("quantity", "unit_price_fen")) == [(1, 29_900), (2, 1_990)]
    assert CartItem.objects.count() == 0
    assert MallAddress.objects.filter(detail="南京西路1号").count() == 1
    # The same form again (a double tap) is the same order.
    again = client.post(f"{base(org)}/checkout/", {"form_key": _form_key(page), **ADDRESS})
    assert again.status_code == 302 and again["Location"] == placed["Location"]
    assert Order.objects.count() == 1


@pytest.mark.parametrize("quantity", ["0", "-1", "100000", "abc", "1e3"])
def test_a_tampered_cart_quantity_is_refused_with_its_field(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms, quantity: str,
) -> None:
    _shopper(client, org, platforms)
    _add(client, org, mall_shop, mall_shop.tissue, 1)
    item = CartItem.objects.get()
    answer = client.post(f"{base(org)}/cart/", {"item_id": item.pk, "quantity": quantity})
    assert answer.status_code == 422
    assert b'data-field="quantity"' in answer.content
    item.refresh_from_db()
    assert item.quantity == 1


def test_a_sku_of_another_product_or_brand_cannot_be_added(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    _shopper(client, org, platforms)
    answer = client.post(f"{base(org)}/products/{mall_shop.tissue.product_id}/",
                         {"sku_id": mall_shop.pan.pk, "quantity": 1})
    assert answer.status_code == 422
    assert CartItem.objects.count() == 0
    assert _add(client, org, mall_shop, mall_shop.pan, 6).status_code == 302  # five in stock: the cart holds it
    assert client.get(f"{base(org)}/checkout/").status_code == 409  # the breakdown says there is not enough
    short = client.post(f"{base(org)}/checkout/", {"form_key": "a" * 32, **ADDRESS})
    assert short.status_code == 409
    assert Order.objects.count() == 0
    mall_shop.pan.refresh_from_db()
    assert mall_shop.pan.stock == 5


def test_another_customers_order_is_404(client: Client, org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    theirs = Client()
    _shopper(theirs, org, platforms, "13700002222")
    _add(theirs, org, mall_shop, mall_shop.tissue, 1)
    page = theirs.get(f"{base(org)}/checkout/")
    theirs.post(f"{base(org)}/checkout/", {"form_key": _form_key(page), **ADDRESS})
    order = Order.objects.get()
    _shopper(client, org, platforms, "13700003333")
    for path in ("", "after-sale/"):
        assert client.get(f"{base(org)}/orders/{order.pk}/{path}").status_code == 404
    assert client.post(f"{base(org)}/orders/{order.pk}/cancel/").status_code == 404
    assert client.post(f"{base(org)}/orders/{order.pk}/pay/").status_code == 404
    assert "13700002222" not in client.get(f"{base(org)}/orders/").content.decode()
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_a_shared_link_attributes_the_order_to_the_staff_member(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    client.get(f"{base(org)}/products/{mall_shop.tissue.product_id}/",
               {"staff_id": str(org.n1_staff.pk), "campaign": "spring", "channel_code": "qr-n1"})
    _shopper(client, org, platforms)
    _add(client, org, mall_shop, mall_shop.tissue, 1)
    page = client.get(f"{base(org)}/checkout/")
    client.post(f"{base(org)}/checkout/", {"form_key": _form_key(page), **ADDRESS})
    order = Order.objects.get()
    assert (order.staff_id, order.campaign, order.channel_state, order.channel) == (
        org.n1_staff.pk, "spring", "qr-n1", "official_account")


def test_pay_starts_one_jsapi_payment_and_links_to_the_simulated_sheet(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms, merchant: Any, oa_account: Any,
) -> None:
    from tests.storefront.mall.conftest import oauth_sign_in

    platforms.state.oa.add_follower(oa_account.app_id, openid="oPayer1", unionid="ou_payer_1")
    oauth_sign_in(client, org, "oPayer1")
    _add(client, org, mall_shop, mall_shop.tissue, 1)
    page = client.get(f"{base(org)}/checkout/")
    client.post(f"{base(org)}/checkout/", {"form_key": _form_key(page), **ADDRESS})
    order = Order.objects.get()
    first = client.post(f"{base(org)}/orders/{order.pk}/pay/")
    second = client.post(f"{base(org)}/orders/{order.pk}/pay/")
    assert first.status_code == second.status_code == 200
    payment = Payment.objects.get()
    assert (payment.amount_fen, payment.openid) == (2_990, "oPayer1")  # ¥19.90 + ¥10 shipping
    assert f"/pay/sim/cashier?mchid={merchant.mch_id}" in first.content.decode()
    sim_order = platforms.state.wechatpay.order(merchant.mch_id, payment.out_trade_no)
    assert sim_order is not None and sim_order.total == 2_990 and sim_order.openid == "oPayer1"


def test_after_sale_request_on_a_paid_order(client: Client, org: Org, mall_shop: Shop, platforms: Platforms) -> None:
    _shopper(client, org, platforms)
    _add(client, org, mall_shop, mall_shop.tissue, 1)
    page = client.get(f"{base(org)}/checkout/")
    client.post(f"{base(org)}/checkout/", {"form_key": _form_key(page), **ADDRESS})
    order = paid(mall_shop, Order.objects.get())
    assert client.post(f"{base(org)}/orders/{order.pk}/after-sale/", {"kind": "refund_only", "reason": ""}) \
        .status_code == 422
    done = client.post(f"{base(org)}/orders/{order.pk}/after-sale/", {"kind": "refund_only", "reason": "不想要了"})
    assert done.status_code == 302
    after = AfterSale.objects.get()
    assert (after.order_id, after.kind, after.reason) == (order.pk, "refund_only", "不想要了")
    assert client.post(f"{base(org)}/orders/{order.pk}/after-sale/",
                       {"kind": "refund_only", "reason": "再来一次"}).status_code == 409
    assert AfterSale.objects.count() == 1
    assert "售后" in client.get(f"{base(org)}/orders/{order.pk}/").content.decode()


def test_claiming_twice_with_one_form_is_one_coupon(
    client: Client, org: Org, mall_shop: Shop, platforms: Platforms,
) -> None:
    _shopper(client, org, platforms)
    centre = client.get(f"{base(org)}/coupons/")
    template = CouponTemplate.objects.get(name="领券满100减20")
    key = _form_key(centre)
    for _ in range(2):
        assert client.post(f"{base(org)}/coupons/{template.pk}/claim/", {"form_key": key}).status_code == 302
    assert Coupon.objects.filter(template=template).count() == 1
    other_key = client.post(f"{base(org)}/coupons/{template.pk}/claim/", {"form_key": "f" * 32})
    assert other_key.status_code == 409  # one per customer
    assert Coupon.objects.filter(template=template).count() == 1
