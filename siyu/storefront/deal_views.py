"""The mall's presale (预售) and group-buy (拼团) pages: lists of what runs now, a detail page each, and the forms
that put down a presale deposit or open / join a group-buy team. Placing goes through the orders app's presale
service and the one checkout (priced by the pricing engine; nothing priced from the form), each once per form key;
the order's page then pays the deposit, the balance or the group price through the one payment path."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from siyu.core.errors import DomainError, NotFound, ValidationFailed
from siyu.orders import queries as order_queries
from siyu.orders.services import presale
from siyu.promotions import queries as promotion_queries
from siyu.storefront import mall_auth, queries
from siyu.storefront.mall_auth import Mall, mall_page, shopper
from siyu.storefront.services import addresses, cart, checkout
from siyu.storefront.views import _chosen_address, _form_key, _int, _optional_int


def _page(request: HttpRequest, mall: Mall, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"storefront/mall/{template}", {"mall": mall, **context}, status=status)


def _form_context(request: HttpRequest, mall: Mall) -> dict[str, Any]:
    data = request.POST if request.method == "POST" else request.GET
    book = queries.addresses(enterprise_id=mall.enterprise_id, customer_id=mall.shopper.customer_id) \
        if mall.shopper else []
    return {"addresses": book, "form_key": data.get("form_key") or uuid.uuid4().hex,
            "chosen_address_id": _optional_int(data.get("address_id")) or (book[0].pk if book else None),
            "typed": {k: data.get(k, "")[:200] for k in ("name", "phone", "region", "detail")}}


def _address_of(request: HttpRequest, mall: Mall) -> dict[str, str]:
    address = _chosen_address(request, mall, request.POST)
    if address is None:
        raise ValidationFailed(_("choose or enter a delivery address"), field="address", code="address_required")
    return address


def _placed(mall: Mall, key: str) -> int | None:
    return queries.my_order_by_key(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                                   idempotency_key=key)


# ---------------------------------------------------------------------------------------------------------------
# Presale


def _running_presale(mall: Mall, presale_id: int) -> Any:
    found = [p for p in order_queries.running_presales(enterprise_id=mall.enterprise_id) if p.pk == presale_id]
    if not found:
        raise NotFound(_("this presale is not taking deposits"), field="presale_id", code="unknown_presale")
    return found[0]


@require_GET
@mall_page()
def presale_list(request: HttpRequest, mall: Mall) -> HttpResponse:
    return _page(request, mall, "presales.html", {
        "presales": order_queries.running_presales(enterprise_id=mall.enterprise_id)})


@mall_page()
def presale_detail(request: HttpRequest, mall: Mall, presale_id: int) -> HttpResponse:
    found = _running_presale(mall, presale_id)
    context = {"presale": found, "balance_fen": found.price_fen - found.deposit_fen, **_form_context(request, mall)}
    if request.method != "POST":
        return _page(request, mall, "presale.html", context)
    if mall.shopper is None:
        return redirect(f"{mall.url('login')}?next={mall.url('presale', presale_id)}")
    key = f"h5:{_form_key(request.POST.get('form_key'))}"
    if (done := _placed(mall, key)) is not None:
        return redirect(mall.url("order", done))
    try:
        address = _address_of(request, mall)
        order = presale.place_presale_order(
            enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id, presale_id=found.pk,
            quantity=_int(request.POST.get("quantity", "1"), "quantity"), idempotency_key=key,
            data=checkout.CheckoutInput(address=address, attribution=mall_auth.attribution(request,
                                                                                           mall.enterprise_id)))
    except DomainError as exc:
        return _page(request, mall, "presale.html", context | {"problem": exc}, status=exc.status)
    addresses.remember_address(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                               fields=address)
    return redirect(mall.url("order", order.pk))


# ---------------------------------------------------------------------------------------------------------------
# Group buy


@require_GET
@mall_page()
def group_buy_list(request: HttpRequest, mall: Mall) -> HttpResponse:
    return _page(request, mall, "group_buys.html", {
        "group_buys": promotion_queries.running_group_buys(enterprise_id=mall.enterprise_id)})


@mall_page()
def group_buy_detail(request: HttpRequest, mall: Mall, group_buy_id: int) -> HttpResponse:
    found = promotion_queries.running_group_buy(enterprise_id=mall.enterprise_id, group_buy_id=group_buy_id)
    teams = promotion_queries.open_teams(enterprise_id=mall.enterprise_id, group_buy_id=found.pk)
    context = {"group_buy": found, "teams": teams, **_form_context(request, mall)}
    if request.method != "POST":
        return _page(request, mall, "group_buy.html", context)
    if mall.shopper is None:
        return redirect(f"{mall.url('login')}?next={mall.url('group_buy', group_buy_id)}")
    key = f"h5:{_form_key(request.POST.get('form_key'))}"
    if (done := _placed(mall, key)) is not None:
        return redirect(mall.url("order", done))
    team_id = _optional_int(request.POST.get("team_id"))
    try:
        if team_id is not None and team_id not in {t.pk for t in teams}:
            raise ValidationFailed(_("this team is full or closed; open a new one"), field="team_id",
                                   code="team_closed")
        address = _address_of(request, mall)
        order = checkout.place_order(
            enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id, idempotency_key=key,
            data=checkout.CheckoutInput(
                lines=[cart.LineInput(quantity=1, sku_id=found.sku_id, group_buy_id=found.pk)],
                group_team_id=team_id, address=address,
                attribution=mall_auth.attribution(request, mall.enterprise_id)))
    except DomainError as exc:
        return _page(request, mall, "group_buy.html", context | {"problem": exc}, status=exc.status)
    addresses.remember_address(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                               fields=address)
    return redirect(mall.url("order", order.pk))
