"""Orders API, mounted at /api/:

- `/storefront/...` for the mini-program / H5 mall, authenticated with the customer token from
  `POST /storefront/login` (`Authorization: Bearer sf_...`): browse, cart, checkout preview, place order, my orders,
  cancel unpaid, confirm receipt, request a refund. Links shared by staff carry `staff_id`, `campaign` and
  `channel_code` (or `state`) as query parameters or a body `attribution` object; the order records them.
- `/admin/...` for staff (integration token or console session, scoped): order list and detail, ship, pick up,
  complete, cancel, after-sales, presales and their demand, platform order imports.

Amounts are integer fen with the currency beside them. Bad input is a 4xx with a code and the failing field; nothing
is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.security import HttpBearer
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import create_once
from siyu.catalog import queries as catalog_queries
from siyu.core.errors import NotFound, PermissionDenied
from siyu.customers import privacy
from siyu.orders import offline_payments, queries
from siyu.orders.services import after_sale, cart, checkout, history_import, imports, presale, shopper_login, states
from siyu.orders.services.shopper_login import Shopper
from siyu.promotions import queries as promotion_queries
from siyu.promotions.schemas import BreakdownLineFields, BreakdownPromotionFields, BreakdownTotalsFields

router = Router()


class CustomerTokenAuth(HttpBearer):
    openapi_description = "Mall customer token from POST /api/storefront/login: `Authorization: Bearer sf_...`"

    def authenticate(self, request: HttpRequest, token: str) -> Shopper | None:
        return shopper_login.authenticate_customer(token)


CUSTOMER = CustomerTokenAuth()
STOREFRONT = ["storefront"]
ADMIN = ["orders admin"]


def shopper_of(request: HttpRequest) -> Shopper:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Shopper):
        raise PermissionDenied("sign in to the mall first")
    return auth


# ---------------------------------------------------------------------------------------------------------------
# Schemas


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


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


class OrderLineOut(Schema):
    id: int
    index: int
    sku_id: int | None
    bundle_id: int | None
    product_id: int | None
    name: str
    quantity: int
    price_source: str
    unit_list_price_fen: int
    unit_price_fen: int
    list_amount_fen: int
    amount_fen: int
    reduction_discount_fen: int
    coupon_discount_fen: int
    payable_fen: int
    refunded_quantity: int
    refunded_fen: int


class AfterSaleOut(Schema):
    id: int
    order_id: int
    kind: str
    status: str
    reason: str
    amount_fen: int
    currency: str
    requested_at: datetime
    reject_reason: str
    refunded_at: datetime | None


class OrderOut(Schema):
    id: int
    order_no: str
    kind: str
    status: str
    source: str
    platform: str
    external_order_no: str
    customer_id: int | None
    fulfillment: str
    store_id: int | None
    staff_id: int | None
    campaign: str
    channel_state: str
    currency: str
    list_total_fen: int
    subtotal_fen: int
    reduction_discount_fen: int
    coupon_discount_fen: int
    shipping_fen: int
    amount_fen: int
    deposit_fen: int
    paid_fen: int
    refunded_fen: int
    coupon_id: int | None
    presale_id: int | None
    created_at: datetime
    pay_deadline: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    lines: list[OrderLineOut]


class OrderDetailOut(OrderOut):
    address: dict[str, str]
    carrier: str
    tracking_no: str
    breakdown: dict[str, Any]
    after_sales: list[AfterSaleOut]


class OrderPage(Schema):
    items: list[OrderOut]
    total: int
    page: int
    pages: int


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


def _lines(order: Any) -> list[Any]:
    return list(order.lines.all())


def _order(order: Any) -> dict[str, Any]:
    data = {name: getattr(order, name) for name in OrderOut.model_fields if name != "lines"}
    data["lines"] = _lines(order)
    return data


def _order_detail(order: Any) -> dict[str, Any]:
    data = _order(order)
    data.update(address=order.address or {}, carrier=order.carrier, tracking_no=order.tracking_no,
                breakdown=order.breakdown or {}, after_sales=list(order.after_sales.all()))
    return data


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
        group_team_id=payload.group_team_id,
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
        raise NotFound(f"product {product_id} is not sold in store {store_id}", field="store_id",
                       code="not_sold_in_store")
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
    return {"items": [_order(o) for o in result.items], "total": result.total, "page": result.page,
            "pages": result.pages}


@router.get("/storefront/orders/{order_id}", auth=CUSTOMER, response=OrderDetailOut, tags=STOREFRONT,
            summary="One of my orders")
def storefront_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    shopper = shopper_of(request)
    return _order_detail(queries.my_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                          order_id=order_id))


def _mine(shopper: Shopper, order_id: int) -> dict[str, Any]:
    return _order_detail(queries.my_order(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
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
# Admin (staff)


class ShipIn(Input):
    carrier: str = Field(default="", max_length=32)
    tracking_no: str = Field(default="", max_length=64)


class PaidIn(Input):
    payment_ref: str = Field(default="", max_length=64)
    reason: str = Field(max_length=200, description="how the money came in outside WeChat Pay (cash, transfer...)")


class RejectIn(Input):
    reason: str = Field(max_length=200)


class ReturnedIn(Input):
    tracking_no: str = Field(default="", max_length=64)


class RefundDoneIn(Input):
    refund_ref: str = Field(max_length=64)


class AfterSalePage(Schema):
    items: list[AfterSaleOut]
    total: int
    page: int
    pages: int


class PresaleIn(Input):
    name: str = Field(max_length=64)
    sku_id: int
    price_fen: int
    deposit_fen: int
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int = 5
    is_active: bool = True


class PresaleOut(Schema):
    id: int
    name: str
    sku_id: int
    price_fen: int
    deposit_fen: int
    currency: str
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int
    is_active: bool


class DemandOut(Schema):
    presale_id: int
    name: str
    sku_id: int
    deposit_pending_orders: int
    deposit_pending_units: int
    deposits_paid_orders: int
    deposits_paid_units: int
    balances_paid_orders: int
    balances_paid_units: int
    deposits_fen: int
    balances_fen: int
    cancelled_units: int


class ImportOut(Schema):
    id: int
    platform: str
    filename: str
    status: str
    total_rows: int
    processed_rows: int
    imported: int
    duplicates: int
    matched: int
    created_customers: int
    unmatched: int
    errors: int
    error_message: str


class AdminOrderFilter(Schema):
    status: str = ""
    store_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    customer: str = Field(default="", max_length=64)
    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    source: str = ""
    platform: str = ""
    staff_id: int | None = None
    q: str = Field(default="", max_length=64)
    page: int = 1
    page_size: int = 20


@router.get("/admin/orders", response=OrderPage, tags=ADMIN, summary="Orders you may see, filtered")
def admin_orders(request: HttpRequest, flt: Query[AdminOrderFilter]) -> dict[str, Any]:
    scope = scope_of(request)
    data = flt.model_dump()
    page, page_size = data.pop("page"), data.pop("page_size")
    result = queries.search_orders(scope, queries.OrderFilter(**data), page=page, page_size=page_size)
    return {"items": [_order(o) for o in result.items], "total": result.total, "page": result.page,
            "pages": result.pages}


@router.get("/admin/orders/{order_id}", response=OrderDetailOut, tags=ADMIN,
            summary="One order (the delivery phone masked for store staff)")
def admin_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    return _admin_order(request, order_id)


def _admin_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    """The staff view of an order: the delivery address's phone as the caller may see it (siyu.customers.privacy)."""
    scope = scope_of(request)
    data = _order_detail(queries.get_order(scope, order_id))
    if data["address"].get("phone"):
        data["address"] = {**data["address"], "phone": privacy.phone_for(scope, data["address"]["phone"])}
    return data


@router.post("/admin/orders/{order_id}/ship", response=OrderDetailOut, tags=ADMIN, summary="Ship a paid order")
def admin_ship(request: HttpRequest, order_id: int, payload: ShipIn) -> dict[str, Any]:
    states.ship_order(scope=scope_of(request), order_id=order_id, carrier=payload.carrier,
                        tracking_no=payload.tracking_no, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/pickup", response=OrderDetailOut, tags=ADMIN,
             summary="Hand a pickup order over at the store")
def admin_pickup(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.mark_picked_up(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/complete", response=OrderDetailOut, tags=ADMIN,
             summary="Complete a shipped or picked-up order")
def admin_complete(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.complete_order(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/cancel", response=OrderDetailOut, tags=ADMIN,
             summary="Cancel an unpaid order (stock and coupon come back)")
def admin_cancel(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.cancel_by_staff(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/mark-paid", response=OrderDetailOut, tags=ADMIN,
             summary="HQ only: record an offline payment (cash, bank transfer) with its reason; audited and posted "
                     "to the ledger. Mall payments go through WeChat Pay")
def admin_mark_paid(request: HttpRequest, order_id: int, payload: PaidIn) -> dict[str, Any]:
    offline_payments.record(scope=scope_of(request), order_id=order_id, reason=payload.reason,
                            payment_ref=payload.payment_ref, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.get("/admin/after-sales", response=AfterSalePage, tags=ADMIN, summary="Refund and return requests")
def admin_after_sales(request: HttpRequest, status: str = "", page: int = 1, page_size: int = 20) -> dict[str, Any]:
    result = queries.after_sales(scope_of(request), status=status[:20], page=page, page_size=page_size)
    return {"items": result.items, "total": result.total, "page": result.page, "pages": result.pages}


@router.post("/admin/after-sales/{after_sale_id}/approve", response=AfterSaleOut, tags=ADMIN,
             summary="Approve a refund request (managers)")
def admin_approve(request: HttpRequest, after_sale_id: int) -> Any:
    return after_sale.approve_refund(scope=scope_of(request), after_sale_id=after_sale_id, actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/reject", response=AfterSaleOut, tags=ADMIN,
             summary="Reject a refund request, saying why (managers)")
def admin_reject(request: HttpRequest, after_sale_id: int, payload: RejectIn) -> Any:
    return after_sale.reject_refund(scope=scope_of(request), after_sale_id=after_sale_id, reason=payload.reason,
                                  actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/returned", response=AfterSaleOut, tags=ADMIN,
             summary="The returned goods arrived (back into stock)")
def admin_returned(request: HttpRequest, after_sale_id: int, payload: ReturnedIn) -> Any:
    return after_sale.mark_returned(scope=scope_of(request), after_sale_id=after_sale_id,
                                  tracking_no=payload.tracking_no, actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/refund", response=AfterSaleOut, tags=ADMIN,
             summary="HQ ONLY, until the payments module exists: record that the money went back")
def admin_refund(request: HttpRequest, after_sale_id: int, payload: RefundDoneIn) -> Any:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied("only HQ records refunds by hand")
    queries.get_after_sale(scope, after_sale_id)
    return after_sale.complete_refund(after_sale_id=after_sale_id, refunded_at=timezone.now(),
                                    refund_ref=payload.refund_ref, enterprise_id=scope.enterprise_id,
                                    actor=actor_of(request))


@router.get("/admin/presales", response=list[PresaleOut], tags=ADMIN, summary="Presales")
def admin_presales(request: HttpRequest) -> list[Any]:
    return list(queries.presales(scope_of(request)))


@router.post("/admin/presales", response={201: PresaleOut}, tags=ADMIN, summary="Create a presale (HQ)")
def admin_presale_create(request: HttpRequest, payload: PresaleIn) -> Status[Any]:
    made = presale.create_presale(scope=scope_of(request), data=presale.PresaleInput(**payload.model_dump()),
                                  actor=actor_of(request))
    return Status(201, made)


@router.get("/admin/presales/demand", response=list[DemandOut], tags=ADMIN,
            summary="Presale demand for buying: deposits and balances paid, units per SKU")
def admin_presale_demand(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"presale_id": r.presale.pk, "name": r.presale.name, "sku_id": r.presale.sku_id,
         **{k: getattr(r, k) for k in DemandOut.model_fields if k not in ("presale_id", "name", "sku_id")}}
        for r in queries.presale_demand(scope_of(request))
    ]


@router.post("/admin/order-imports", response={201: ImportOut}, tags=ADMIN,
             summary="Import a platform order export (CSV, multipart: platform + file); returns the report")
def admin_import(request: HttpRequest, platform: Form[str], file: File[UploadedFile]) -> Status[Any]:
    imp = imports.import_platform_orders(scope=scope_of(request), platform=platform, content=file.read(),
                                          filename=file.name or "", actor=actor_of(request))
    return Status(201, imp)


class HistoryErrorOut(Schema):
    row: int
    message: str


class HistoryImportOut(Schema):
    rows: int
    orders: int
    duplicates: int
    matched: int
    created_customers: int
    without_customer: int
    errors: list[HistoryErrorOut]


@router.post("/admin/order-history", response={201: HistoryImportOut}, tags=ADMIN,
             summary="Import POS / offline order history (CSV, one row per line item); idempotent by store + POS no")
def admin_order_history(request: HttpRequest, file: File[UploadedFile]) -> Status[Any]:
    result = history_import.import_order_history(scope=scope_of(request), content=file.read(),
                                                 filename=file.name or "", actor=actor_of(request))
    body = {**result.__dict__, "errors": [{"row": row, "message": message} for row, message in result.errors]}
    return Status(201, body)


@router.get("/admin/order-imports/{import_id}", response=ImportOut, tags=ADMIN, summary="An import's progress")
def admin_import_status(request: HttpRequest, import_id: int) -> Any:
    return queries.get_platform_import(scope_of(request), import_id)


@router.get("/admin/order-imports/{import_id}/unmatched.csv", tags=ADMIN,
            summary="The import's rows to follow up (new customers, unmatched buyers, errors) as CSV")
def admin_import_report(request: HttpRequest, import_id: int) -> HttpResponse:
    import csv
    import io

    scope = scope_of(request)
    rows = queries.import_report_rows(scope, import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "outcome", "platform", "order_no", "buyer_id", "buyer_nick", "phone", "amount_fen",
                     "customer_id", "message"])
    for r in rows.iterator(chunk_size=1000):
        writer.writerow([r.row_number, r.outcome, r.platform, r.order_no, r.buyer_id, r.buyer_nick,
                         privacy.phone_for(scope, r.phone),
                         r.amount_fen, r.customer_id or "", r.message])
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{import_id}-report.csv"'
    return response
