"""The mall's API (the mini-program / H5 storefront), mounted at /api/: `/storefront/...`, authenticated with the
customer token from `POST /storefront/login` (`Authorization: Bearer sf_...`): browse, cart, checkout preview, place
order, my orders, cancel unpaid, confirm receipt, request a refund. Links shared by staff carry `staff_id`, `campaign`
and `channel_code` (or `state`) as query parameters or a body `attribution` object; the order records them.

Paying (`/storefront/orders/{id}/pay`) is siyu.finance.api's; the mall's content is siyu.content.api's. Both sign the
shopper in with `CUSTOMER` and `shopper_of` from here.

Amounts are integer fen with the currency beside them. Bad input is a 4xx with a code and the failing field; nothing
is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.security import HttpBearer

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import KEY_HEADER_DOC, create_once
from siyu.catalog import queries as catalog_queries
from siyu.core.errors import NotFound, PermissionDenied
from siyu.orders import queries as order_queries
from siyu.orders.schemas import AfterSaleOut, Input, OrderDetailOut, OrderPage, order_data, order_detail_data
from siyu.orders.services import after_sale, presale, states
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.promotions.schemas import BreakdownLineFields, BreakdownPromotionFields, BreakdownTotalsFields
from siyu.storefront import queries
from siyu.storefront.page_schema import json_schema
from siyu.storefront.services import cart, checkout, design, shopper_login
from siyu.storefront.services.shopper_login import Shopper

router = Router()


class CustomerTokenAuth(HttpBearer):
    openapi_description = "Mall customer token from POST /api/storefront/login: `Authorization: Bearer sf_...`"

    def authenticate(self, request: HttpRequest, token: str) -> Shopper | None:
        return shopper_login.authenticate_customer(token)


CUSTOMER = CustomerTokenAuth()
STOREFRONT = ["storefront"]


def shopper_of(request: HttpRequest) -> Shopper:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Shopper):
        raise PermissionDenied(_("sign in to the mall first"))
    return auth


# ---------------------------------------------------------------------------------------------------------------
# Schemas


class LoginIn(Input):
    appid: str = Field(max_length=64)
    code: str = Field(max_length=256)

class LoginOut(Schema):
    token: str
    expires_at: datetime
    customer_id: int

class MallCategoryOut(Schema):
    id: int
    name: str
    product_count: int
    children: list[MallCategoryOut] = []

class ProductSummaryOut(Schema):
    id: int
    name: str
    subtitle: str
    role: str
    category_id: int
    cover: str | None
    min_price_fen: int | None
    total_stock: int
    currency: str

class MallProductPage(Schema):
    items: list[ProductSummaryOut]
    total: int
    page: int
    pages: int

class MallSkuOut(Schema):
    id: int
    code: str
    specs: dict[str, str]
    price_fen: int
    member_price_fen: int | None
    stock: int

class ProductDetailOut(Schema):
    id: int
    name: str
    subtitle: str
    selling_points: str
    images: list[str]
    category_id: int
    currency: str
    skus: list[MallSkuOut]

class LineIn(Input):
    sku_id: int | None = None
    bundle_id: int | None = None
    quantity: int
    flash_item_id: int | None = None
    group_buy_id: int | None = None

class CartItemOut(Schema):
    id: int
    sku_id: int | None
    bundle_id: int | None
    flash_item_id: int | None
    group_buy_id: int | None
    quantity: int
    name: str

class CartOut(Schema):
    items: list[CartItemOut]

class QuantityIn(Input):
    quantity: int

class AddressIn(Input):
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=32)
    detail: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=200)

class AttributionIn(Input):
    staff_id: int | None = None
    campaign: str = Field(default="", max_length=64)
    channel_code: str = Field(default="", max_length=64)
    state: str = Field(default="", max_length=64, description="the channel code's state (alias of channel_code)")

class CheckoutIn(Input):
    lines: list[LineIn] | None = Field(default=None, description="omit to check out the cart", max_length=100)
    coupon_id: int | None = None
    store_id: int | None = None
    fulfillment: str = "delivery"
    address: AddressIn | None = None
    buyer_note: str = Field(default="", max_length=500)
    attribution: AttributionIn | None = None
    group_team_id: int | None = None
    points: int = Field(default=0, ge=0, le=10**9,
                        description="points to pay part of the goods with (at most the programme's share)")

class PlaceIn(CheckoutIn):
    idempotency_key: str = Field(default="", max_length=100)

class PresalePlaceIn(Input):
    presale_id: int
    quantity: int
    store_id: int | None = None
    fulfillment: str = "delivery"
    address: AddressIn | None = None
    attribution: AttributionIn | None = None
    idempotency_key: str = Field(default="", max_length=100)

class LinkParams(Schema):
    """Attribution carried in a shared link's query string."""

    staff_id: int | None = None
    campaign: str = Field(default="", max_length=64)
    channel_code: str = Field(default="", max_length=64)
    state: str = Field(default="", max_length=64)

class CheckoutLineOut(BreakdownLineFields):
    pass

class CheckoutPromotionOut(BreakdownPromotionFields):
    pass

class CheckoutBreakdownOut(BreakdownTotalsFields):
    lines: list[CheckoutLineOut]
    promotions: list[CheckoutPromotionOut]

class RefundLineIn(Input):
    line_id: int
    quantity: int

class RefundIn(Input):
    idempotency_key: str = Field(default="", max_length=100, description="or the Idempotency-Key header")
    kind: str = "refund_only"
    reason: str = Field(default="", max_length=500)
    lines: list[RefundLineIn] | None = Field(default=None, max_length=100)

class MallCouponOut(Schema):
    id: int
    name: str
    code: str
    status: str
    valid_from: datetime
    valid_until: datetime


# ---------------------------------------------------------------------------------------------------------------
# Converters


def _product_summary(p: Any) -> dict[str, Any]:
    return {"id": p.pk, "name": p.name, "subtitle": p.subtitle, "role": p.role, "category_id": p.category_id,
            "cover": p.images[0] if p.images else None, "min_price_fen": getattr(p, "min_price_fen", None),
            "total_stock": getattr(p, "total_stock", 0) or 0, "currency": p.currency}

def _category(node: Any) -> dict[str, Any]:
    return {"id": node.category.pk, "name": node.category.name, "product_count": node.product_count,
            "children": [_category(child) for child in node.children]}

def _attribution(body: AttributionIn | None, link: LinkParams) -> checkout.Attribution:
    source = body or AttributionIn()
    return checkout.Attribution(
        staff_id=source.staff_id if source.staff_id is not None else link.staff_id,
        campaign=source.campaign or link.campaign,
        channel_state=source.channel_code or source.state or link.channel_code or link.state,
    )

def _checkout(payload: CheckoutIn, link: LinkParams) -> checkout.CheckoutInput:
    lines = None
    if payload.lines is not None:
        lines = [cart.LineInput(quantity=x.quantity, sku_id=x.sku_id, bundle_id=x.bundle_id,
                                    flash_item_id=x.flash_item_id, group_buy_id=x.group_buy_id) for x in payload.lines]
    address = payload.address.model_dump(exclude_defaults=True) if payload.address else {}
    return checkout.CheckoutInput(
        lines=lines, coupon_id=payload.coupon_id, store_id=payload.store_id, fulfillment=payload.fulfillment,
        address=address, buyer_note=payload.buyer_note, attribution=_attribution(payload.attribution, link),
        group_team_id=payload.group_team_id, points=payload.points,
    )


# ---------------------------------------------------------------------------------------------------------------
# Storefront: login and browsing


@router.post("/storefront/login", auth=None, response=LoginOut, tags=STOREFRONT,
             summary="Mini-program login: exchange the wx.login() code for a customer token")
def storefront_login(request: HttpRequest, payload: LoginIn) -> Any:
    return shopper_login.storefront_login(app_id=payload.appid, code=payload.code)


@router.post("/storefront/logout", auth=CUSTOMER, response={204: None}, tags=STOREFRONT, summary="Sign out")
def storefront_logout(request: HttpRequest) -> Status[Any]:
    shopper_login.storefront_logout(shopper=shopper_of(request))
    return Status(204, None)


@router.get("/storefront/categories", auth=CUSTOMER, response=list[MallCategoryOut], tags=STOREFRONT,
            summary="The category tree")
def storefront_categories(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [_category(node) for node in catalog_queries.storefront_categories(enterprise_id=shopper.enterprise_id)]


@router.get("/storefront/products", auth=CUSTOMER, response=MallProductPage, tags=STOREFRONT,
            summary="Products on sale (in a category, sold in a store)")
def storefront_products(
    request: HttpRequest, category_id: int | None = None, store_id: int | None = None, q: str = "",
    page: int = 1, page_size: int = 20,
) -> dict[str, Any]:
    from siyu.core.pagination import paginate

    shopper = shopper_of(request)
    qs = catalog_queries.on_sale_products(enterprise_id=shopper.enterprise_id, category_id=category_id,
                                          store_id=store_id, q=q[:64])
    result = paginate(qs, page=page, page_size=page_size)
    return {"items": [_product_summary(p) for p in result.items], "total": result.total, "page": result.page,
            "pages": result.pages}


@router.get("/storefront/products/{product_id}", auth=CUSTOMER, response=ProductDetailOut, tags=STOREFRONT,
            summary="A product with its SKUs on sale")
def storefront_product(request: HttpRequest, product_id: int, store_id: int | None = None) -> dict[str, Any]:
    shopper = shopper_of(request)
    product = catalog_queries.on_sale_product(enterprise_id=shopper.enterprise_id, product_id=product_id)
    if store_id is not None and not catalog_queries.sold_in_store(product, store_id):
        raise NotFound(
            _("product %(product_id)s is not sold in store %(store_id)s")
            % {"product_id": product_id, "store_id": store_id},
            field="store_id", code="not_sold_in_store",
        )
    shopper_login.record_product_view(shopper=shopper, product_id=product.pk)
    return {"id": product.pk, "name": product.name, "subtitle": product.subtitle,
            "selling_points": product.selling_points, "images": product.images, "category_id": product.category_id,
            "currency": product.currency, "skus": [s for s in product.skus.all() if s.is_active]}


@router.get("/storefront/coupons", auth=CUSTOMER, response=list[MallCouponOut], tags=STOREFRONT,
            summary="My coupons usable now")
def storefront_coupons(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    rows = promotion_queries.customer_coupons(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                              usable_at=timezone.now())
    return [{"id": c.pk, "name": c.template.name, "code": c.code, "status": c.status, "valid_from": c.valid_from,
             "valid_until": c.valid_until} for c in rows]


# ---------------------------------------------------------------------------------------------------------------
# Storefront: cart


def _cart(shopper: Shopper) -> dict[str, Any]:
    items = []
    for item in queries.cart_items(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id):
        if item.sku is not None:
            name = f"{item.sku.product.name} {' '.join(str(v) for v in (item.sku.specs or {}).values())}".strip()
        else:
            name = item.bundle.name if item.bundle is not None else ""
        items.append({"id": item.pk, "sku_id": item.sku_id, "bundle_id": item.bundle_id,
                      "flash_item_id": item.flash_item_id, "group_buy_id": item.group_buy_id,
                      "quantity": item.quantity, "name": name})
    return {"items": items}


@router.get("/storefront/cart", auth=CUSTOMER, response=CartOut, tags=STOREFRONT, summary="My cart")
def storefront_cart(request: HttpRequest) -> dict[str, Any]:
    return _cart(shopper_of(request))


@router.post("/storefront/cart/items", auth=CUSTOMER, response={201: CartOut}, tags=STOREFRONT,
             summary="Add to the cart (the same item again raises its quantity)")
def storefront_cart_add(request: HttpRequest, payload: LineIn) -> Status[Any]:
    shopper = shopper_of(request)
    cart.add_to_cart(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id, line=cart.LineInput(
        quantity=payload.quantity, sku_id=payload.sku_id, bundle_id=payload.bundle_id,
        flash_item_id=payload.flash_item_id, group_buy_id=payload.group_buy_id))
    return Status(201, _cart(shopper))


@router.patch("/storefront/cart/items/{item_id}", auth=CUSTOMER, response=CartOut, tags=STOREFRONT,
              summary="Change a cart line's quantity")
def storefront_cart_update(request: HttpRequest, item_id: int, payload: QuantityIn) -> dict[str, Any]:
    shopper = shopper_of(request)
    cart.update_cart_item(customer_id=shopper.customer_id, item_id=item_id, quantity=payload.quantity)
    return _cart(shopper)


@router.delete("/storefront/cart/items/{item_id}", auth=CUSTOMER, response=CartOut, tags=STOREFRONT,
               summary="Remove a cart line")
def storefront_cart_remove(request: HttpRequest, item_id: int) -> dict[str, Any]:
    shopper = shopper_of(request)
    cart.remove_cart_item(customer_id=shopper.customer_id, item_id=item_id)
    return _cart(shopper)


# ---------------------------------------------------------------------------------------------------------------
# Storefront: checkout and my orders


@router.post("/storefront/checkout/preview", auth=CUSTOMER, response=CheckoutBreakdownOut, tags=STOREFRONT,
             summary="The full price breakdown (the same engine as placing the order)")
def storefront_preview(request: HttpRequest, payload: CheckoutIn, link: Query[LinkParams]) -> dict[str, Any]:
    shopper = shopper_of(request)
    breakdown = checkout.preview_checkout(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                          data=_checkout(payload, link))
    return breakdown.as_dict()


def _shopper_key(shopper: Shopper) -> str:
    return f"e{shopper.enterprise_id}:c{shopper.customer_id}"


@router.post("/storefront/orders", auth=CUSTOMER, response={201: OrderDetailOut}, tags=STOREFRONT,
             openapi_extra=KEY_HEADER_DOC,
             summary="Place an order (stock and the coupon are taken now; pay within the timeout). Needs an "
                     "Idempotency-Key: a repeat returns the first answer")
def storefront_place(request: HttpRequest, payload: PlaceIn, link: Query[LinkParams]) -> Status[Any]:
    shopper = shopper_of(request)

    def place(key: str) -> int:
        return checkout.place_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                    data=_checkout(payload, link), idempotency_key=key).pk

    return create_once(request, action="storefront.order", owner=_shopper_key(shopper), payload=payload,
                       create=place, render=lambda order_id: _mine(shopper, order_id))


@router.post("/storefront/presale-orders", auth=CUSTOMER, response={201: OrderDetailOut}, tags=STOREFRONT,
             openapi_extra=KEY_HEADER_DOC,
             summary="Put down a presale deposit (reserves the stock; the balance is paid in its window). Needs an "
                     "Idempotency-Key")
def storefront_presale(request: HttpRequest, payload: PresalePlaceIn,
                       link: Query[LinkParams]) -> Status[Any]:
    shopper = shopper_of(request)

    def place(key: str) -> int:
        data = checkout.CheckoutInput(
            store_id=payload.store_id, fulfillment=payload.fulfillment,
            address=payload.address.model_dump(exclude_defaults=True) if payload.address else {},
            attribution=_attribution(payload.attribution, link))
        order = presale.place_presale_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                             presale_id=payload.presale_id, quantity=payload.quantity, data=data,
                                             idempotency_key=key)
        return order.pk

    return create_once(request, action="storefront.presale_order", owner=_shopper_key(shopper), payload=payload,
                       create=place, render=lambda order_id: _mine(shopper, order_id))


@router.get("/storefront/orders", auth=CUSTOMER, response=OrderPage, tags=STOREFRONT, summary="My orders")
def storefront_orders(request: HttpRequest, status: str = "", page: int = 1, page_size: int = 20) -> dict[str, Any]:
    shopper = shopper_of(request)
    result = queries.my_orders(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                               status=status[:20], page=page, page_size=page_size)
    return {"items": [order_data(o) for o in result.items], "total": result.total, "page": result.page,
            "pages": result.pages}


@router.get("/storefront/orders/{order_id}", auth=CUSTOMER, response=OrderDetailOut, tags=STOREFRONT,
            summary="One of my orders")
def storefront_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    shopper = shopper_of(request)
    return order_detail_data(queries.my_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                          order_id=order_id))


def _mine(shopper: Shopper, order_id: int) -> dict[str, Any]:
    return order_detail_data(queries.my_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                          order_id=order_id))


@router.post("/storefront/orders/{order_id}/cancel", auth=CUSTOMER, response=OrderDetailOut, tags=STOREFRONT,
             summary="Cancel an unpaid order (its stock and coupon come back)")
def storefront_cancel(request: HttpRequest, order_id: int) -> dict[str, Any]:
    shopper = shopper_of(request)
    states.cancel_by_customer(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                order_id=order_id)
    return _mine(shopper, order_id)


@router.post("/storefront/orders/{order_id}/confirm", auth=CUSTOMER, response=OrderDetailOut, tags=STOREFRONT,
             summary="Confirm receipt (completes a shipped or picked-up order)")
def storefront_confirm(request: HttpRequest, order_id: int) -> dict[str, Any]:
    shopper = shopper_of(request)
    states.confirm_received(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                              order_id=order_id)
    return _mine(shopper, order_id)


@router.post("/storefront/orders/{order_id}/refunds", auth=CUSTOMER, response={201: AfterSaleOut}, tags=STOREFRONT,
             openapi_extra=KEY_HEADER_DOC,
             summary="Ask for a refund (refund only; after delivery also return and refund). Needs an Idempotency-Key")
def storefront_refund(request: HttpRequest, order_id: int, payload: RefundIn) -> Status[Any]:
    shopper = shopper_of(request)
    lines = [after_sale.RefundLineInput(line_id=x.line_id, quantity=x.quantity) for x in payload.lines] \
        if payload.lines is not None else None

    def ask(_key: str) -> int:
        return after_sale.request_refund(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                       order_id=order_id, kind=payload.kind, reason=payload.reason, lines=lines).pk

    def render(after_sale_id: int) -> Any:
        order = queries.my_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                 order_id=order_id)
        return next(a for a in order.after_sales.all() if a.pk == after_sale_id)

    return create_once(request, action="storefront.refund", owner=_shopper_key(shopper), payload=payload,
                       create=ask, render=render, path={"order_id": order_id})


# ---------------------------------------------------------------------------------------------------------------
# Storefront: the coupon centre (领券中心) and what is running (秒杀, 拼团, 预售, 组合)


class ClaimableCouponOut(Schema):
    template_id: int
    name: str
    description: str
    kind: str
    value: str = Field(description="what the coupon is worth, in words")
    amount_off_fen: int
    percent_off: int
    max_off_fen: int | None
    threshold_fen: int
    currency: str
    valid_until: datetime | None = Field(description="fixed window: its end; relative: null (see valid_days)")
    valid_days: int | None
    per_customer_limit: int
    claimed: int = Field(description="how many of it this customer holds already")
    left: int | None = Field(description="coupons left in stock (null: unlimited)")
    can_claim: bool

class ClaimIn(Input):
    idempotency_key: str = Field(default="", max_length=100, description="or the Idempotency-Key header")

class FlashItemMallOut(Schema):
    item_id: int
    flash_sale_id: int
    flash_sale_name: str
    sku_id: int
    product_id: int
    product_name: str
    flash_price_fen: int
    list_price_fen: int
    currency: str
    left: int
    per_customer_limit: int
    starts_at: datetime
    ends_at: datetime

class GroupBuyMallOut(Schema):
    group_buy_id: int
    name: str
    sku_id: int
    product_id: int
    product_name: str
    group_price_fen: int
    list_price_fen: int
    currency: str
    group_size: int
    hours: int
    ends_at: datetime

class OpenTeamOut(Schema):
    team_id: int = Field(description="pass it as `group_team_id` at checkout to join this team")
    size: int
    member_count: int
    seats_left: int
    expires_at: datetime

class PresaleMallOut(Schema):
    presale_id: int
    name: str
    sku_id: int
    product_id: int
    product_name: str
    price_fen: int
    deposit_fen: int
    currency: str
    per_customer_limit: int
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime

class BundleMallOut(Schema):
    bundle_id: int
    name: str
    price_fen: int
    list_price_fen: int
    currency: str
    available: int


def _claimable(t: Any, claimed: int) -> dict[str, Any]:
    left = None if t.total_stock is None else max(t.total_stock - t.issued_count, 0)
    return {"template_id": t.pk, "name": t.name, "description": t.description, "kind": t.kind,
            "value": promotion_queries.template_value(t), "amount_off_fen": t.amount_off_fen,
            "percent_off": t.percent_off, "max_off_fen": t.max_off_fen, "threshold_fen": t.threshold_fen,
            "currency": t.currency, "valid_until": t.valid_until if t.validity_kind == "fixed" else None,
            "valid_days": t.valid_days if t.validity_kind == "relative" else None,
            "per_customer_limit": t.per_customer_limit, "claimed": claimed, "left": left,
            "can_claim": claimed < t.per_customer_limit and left != 0}


@router.get("/storefront/coupon-centre", auth=CUSTOMER, response=list[ClaimableCouponOut], tags=STOREFRONT,
            summary="Coupons this customer may claim now (领券中心), with what they hold already")
def storefront_coupon_centre(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    templates = promotion_queries.claimable_templates(enterprise_id=shopper.enterprise_id)
    held = promotion_queries.claimed_counts(customer_id=shopper.customer_id, template_ids=[t.pk for t in templates])
    return [_claimable(t, held.get(t.pk, 0)) for t in templates]


@router.post("/storefront/coupon-centre/{template_id}/claim", auth=CUSTOMER, response={201: MallCouponOut},
             tags=STOREFRONT, openapi_extra=KEY_HEADER_DOC,
             summary="Claim a coupon (needs an Idempotency-Key: a repeat returns the same coupon). Refused with "
                     "not_claimable, coupon_expired, coupon_limit_reached or coupon_sold_out")
def storefront_claim_coupon(request: HttpRequest, template_id: int, payload: ClaimIn) -> Status[Any]:
    shopper = shopper_of(request)

    def claim(key: str) -> int:
        return promotion_services.claim_coupon(
            enterprise_id=shopper.enterprise_id, template_id=template_id, customer_id=shopper.customer_id,
            idempotency_key=f"claim:{shopper.customer_id}:{key}"[:128]).pk

    def render(coupon_id: int) -> dict[str, Any]:
        c = promotion_queries.customer_coupon(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                              coupon_id=coupon_id)
        return {"id": c.pk, "name": c.template.name, "code": c.code, "status": c.status,
                "valid_from": c.valid_from, "valid_until": c.valid_until}

    return create_once(request, action="storefront.coupon_claim", owner=_shopper_key(shopper), payload=payload,
                       create=claim, render=render, path={"template_id": template_id})


@router.get("/storefront/flash-sales", auth=CUSTOMER, response=list[FlashItemMallOut], tags=STOREFRONT,
            summary="Flash-sale items running now (秒杀), with the units left")
def storefront_flash_sales(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [{"item_id": i.pk, "flash_sale_id": i.flash_sale_id, "flash_sale_name": i.flash_sale.name,
             "sku_id": i.sku_id, "product_id": i.sku.product_id, "product_name": i.sku.product.name,
             "flash_price_fen": i.flash_price_fen, "list_price_fen": i.sku.price_fen,
             "currency": i.sku.product.currency, "left": max(i.flash_stock - i.sold, 0),
             "per_customer_limit": i.per_customer_limit, "starts_at": i.flash_sale.starts_at,
             "ends_at": i.flash_sale.ends_at}
            for i in promotion_queries.active_flash_items(enterprise_id=shopper.enterprise_id)]


@router.get("/storefront/group-buys", auth=CUSTOMER, response=list[GroupBuyMallOut], tags=STOREFRONT,
            summary="Group buys running now (拼团): order with `group_buy_id` to open a team")
def storefront_group_buys(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [{"group_buy_id": g.pk, "name": g.name, "sku_id": g.sku_id, "product_id": g.sku.product_id,
             "product_name": g.sku.product.name, "group_price_fen": g.group_price_fen,
             "list_price_fen": g.sku.price_fen, "currency": g.sku.product.currency, "group_size": g.group_size,
             "hours": g.hours, "ends_at": g.ends_at}
            for g in promotion_queries.running_group_buys(enterprise_id=shopper.enterprise_id)]


@router.get("/storefront/group-buys/{group_buy_id}/teams", auth=CUSTOMER, response=list[OpenTeamOut],
            tags=STOREFRONT, summary="Open teams of a running group buy a friend can join (soonest to close first)")
def storefront_open_teams(request: HttpRequest, group_buy_id: int) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    group_buy = promotion_queries.running_group_buy(enterprise_id=shopper.enterprise_id, group_buy_id=group_buy_id)
    return [{"team_id": t.pk, "size": t.size, "member_count": t.member_count,
             "seats_left": max(t.size - t.member_count, 0), "expires_at": t.expires_at}
            for t in promotion_queries.open_teams(enterprise_id=shopper.enterprise_id, group_buy_id=group_buy.pk)
            if t.member_count < t.size]


@router.get("/storefront/presales", auth=CUSTOMER, response=list[PresaleMallOut], tags=STOREFRONT,
            summary="Presales taking deposits now (预售)")
def storefront_presales(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [{"presale_id": p.pk, "name": p.name, "sku_id": p.sku_id, "product_id": p.sku.product_id,
             "product_name": p.sku.product.name, "price_fen": p.price_fen, "deposit_fen": p.deposit_fen,
             "currency": p.currency, "per_customer_limit": p.per_customer_limit,
             "deposit_ends_at": p.deposit_ends_at, "balance_starts_at": p.balance_starts_at,
             "balance_ends_at": p.balance_ends_at}
            for p in order_queries.running_presales(enterprise_id=shopper.enterprise_id)]


@router.get("/storefront/bundles", auth=CUSTOMER, response=list[BundleMallOut], tags=STOREFRONT,
            summary="Bundles on sale (组合), with how many can still be sold")
def storefront_bundles(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [{"bundle_id": b.pk, "name": b.name, "price_fen": b.price_fen,
             "list_price_fen": catalog_queries.bundle_list_price(b).fen, "currency": b.currency,
             "available": catalog_queries.bundle_availability(b)}
            for b in catalog_queries.on_sale_bundles(enterprise_id=shopper.enterprise_id)]


# ---------------------------------------------------------------------------------------------------------------
# Store design (店铺装修), mounted at /api/storefront-admin: staff (HQ, or a store's manager for their store's
# variant) save drafts, publish, roll back and make preview links. The document's schema is GET /page-schema.

design_router = Router()


class PageOpenIn(Input):
    store_id: int | None = Field(None, description="empty: HQ's page; a store id: that store's own variant")


class DraftIn(Input):
    document: dict[str, Any]
    base_revision: int | None = Field(None, description="the draft revision the editor started from")


class PublishIn(Input):
    revision: int | None = Field(None, description="the draft revision the publisher looked at")


class RollbackIn(Input):
    version: int = Field(ge=1)


class VersionOut(Schema):
    number: int
    published_at: datetime
    published_by: str
    rolled_back_from: int | None


class PageOut(Schema):
    id: int
    store_id: int | None
    key: str
    draft_revision: int
    published_version: int | None


class PageDetailOut(PageOut):
    draft: dict[str, Any]
    versions: list[VersionOut]


class PreviewOut(Schema):
    url: str
    expires_in_s: int


def _page_detail(page: Any) -> dict[str, Any]:
    return {"id": page.pk, "store_id": page.store_id, "key": page.key, "draft_revision": page.draft_revision,
            "published_version": page.published_version, "draft": page.draft,
            "versions": list(queries.page_versions(page)[:50])}


@design_router.get("/page-schema", response=dict[str, Any], summary="The JSON Schema of a page document")
def page_schema_doc(request: HttpRequest) -> dict[str, Any]:
    queries.design_pages(scope_of(request))  # designers only
    return json_schema()


@design_router.get("/pages", response=list[PageOut], summary="The pages the caller may design")
def list_pages(request: HttpRequest) -> Any:
    return list(queries.design_pages(scope_of(request))[:200])


@design_router.post("/pages", response=PageDetailOut, summary="Open HQ's page or a store's variant (made on first use)")
def open_page(request: HttpRequest, payload: PageOpenIn) -> dict[str, Any]:
    return _page_detail(design.open_page(scope=scope_of(request), store_id=payload.store_id))


@design_router.get("/pages/{page_id}", response=PageDetailOut, summary="A page: its draft and published versions")
def get_page(request: HttpRequest, page_id: int) -> dict[str, Any]:
    return _page_detail(queries.design_page(scope_of(request), page_id))


@design_router.put("/pages/{page_id}/draft", response=PageDetailOut,
                   summary="Save the draft (422 with every problem's JSON path; 409 over a newer save)")
def save_draft(request: HttpRequest, page_id: int, payload: DraftIn) -> dict[str, Any]:
    scope = scope_of(request)
    queries.design_page(scope, page_id)
    return _page_detail(design.save_draft(scope=scope, page_id=page_id, document=payload.document,
                                          base_revision=payload.base_revision, actor=actor_of(request)))


@design_router.post("/pages/{page_id}/publish", response=VersionOut, summary="Publish the draft as the next version")
def publish_page(request: HttpRequest, page_id: int, payload: PublishIn) -> Any:
    scope = scope_of(request)
    queries.design_page(scope, page_id)
    return design.publish(scope=scope, page_id=page_id, revision=payload.revision, actor=actor_of(request))


@design_router.post("/pages/{page_id}/rollback", response=VersionOut,
                    summary="Serve a published version again (published anew as the next version)")
def rollback_page(request: HttpRequest, page_id: int, payload: RollbackIn) -> Any:
    scope = scope_of(request)
    queries.design_page(scope, page_id)
    return design.rollback(scope=scope, page_id=page_id, version=payload.version, actor=actor_of(request))


@design_router.post("/pages/{page_id}/preview", response=PreviewOut,
                    summary="A signed preview link to the draft (opens only for staff who may design the page)")
def preview_link(request: HttpRequest, page_id: int) -> dict[str, Any]:
    page = queries.design_page(scope_of(request), page_id)
    url = reverse("mall:preview", args=[queries.mall_code(page.enterprise_id), queries.preview_token(page)])
    return {"url": request.build_absolute_uri(url), "expires_in_s": queries.PREVIEW_MAX_AGE_S}
