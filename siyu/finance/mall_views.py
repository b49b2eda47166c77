"""The H5 mall's pay page (/m/<enterprise>/orders/<id>/pay/): start (or resume) the order's WeChat Pay JSAPI
payment through the one payment path (services.start_payment: the Payment row is committed before the platform
hears of it, asking again reuses it) and hand the parameters to WeChat's payment sheet (WeixinJSBridge). Against the
simulator, the page links to its payment sheet instead. The paid state arrives with the platform's notify."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from siyu.finance import queries, services
from siyu.orders import queries as order_queries
from siyu.storefront import queries as storefront_queries
from siyu.storefront.mall_auth import Mall, mall_page, shopper


@require_POST
@mall_page(login=True)
def mall_pay(request: HttpRequest, mall: Mall, order_id: int) -> HttpResponse:
    me = shopper(mall)
    storefront_queries.my_order(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order_id)
    started = services.start_payment(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order_id,
                                     openid=order_queries.session_openid(me.session_id))
    back = request.build_absolute_uri(mall.url("order", order_id)) + "?paid=1"
    return render(request, "storefront/mall/pay.html", {
        "mall": mall, "order_id": order_id, "amount_fen": started.amount_fen, "back": back,
        "params": json.dumps(started.params), "cashier": queries.sandbox_cashier_url(
            enterprise_id=mall.enterprise_id, out_trade_no=started.out_trade_no, return_url=back),
    })
