"""The mall's address book page (/m/<brand>/me/addresses/): the signed-in customer's addresses, add, edit, delete
and choose the default. Every row is looked up within the customer's own book, so another customer's address id is
a 404; a bad field comes back on the form with its code."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.storefront import queries
from siyu.storefront.mall_auth import Mall, mall_page, shopper
from siyu.storefront.services import addresses

FIELDS = ("name", "phone", "region", "detail")


def _typed(data: Any) -> dict[str, str]:
    return {k: str(data.get(k, ""))[:200] for k in FIELDS}


def _book(request: HttpRequest, mall: Mall, context: dict[str, Any], status: int = 200) -> HttpResponse:
    me = shopper(mall)
    book = queries.addresses(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                             limit=addresses.MAX_ADDRESSES)
    return render(request, "storefront/mall/addresses.html", {"mall": mall, "book": book, "typed": {}, **context},
                  status=status)


@mall_page(login=True)
def address_book(request: HttpRequest, mall: Mall) -> HttpResponse:
    """GET: the book and an empty form; POST: add the typed address."""
    if request.method != "POST":
        return _book(request, mall, {})
    try:
        addresses.add_address(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                              fields=_typed(request.POST), make_default=request.POST.get("is_default") == "1")
    except DomainError as exc:
        return _book(request, mall, {"problem": exc, "typed": _typed(request.POST)}, status=exc.status)
    return redirect(f"{mall.url('addresses')}?saved=1")


@mall_page(login=True)
def address_edit(request: HttpRequest, mall: Mall, address_id: int) -> HttpResponse:
    me = shopper(mall)
    row = queries.address(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, address_id=address_id)
    context: dict[str, Any] = {"mall": mall, "row": row, "typed": {k: getattr(row, k) for k in FIELDS}}
    if request.method == "POST":
        try:
            addresses.update_address(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                                     address_id=row.pk, fields=_typed(request.POST),
                                     make_default=request.POST.get("is_default") == "1")
        except DomainError as exc:
            return render(request, "storefront/mall/address_edit.html",
                          context | {"problem": exc, "typed": _typed(request.POST)}, status=exc.status)
        return redirect(f"{mall.url('addresses')}?saved=1")
    return render(request, "storefront/mall/address_edit.html", context)


@require_POST
@mall_page(login=True)
def address_default(request: HttpRequest, mall: Mall, address_id: int) -> HttpResponse:
    addresses.set_default_address(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                                  address_id=address_id)
    return redirect(mall.url("addresses"))


@require_POST
@mall_page(login=True)
def address_delete(request: HttpRequest, mall: Mall, address_id: int) -> HttpResponse:
    addresses.delete_address(enterprise_id=mall.enterprise_id, customer_id=shopper(mall).customer_id,
                             address_id=address_id)
    return redirect(mall.url("addresses"))
