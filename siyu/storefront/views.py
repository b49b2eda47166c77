"""The H5 mall (`/m/<enterprise code>/`): server-rendered pages for a phone, in Chinese, opened from the Official
Account menu, messages, moments and QR codes. Each view reads through queries, writes through one service, and
renders; bad input is the mall's error page with a 4xx and a reason, never a 500 and never a partial write.

Prices are never taken from the browser: the cart holds SKU ids and quantities, and checkout prices them with the
one pricing engine (siyu.promotions.pricing) both for the page and for the order."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from siyu.catalog import queries as catalog_queries
from siyu.core.errors import DomainError, GateError, NotFound, ValidationFailed
from siyu.core.http import client_ip
from siyu.core.pagination import paginate
from siyu.orders import hooks
from siyu.orders.services import after_sale, states
from siyu.org.scope import Scope, scope_for_user
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.storefront import mall_auth, product_sections, queries
from siyu.storefront.mall_auth import Mall, mall_page, shopper
from siyu.storefront.services import addresses, cart, checkout, mall_login, shopper_login

FORM_KEY = re.compile(r"[0-9a-f]{32}")
PAGE_SIZE = 20


def _page(request: HttpRequest, mall: Mall, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"storefront/mall/{template}", {"mall": mall, **context}, status=status)


def _int(value: str | None, field: str) -> int:
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 12:
        raise ValidationFailed(_("%(field)s must be a whole number") % {"field": field}, field=field,
                               code="invalid_number")
    return int(text)


def _optional_int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _form_key(value: str | None) -> str:
    key = (value or "").strip()
    if not FORM_KEY.fullmatch(key):
        raise ValidationFailed(_("this form has expired; open the page again"), field="form_key", code="bad_form_key")
    return key


# ---------------------------------------------------------------------------------------------------------------
# Browsing


def _claimable(mall: Mall) -> list[dict[str, Any]]:
    templates = promotion_queries.claimable_templates(enterprise_id=mall.enterprise_id)
    held = promotion_queries.claimed_counts(customer_id=mall.shopper.customer_id,
                                            template_ids=[t.pk for t in templates]) if mall.shopper else {}
    out = []
    for t in templates:
        left = None if t.total_stock is None else max(t.total_stock - t.issued_count, 0)
        claimed = held.get(t.pk, 0)
        out.append({"template": t, "value": promotion_queries.template_value(t), "claimed": claimed,
                    "can_claim": claimed < t.per_customer_limit and left != 0})
    return out


def _grid_products(mall: Mall, part: dict[str, Any]) -> list[Any]:
    limit = int(part.get("limit") or 6)
    if part.get("source") == "category":
        return list(catalog_queries.on_sale_products(enterprise_id=mall.enterprise_id,
                                                     category_id=part.get("category_id"))[:limit])
    if part.get("source") == "best_sellers":
        ids = queries.best_seller_ids(enterprise_id=mall.enterprise_id, limit=limit)
    else:
        ids = [int(i) for i in part.get("product_ids", [])][:limit]
    found = {p.pk: p for p in catalog_queries.on_sale_products(enterprise_id=mall.enterprise_id).filter(pk__in=ids)}
    return [found[i] for i in ids if i in found]  # the designer's (or the sales') order; one off sale is left out


def _category_links(mall: Mall, part: dict[str, Any]) -> list[Any]:
    """The chosen categories in the chosen order, or the top categories when none is chosen."""
    tops = [node.category for node in catalog_queries.storefront_categories(enterprise_id=mall.enterprise_id)]
    chosen = [int(i) for i in part.get("category_ids", [])]
    if not chosen:
        return tops[:12]
    by_id = {c.pk: c for c in catalog_queries.categories(
        Scope.hq(mall.enterprise_id, label="mall")).filter(pk__in=chosen)}
    return [by_id[i] for i in chosen if i in by_id]


def _flash_block(mall: Mall, part: dict[str, Any]) -> dict[str, Any]:
    """A running sale's items and its end (the countdown's); an ended or not yet started sale shows nothing."""
    items = [i for i in promotion_queries.active_flash_items(enterprise_id=mall.enterprise_id)
             if i.flash_sale_id == part.get("flash_sale_id")][:int(part.get("limit") or 4)]
    ends_at = items[0].flash_sale.ends_at if items else None
    left = int((ends_at - timezone.now()).total_seconds()) if ends_at else 0
    return {"items": items, "ends_at": ends_at, "seconds_left": max(left, 0)}


def _group_block(mall: Mall, part: dict[str, Any]) -> dict[str, Any]:
    running = {g.pk: g for g in promotion_queries.running_group_buys(enterprise_id=mall.enterprise_id)}
    return {"group_buys": [running[i] for i in part.get("group_buy_ids", []) if i in running]}


def _resolved(mall: Mall, part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind == "product_grid":
        return {"products": _grid_products(mall, part)}
    if kind == "category_nav":
        return {"categories": _category_links(mall, part)}
    if kind == "flash_sale":
        return _flash_block(mall, part)
    if kind == "group_buy":
        return _group_block(mall, part)
    if kind == "store_selector":
        return {"stores": queries.mall_stores(enterprise_id=mall.enterprise_id)}
    return {}


def _blocks(mall: Mall, document: dict[str, Any]) -> list[dict[str, Any]]:
    """A designed page's components with what they show resolved (on-sale products, claimable coupons, running
    flash sales and group buys, the brand's stores)."""
    claimable: list[dict[str, Any]] | None = None
    blocks = []
    for part in document.get("components", []):
        block = {**part, **_resolved(mall, part)}
        if part["type"] == "coupon_strip":
            claimable = _claimable(mall) if claimable is None else claimable
            by_id = {c["template"].pk: c for c in claimable}
            block["coupons"] = [by_id[i] for i in part.get("template_ids", []) if i in by_id]
        blocks.append(block)
    return blocks


def _store_of_link(request: HttpRequest, mall: Mall) -> int | None:
    """The store whose variant of the home page a visitor sees: named by a link (?store=<code>), then remembered."""
    key = f"mall:{mall.enterprise_id}:store"
    if "store" in request.GET:
        request.session[key] = queries.mall_store(enterprise_id=mall.enterprise_id,
                                                  code=request.GET.get("store", "").strip())
    value = request.session.get(key)
    return value if isinstance(value, int) else None


@require_GET
@mall_page()
def home(request: HttpRequest, mall: Mall) -> HttpResponse:
    """HQ's designed home page (or the linked store's own), as last published; the plain home when none is."""
    store_id = _store_of_link(request, mall)
    live = queries.live_page(enterprise_id=mall.enterprise_id, store_id=store_id)
    if live is not None:
        return _page(request, mall, "home.html", {"blocks": _blocks(mall, live.document), "mall_store_id": store_id,
                                                  "page_title": live.document.get("title", ""),
                                                  "form_key": uuid.uuid4().hex, "version": live.number})
    products = catalog_queries.on_sale_products(enterprise_id=mall.enterprise_id)[:PAGE_SIZE]
    return _page(request, mall, "home.html", {
        "categories": catalog_queries.storefront_categories(enterprise_id=mall.enterprise_id),
        "products": list(products), "coupons": _claimable(mall)[:4], "form_key": uuid.uuid4().hex,
    })


@require_GET
@mall_page(link=False)
def preview(request: HttpRequest, mall: Mall, token: str) -> HttpResponse:
    """A draft as customers would see it, for the staff who may design it (signed in to the console): anyone else,
    a forged or expired link, or a link to another brand's page is a 404."""
    gone = NotFound(_("this preview link is not valid or has expired"), field="token")
    if not request.user.is_authenticated:
        raise gone
    try:
        page = queries.preview_page(scope_for_user(request.user), token)
    except GateError:  # not a designer of this page: as if there were no such link
        raise gone from None
    if page.enterprise_id != mall.enterprise_id:
        raise gone
    response = _page(request, mall, "home.html", {"blocks": _blocks(mall, page.draft), "preview": True,
                                                  "page_title": page.draft.get("title", ""),
                                                  "form_key": uuid.uuid4().hex})
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
@mall_page()
def product_list(request: HttpRequest, mall: Mall) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:64]
    category_id = _optional_int(request.GET.get("category"))
    qs = catalog_queries.on_sale_products(enterprise_id=mall.enterprise_id, category_id=category_id, q=q)
    page = paginate(qs, page=_optional_int(request.GET.get("page")) or 1, page_size=PAGE_SIZE)
    keep = {k: v for k, v in (("q", q), ("category", category_id)) if v}
    return _page(request, mall, "products.html", {
        "categories": catalog_queries.storefront_categories(enterprise_id=mall.enterprise_id), "page": page,
        "q": q, "category_id": category_id, "keep": urlencode(keep),
    })


def _product_offers(mall: Mall, sku_ids: set[int]) -> dict[str, list[Any]]:
    flash = [i for i in promotion_queries.active_flash_items(enterprise_id=mall.enterprise_id) if i.sku_id in sku_ids]
    groups = [g for g in promotion_queries.running_group_buys(enterprise_id=mall.enterprise_id)
              if g.sku_id in sku_ids]
    return {"flash": flash, "groups": groups}


@mall_page()
def product_detail(request: HttpRequest, mall: Mall, product_id: int) -> HttpResponse:
    product = catalog_queries.on_sale_product(enterprise_id=mall.enterprise_id, product_id=product_id)
    if request.method == "POST":
        return _add_to_cart(request, mall, product)
    skus = [s for s in product.skus.all() if s.is_active]
    if mall.shopper is not None:
        shopper_login.record_product_view(shopper=mall.shopper, product_id=product.pk)
    return _page(request, mall, "product.html", {
        "product": product, "skus": skus, "coupons": _claimable(mall)[:3], "form_key": uuid.uuid4().hex,
        "sections": product_sections.sections(enterprise_id=mall.enterprise_id, product_id=product.pk),
        **_product_offers(mall, {s.pk for s in skus}),
    })


def _add_to_cart(request: HttpRequest, mall: Mall, product: Any) -> HttpResponse:
    if mall.shopper is None:
        return redirect(f"{mall.url('login')}?{urlencode({'next': mall.url('product', product.pk)})}")
    sku_id = _int(request.POST.get("sku_id"), "sku_id")
    if sku_id not in {s.pk for s in product.skus.all()}:
        raise ValidationFailed(_("choose one of this product's options"), field="sku_id", code="unknown_sku")
    quantity = _int(request.POST.get("quantity", "1"), "quantity")
    cart.add_to_cart(enterprise_id=mall.enterprise_id, customer_id=mall.shopper.customer_id,
                     line=cart.LineInput(quantity=quantity, sku_id=sku_id))
    if request.POST.get("then") == "checkout":
        return redirect(mall.url("checkout"))
    return redirect(f"{mall.url('product', product.pk)}?added=1")


# ---------------------------------------------------------------------------------------------------------------
# Cart and checkout


@mall_page(login=True)
def cart_page(request: HttpRequest, mall: Mall) -> HttpResponse:
    me = shopper(mall)
    if request.method == "POST":
        item_id = _int(request.POST.get("item_id"), "item_id")
        if request.POST.get("remove"):
            cart.remove_cart_item(customer_id=me.customer_id, item_id=item_id)
        else:
            cart.update_cart_item(customer_id=me.customer_id, item_id=item_id,
                                  quantity=_int(request.POST.get("quantity"), "quantity"))
        return redirect(mall.url("cart"))
    items = queries.cart_items(enterprise_id=mall.enterprise_id, customer_id=me.customer_id)
    breakdown = None
    if items:
        try:
            breakdown = checkout.preview_checkout(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                                                  data=checkout.CheckoutInput())
        except DomainError as exc:
            return _page(request, mall, "cart.html", {"items": items, "problem": exc}, status=exc.status)
    return _page(request, mall, "cart.html", {"items": items, "breakdown": breakdown})


def _chosen_address(request: HttpRequest, mall: Mall, data: Any) -> dict[str, str] | None:
    me = shopper(mall)
    address_id = _optional_int(data.get("address_id"))
    if address_id is not None:
        row = queries.address(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, address_id=address_id)
        return {"name": row.name, "phone": row.phone, "region": row.region, "detail": row.detail}
    if data.get("name") or data.get("detail"):
        return addresses.clean_address(name=data.get("name", ""), phone=data.get("phone", ""),
                                       region=data.get("region", ""), detail=data.get("detail", ""))
    return None


def _coupon_id(data: Any) -> int | None:
    return _optional_int(data.get("coupon_id"))


def _points_offer(mall: Mall) -> Any:
    """What points may pay here (loyalty's offer through the orders hook; None without a points app), or None when
    the brand takes no points at checkout or the customer holds none."""
    me = shopper(mall)
    offer = hooks.checkout_points_offer(mall.enterprise_id, me.customer_id, 0, timezone.now())
    return offer if offer is not None and offer.points_per_yuan > 0 and offer.balance > 0 else None


def _points(data: Any, offer: Any) -> int:
    """The points asked for: the whole balance when the box is ticked (the engine uses the fewest that pay its capped
    share); never a number from the form, so a forged figure asks for nothing more than the customer holds."""
    return offer.balance if offer is not None and data.get("use_points") == "1" else 0


@mall_page(login=True)
def checkout_page(request: HttpRequest, mall: Mall) -> HttpResponse:
    """GET: the breakdown for the cart with the chosen coupon (the form re-submits to itself to recompute); POST:
    place the order. Only ids travel in the form: SKUs and quantities come from the cart, prices from the engine."""
    me = shopper(mall)
    data = request.POST if request.method == "POST" else request.GET
    coupon_id = _coupon_id(data)
    offer = _points_offer(mall)
    points = _points(data, offer)
    book = queries.addresses(enterprise_id=mall.enterprise_id, customer_id=me.customer_id)
    context: dict[str, Any] = {
        "addresses": book, "coupon_id": coupon_id, "form_key": data.get("form_key") or uuid.uuid4().hex,
        "offer": offer, "use_points": points > 0,
        "coupons": promotion_queries.customer_coupons(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                                                      usable_at=timezone.now()),
        "chosen_address_id": _optional_int(data.get("address_id")) or (book[0].pk if book else None),
        "typed": {k: data.get(k, "")[:200] for k in ("name", "phone", "region", "detail", "buyer_note")},
    }
    if request.method == "POST":
        placed = queries.my_order_by_key(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                                         idempotency_key=f"h5:{_form_key(data.get('form_key'))}")
        if placed is not None:  # the same form again (a double tap, a retry): the order it placed
            return redirect(mall.url("order", placed))
    try:
        preview = checkout.preview_checkout(enterprise_id=mall.enterprise_id, customer_id=me.customer_id,
                                            data=checkout.CheckoutInput(coupon_id=coupon_id, points=points))
        context["breakdown"] = preview
        context["saving"] = preview.list_total_fen - preview.subtotal_fen
        if request.method == "POST":
            return _place(request, mall, data, coupon_id, points)
    except DomainError as exc:
        if "breakdown" not in context:
            return mall_auth.error_page(request, mall, exc)
        context["problem"] = exc
        return _page(request, mall, "checkout.html", context, status=exc.status)
    return _page(request, mall, "checkout.html", context)


def _place(request: HttpRequest, mall: Mall, data: Any, coupon_id: int | None, points: int) -> HttpResponse:
    me = shopper(mall)
    key = _form_key(data.get("form_key"))
    address = _chosen_address(request, mall, data)
    if address is None:
        raise ValidationFailed(_("choose or enter a delivery address"), field="address", code="address_required")
    order = checkout.place_order(
        enterprise_id=mall.enterprise_id, customer_id=me.customer_id, idempotency_key=f"h5:{key}",
        data=checkout.CheckoutInput(coupon_id=coupon_id, address=address, points=points,
                                    buyer_note=data.get("buyer_note", "")[:200],
                                    attribution=mall_auth.attribution(request, mall.enterprise_id)))
    addresses.remember_address(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, fields=address)
    return redirect(mall.url("order", order.pk))


# ---------------------------------------------------------------------------------------------------------------
# My orders


@require_GET
@mall_page(login=True)
def order_list(request: HttpRequest, mall: Mall) -> HttpResponse:
    me = shopper(mall)
    status = request.GET.get("status", "")[:20]
    page = queries.my_orders(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, status=status,
                             page=_optional_int(request.GET.get("page")) or 1, page_size=10)
    return _page(request, mall, "orders.html", {"page": page, "status": status})


@require_GET
@mall_page(login=True)
def order_detail(request: HttpRequest, mall: Mall, order_id: int) -> HttpResponse:
    me = shopper(mall)
    order = queries.my_order(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order_id)
    if request.headers.get("HX-Request") == "true":  # the pay-result poll: reload the page once the state moved
        response = _page(request, mall, "order_status.html", {"order": order, "waiting": True})
        if order.status != "pending_payment":
            response["HX-Refresh"] = "true"
        return response
    team = promotion_queries.team_of_order(enterprise_id=mall.enterprise_id, order_id=order.pk)
    return _page(request, mall, "order.html", {
        "order": order, "waiting": request.GET.get("paid") == "1", "balance_fen": order.amount_fen - order.deposit_fen,
        "team": team, "team_label": promotion_queries.team_status_label(team.status) if team else ""})


@require_POST
@mall_page(login=True)
def order_cancel(request: HttpRequest, mall: Mall, order_id: int) -> HttpResponse:
    me = shopper(mall)
    states.cancel_by_customer(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order_id)
    return redirect(mall.url("order", order_id))


@mall_page(login=True)
def after_sale_page(request: HttpRequest, mall: Mall, order_id: int) -> HttpResponse:
    me = shopper(mall)
    order = queries.my_order(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order_id)
    if request.method == "POST":
        kind = request.POST.get("kind", "refund_only")
        if kind not in ("refund_only", "return_refund"):
            raise ValidationFailed(_("choose refund only or return and refund"), field="kind", code="invalid_kind")
        reason = request.POST.get("reason", "").strip()
        if not 1 <= len(reason) <= 200:
            raise ValidationFailed(_("say why (at most 200 characters)"), field="reason", code="required")
        after_sale.request_refund(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, order_id=order.pk,
                                  kind=kind, reason=reason)
        return redirect(mall.url("order", order.pk))
    return _page(request, mall, "after_sale.html", {"order": order})


# ---------------------------------------------------------------------------------------------------------------
# Coupon centre


@mall_page()
def coupon_centre(request: HttpRequest, mall: Mall) -> HttpResponse:
    mine = promotion_queries.customer_coupons(enterprise_id=mall.enterprise_id, customer_id=mall.shopper.customer_id,
                                              usable_at=timezone.now()) if mall.shopper else []
    return _page(request, mall, "coupons.html", {"coupons": _claimable(mall), "mine": mine,
                                                  "form_key": uuid.uuid4().hex})


@require_POST
@mall_page(login=True)
def coupon_claim(request: HttpRequest, mall: Mall, template_id: int) -> HttpResponse:
    me = shopper(mall)
    key = _form_key(request.POST.get("form_key"))
    promotion_services.claim_coupon(enterprise_id=mall.enterprise_id, template_id=template_id,
                                    customer_id=me.customer_id, idempotency_key=f"claim:{me.customer_id}:h5:{key}")
    back = mall_auth.safe_next(mall, request.POST.get("next", ""))
    return HttpResponseRedirect(f"{back}{'&' if '?' in back else '?'}claimed={template_id}")


# ---------------------------------------------------------------------------------------------------------------
# Sign-in


@require_GET
@mall_page()
def login(request: HttpRequest, mall: Mall) -> HttpResponse:
    next_url = mall_auth.safe_next(mall, request.GET.get("next", ""))
    return _page(request, mall, "login.html", {
        "next": next_url, "phone": request.GET.get("phone", "")[:16], "sent": request.GET.get("sent") == "1",
        "has_oa": mall_login.oa_account(mall.enterprise_id) is not None,
    })


def _oauth_state_key(mall: Mall) -> str:
    return f"mall:{mall.enterprise_id}:oauth_state"


@require_GET
@mall_page()
def login_wechat(request: HttpRequest, mall: Mall) -> HttpResponse:
    """The Official Account menu's link lands here: off to the platform's consent page (snsapi_base: silent)."""
    scope = "snsapi_userinfo" if request.GET.get("scope") == "snsapi_userinfo" else "snsapi_base"
    started = mall_login.start_oa_login(
        enterprise_id=mall.enterprise_id, redirect_uri=request.build_absolute_uri(mall.url("login_wechat_done")),
        next_url=mall_auth.safe_next(mall, request.GET.get("next", "")), scope=scope)
    request.session[_oauth_state_key(mall)] = started.state
    return HttpResponseRedirect(started.url)


@require_GET
@mall_page(link=False)
def login_wechat_done(request: HttpRequest, mall: Mall) -> HttpResponse:
    expected = request.session.pop(_oauth_state_key(mall), "")
    login_done, next_url = mall_login.complete_oa_login(
        enterprise_id=mall.enterprise_id, code=request.GET.get("code", ""), state=request.GET.get("state", ""),
        expected_state=expected if isinstance(expected, str) else "")
    mall_auth.sign_in(request, mall.enterprise_id, login_done.token)
    return redirect(mall_auth.safe_next(mall, next_url))


@require_POST
@mall_page()
def login_sms_send(request: HttpRequest, mall: Mall) -> HttpResponse:
    phone = mall_login.clean_phone(request.POST.get("phone", ""))
    mall_login.request_sms_code(enterprise_id=mall.enterprise_id, phone=phone, ip=client_ip(request),
                                brand=mall.name)
    next_url = mall_auth.safe_next(mall, request.POST.get("next", ""))
    return redirect(f"{mall.url('login')}?{urlencode({'phone': phone, 'sent': 1, 'next': next_url})}")


@require_POST
@mall_page()
def login_sms(request: HttpRequest, mall: Mall) -> HttpResponse:
    current = queries.session_row(mall.shopper.session_id) if mall.shopper else None
    done = mall_login.sms_login(enterprise_id=mall.enterprise_id, phone=request.POST.get("phone", ""),
                                code=request.POST.get("code", "").strip(), current=current)
    mall_auth.sign_in(request, mall.enterprise_id, done.token)
    return redirect(mall_auth.safe_next(mall, request.POST.get("next", "")))


@require_POST
@mall_page()
def logout(request: HttpRequest, mall: Mall) -> HttpResponse:
    mall_auth.sign_out(request, mall)
    return redirect(mall.url("home"))
