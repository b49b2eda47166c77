"""Every change to carts, orders, after-sales and presales goes through these functions.

State machine (each move is a conditional UPDATE `... WHERE status IN (<from>)`, so a worker, a customer and an
operator can never both move one order; a move from any other state raises Conflict(invalid_transition)):

    pending_payment ─mark_paid─▶ paid ─ship─▶ shipped ─complete─▶ completed
          │                       └─mark_picked_up─▶ picked_up ─complete─▶ completed
          ├─cancel (customer / staff) / expire (timeout)─▶ cancelled   (stock, flash stock and coupon returned)
          └─(presale) mark_paid─▶ deposit_paid ─mark_paid (balance window)─▶ paid ...
                                       └─expire (balance window over)─▶ cancelled  (stock back, deposit kept)
    paid / shipped / picked_up / completed ─(full refund completed)─▶ refunded

After-sales: requested ─approve─▶ approved ─(return and refund) mark_returned─▶ returned ─complete_refund─▶ refunded;
approved (refund only) ─complete_refund─▶ refunded; requested ─reject─▶ rejected.

Payment and the refund's money are the finance issue's: `mark_paid` and `complete_refund` are the calls it will make
(tests and the demo make them today). Lock order inside a checkout: flash-sale items, then SKU rows (both in id
order), then the coupon: every transaction takes them in that order, so concurrent checkouts cannot deadlock.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from siyu.catalog import queries as catalog_queries
from siyu.catalog import services as catalog_services
from siyu.channels.miniprogram import client as miniprogram
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, UpstreamError, ValidationFailed
from siyu.core.secretbox import seal
from siyu.customers.queries import IdentityKinds as IdentityKind
from siyu.customers.services import (
    EventInput,
    IdentityInput,
    append_event,
    ingest_events,
    record_event,
    resolve_customer,
)
from siyu.customers.validation import normalize_phone
from siyu.orders.models import (
    OPEN_AFTER_SALE,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleStatus,
    CancelReason,
    CartItem,
    Fulfillment,
    Order,
    OrderKind,
    OrderLine,
    OrderSource,
    OrderStatus,
    PlatformImportRow,
    Presale,
    StorefrontSession,
)
from siyu.org import queries as org_queries
from siyu.org.scope import Scope
from siyu.promotions import pricing
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.promotions.pricing import CartLine, PricingBreakdown, PricingInput

MAX_CART_LINES = 100
MAX_QUANTITY = 9999
DEFAULT_PAY_TIMEOUT_MINUTES = 30
SESSION_DAYS = 30
EXPIRE_BATCH = 500
TOKEN_PREFIX = "sf_"  # noqa: S105 - a prefix, not a secret
PAID_STATES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP, OrderStatus.COMPLETED)


def pay_timeout() -> timedelta:
    minutes = getattr(settings, "SIYU_ORDER_PAY_TIMEOUT_MINUTES", None)
    if minutes is None:
        minutes = int(os.environ.get("SIYU_ORDER_PAY_TIMEOUT_MINUTES", str(DEFAULT_PAY_TIMEOUT_MINUTES)))
    return timedelta(minutes=int(minutes))


def _now(now: datetime | None) -> datetime:
    moment = now or timezone.now()
    if moment.tzinfo is None:
        raise ValidationFailed("a moment needs a timezone", field="now")
    return moment


def _event_time(moment: datetime) -> datetime:
    """The log refuses events dated in the future: a test's future `now` is logged as now."""
    return min(moment, timezone.now())


def _hq(enterprise_id: int) -> Scope:
    return Scope.hq(enterprise_id, label="orders")


# ---------------------------------------------------------------------------------------------------------------
# Storefront sessions (mini-program login)


@dataclass(frozen=True)
class Shopper:
    """The signed-in mall customer behind a storefront request."""

    enterprise_id: int
    customer_id: int
    session_id: int
    app_id: str


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    customer_id: int
    openid: str
    unionid: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _miniprogram_account(app_id: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(kind=AccountKind.MINIPROGRAM, app_id=app_id, is_active=True).first()
    if account is None:
        raise NotFound(f"no mini-program with appid {app_id!r}", field="appid", code="unknown_app")
    return account


def _code2session(account: ChannelAccount, code: str) -> miniprogram.Session:
    try:
        return miniprogram.code2session(base_url=account.base_url, app_id=account.app_id, secret=account.secret,
                                        code=code)
    except miniprogram.TerminalError as exc:
        if exc.errcode in miniprogram.BAD_CODE:
            raise ValidationFailed("the login code is invalid or was used already", field="code",
                                   code="invalid_code") from exc
        raise UpstreamError(f"the mini-program platform refused the login ({exc.errcode})", field="appid",
                            code="miniprogram_rejected") from exc
    except miniprogram.RetryableError as exc:
        raise UpstreamError("the mini-program platform is busy; try again", code="upstream_unavailable") from exc


def storefront_login(*, app_id: str, code: str, now: datetime | None = None) -> LoginResult:
    """The mall's login: exchange the mini-program `code` for the openid/unionid (code2session), find or create the
    customer behind them (merging when the unionid joins two records), and issue a customer token."""
    moment = _now(now)
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= 128:
        raise ValidationFailed("code is 1-128 characters", field="code", code="invalid_code")
    account = _miniprogram_account((app_id or "").strip())
    session = _code2session(account, code.strip())  # outside the transaction: no row is held during the call
    identities = [IdentityInput(kind=IdentityKind.MINIPROGRAM_OPENID, value=session.openid, account=account.app_id)]
    if session.unionid:
        identities.append(IdentityInput(kind=IdentityKind.UNIONID, value=session.unionid, account=account.app_id))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = moment + timedelta(days=SESSION_DAYS)
    with transaction.atomic():
        customer = resolve_customer(enterprise_id=account.enterprise_id, identities=identities,
                                    defaults={"created_source": "miniprogram", "created_at": moment})
        StorefrontSession.objects.create(
            enterprise_id=account.enterprise_id, customer=customer, app_id=account.app_id, openid=session.openid,
            sealed_session_key=seal(session.session_key), token_hash=_token_hash(token), created_at=moment,
            expires_at=expires,
        )
    return LoginResult(token=token, expires_at=expires, customer_id=customer.pk, openid=session.openid,
                       unionid=session.unionid)


def authenticate_customer(token: str, *, now: datetime | None = None) -> Shopper | None:
    """The shopper a storefront token belongs to, or None (unknown, expired or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    moment = now or timezone.now()
    # Raw SQL: every storefront request runs this, and building the ORM query costs more than answering it.
    sessions = connection.ops.quote_name(StorefrontSession._meta.db_table)
    expires = connection.ops.adapt_datetimefield_value(moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, enterprise_id, customer_id, app_id FROM {sessions} "  # noqa: S608 - the model's table
            "WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > %s",
            [_token_hash(token), expires],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Shopper(session_id=row[0], enterprise_id=row[1], customer_id=row[2], app_id=row[3])


def storefront_logout(*, shopper: Shopper, now: datetime | None = None) -> None:
    StorefrontSession.objects.filter(pk=shopper.session_id, revoked_at__isnull=True).update(revoked_at=_now(now))


def record_product_view(*, shopper: Shopper, product_id: int, now: datetime | None = None) -> None:
    """Log `product_viewed` for the mall's product page; repeat views within ten minutes are one event."""
    moment = _now(now)
    bucket = int(moment.timestamp()) // 600
    ingest_events(enterprise_id=shopper.enterprise_id, batch=[EventInput(
        name="product_viewed", occurred_at=_event_time(moment), customer_id=shopper.customer_id,
        channel="miniprogram", properties={"product_id": product_id},
        idempotency_key=f"product_viewed:{shopper.customer_id}:{product_id}:{bucket}",
    )])


# ---------------------------------------------------------------------------------------------------------------
# Cart


@dataclass(frozen=True)
class LineInput:
    """What a customer buys: a SKU (optionally at a flash-sale item's or a group buy's price) or a bundle."""

    quantity: int
    sku_id: int | None = None
    bundle_id: int | None = None
    flash_item_id: int | None = None
    group_buy_id: int | None = None


def _check_quantity(quantity: Any, *, field: str = "quantity", index: int | None = None) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed(f"quantity must be a whole number from 1 to {MAX_QUANTITY}", field=field, index=index,
                               code="invalid_quantity")
    return quantity


def _line_key(line: LineInput) -> str:
    key = f"s{line.sku_id}" if line.sku_id is not None else f"b{line.bundle_id}"
    if line.flash_item_id is not None:
        key += f":f{line.flash_item_id}"
    if line.group_buy_id is not None:
        key += f":g{line.group_buy_id}"
    return key


def _check_sellable(enterprise_id: int, line: LineInput) -> None:
    if (line.sku_id is None) == (line.bundle_id is None):
        raise ValidationFailed("name either a SKU or a bundle", field="sku_id", code="invalid_line")
    if line.bundle_id is not None:
        bundle = catalog_queries.on_sale_bundles(enterprise_id=enterprise_id).filter(id=line.bundle_id).first()
        if bundle is None:
            raise NotFound(f"unknown bundle {line.bundle_id}", field="bundle_id", code="unknown_bundle")
        return
    assert line.sku_id is not None
    try:
        sku = catalog_queries.get_sku(_hq(enterprise_id), line.sku_id)
    except NotFound as exc:
        raise NotFound(f"unknown SKU {line.sku_id}", field="sku_id", code="unknown_sku") from exc
    if not sku.is_active or sku.product.status != "on_sale":
        raise Conflict(f"{sku.product.name} is not on sale", field="sku_id", code="not_on_sale")


@transaction.atomic
def add_to_cart(*, enterprise_id: int, customer_id: int, line: LineInput, now: datetime | None = None) -> CartItem:
    """Put something in the cart; the same thing again raises its quantity."""
    _check_quantity(line.quantity)
    _check_sellable(enterprise_id, line)
    key = _line_key(line)
    existing = CartItem.objects.select_for_update().filter(customer_id=customer_id, line_key=key).first()
    if existing is not None:
        _check_quantity(existing.quantity + line.quantity)
        existing.quantity = F("quantity") + line.quantity
        existing.save(update_fields=["quantity", "updated_at"])
        existing.refresh_from_db()
        return existing
    if CartItem.objects.filter(customer_id=customer_id).count() >= MAX_CART_LINES:
        raise ValidationFailed(f"a cart holds at most {MAX_CART_LINES} lines", field="sku_id", code="cart_full")
    return CartItem.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, line_key=key, sku_id=line.sku_id,
        bundle_id=line.bundle_id, flash_item_id=line.flash_item_id, group_buy_id=line.group_buy_id,
        quantity=line.quantity, added_at=_now(now),
    )


def _cart_item(customer_id: int, item_id: int) -> CartItem:
    item = CartItem.objects.filter(pk=item_id, customer_id=customer_id).first()
    if item is None:
        raise NotFound(f"cart item {item_id} not found", field="item_id")
    return item


@transaction.atomic
def update_cart_item(*, customer_id: int, item_id: int, quantity: int) -> CartItem:
    _check_quantity(quantity)
    item = _cart_item(customer_id, item_id)
    item.quantity = quantity
    item.save(update_fields=["quantity", "updated_at"])
    return item


@transaction.atomic
def remove_cart_item(*, customer_id: int, item_id: int) -> None:
    _cart_item(customer_id, item_id).delete()


def cart_lines(*, customer_id: int) -> list[LineInput]:
    return [
        LineInput(quantity=q, sku_id=s, bundle_id=b, flash_item_id=f, group_buy_id=g)
        for s, b, f, g, q in CartItem.objects.filter(customer_id=customer_id).order_by("added_at", "id").values_list(
            "sku_id", "bundle_id", "flash_item_id", "group_buy_id", "quantity")
    ]


# ---------------------------------------------------------------------------------------------------------------
# Checkout: preview and placement share `_quote`, so they cannot disagree


@dataclass(frozen=True)
class Attribution:
    """Where the order came from: a link a staff member shared carries staff_id, campaign and channel code."""

    staff_id: int | None = None
    campaign: str = ""
    channel_state: str = ""
    channel: str = "miniprogram"


@dataclass(frozen=True)
class CheckoutInput:
    """`lines` None means "the cart". `address` ({name, phone, detail, region}) is needed to place a delivery order;
    `group_team_id` names the group-buy team to join (none: the customer leads a new team)."""

    lines: Sequence[LineInput] | None = None
    coupon_id: int | None = None
    store_id: int | None = None
    fulfillment: str = Fulfillment.DELIVERY
    address: Mapping[str, str] = field(default_factory=dict)
    buyer_note: str = ""
    attribution: Attribution = Attribution()
    group_team_id: int | None = None


@dataclass(frozen=True)
class Quote:
    cart: PricingInput
    breakdown: PricingBreakdown
    from_cart: bool


def _checkout_lines(customer_id: int, data: CheckoutInput) -> tuple[list[LineInput], bool]:
    if data.lines is None:
        lines = cart_lines(customer_id=customer_id)
        if not lines:
            raise ValidationFailed("the cart is empty", field="lines", code="empty_cart")
        return lines, True
    for index, line in enumerate(data.lines):
        _check_quantity(line.quantity, field=f"lines[{index}].quantity", index=index)
    return list(data.lines), False


def _check_store(enterprise_id: int, data: CheckoutInput) -> None:
    if data.fulfillment not in Fulfillment.values:
        raise ValidationFailed("fulfillment is delivery or pickup", field="fulfillment")
    if data.store_id is not None:
        if not org_queries.stores(_hq(enterprise_id)).filter(pk=data.store_id, is_active=True).exists():
            raise NotFound(f"store {data.store_id} not found", field="store_id", code="unknown_store")
    elif data.fulfillment == Fulfillment.PICKUP:
        raise ValidationFailed("choose the store to pick up from", field="store_id", code="required")


def _quote(*, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime) -> Quote:
    _check_store(enterprise_id, data)
    lines, from_cart = _checkout_lines(customer_id, data)
    cart_input = promotion_queries.load_pricing_input(
        enterprise_id=enterprise_id, customer_id=customer_id, coupon_id=data.coupon_id, store_id=data.store_id,
        fulfillment=data.fulfillment, now=now,
        lines=[CartLine(quantity=x.quantity, sku_id=x.sku_id, bundle_id=x.bundle_id, flash_item_id=x.flash_item_id,
                        group_buy_id=x.group_buy_id) for x in lines],
    )
    return Quote(cart=cart_input, breakdown=pricing.price(cart_input), from_cart=from_cart)


def preview_checkout(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, now: datetime | None = None
) -> PricingBreakdown:
    """The full price breakdown the customer would pay now (nothing is written)."""
    return _quote(enterprise_id=enterprise_id, customer_id=customer_id, data=data, now=_now(now)).breakdown


def _clean_address(data: CheckoutInput) -> dict[str, str]:
    if data.fulfillment == Fulfillment.PICKUP:
        return {}
    raw = {key: str(value).strip() for key, value in data.address.items()}
    for key in ("name", "phone", "detail"):
        if not raw.get(key):
            raise ValidationFailed(f"the delivery address needs {key}", field=f"address.{key}", code="required")
    for key in raw:
        if key not in ("name", "phone", "detail", "region"):
            raise ValidationFailed(f"unknown address field {key!r}", field=f"address.{key}")
        if len(raw[key]) > 200:
            raise ValidationFailed(f"{key} is at most 200 characters", field=f"address.{key}", code="too_long")
    raw["phone"] = normalize_phone(raw["phone"], field="address.phone")
    return raw


def _clean_attribution(enterprise_id: int, attribution: Attribution) -> Attribution:
    """Text is checked strictly; a staff id that is unknown or has left is dropped (a stale link must not stop a
    sale) while its campaign and channel code are kept."""
    if len(attribution.campaign) > 64 or len(attribution.channel_state) > 64:
        raise ValidationFailed("campaign and channel code are at most 64 characters", field="attribution",
                               code="too_long")
    staff_id = attribution.staff_id
    if staff_id is not None:
        known = org_queries.staff(_hq(enterprise_id)).filter(pk=staff_id, is_active=True).exists()
        staff_id = staff_id if known else None
    return Attribution(staff_id=staff_id, campaign=attribution.campaign.strip(),
                       channel_state=attribution.channel_state.strip(), channel=attribution.channel)


def _new_order_no(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d") + f"{secrets.randbelow(10**12):012d}"


def _line_rows(order: Order, quote: Quote) -> list[OrderLine]:
    rows = []
    for line in quote.breakdown.lines:
        info = quote.cart.skus.get(line.sku_id) if line.sku_id is not None else None
        rows.append(OrderLine(
            order=order, index=line.index, sku_id=line.sku_id, bundle_id=line.bundle_id, product_id=line.product_id,
            category_id=info.category_id if info else None, name=line.name[:200], quantity=line.quantity,
            price_source=line.price_source, unit_list_price_fen=line.unit_list_price.fen,
            unit_price_fen=line.unit_price.fen, list_amount_fen=line.list_amount.fen, amount_fen=line.amount.fen,
            reduction_discount_fen=line.reduction_discount.fen, coupon_discount_fen=line.coupon_discount.fen,
            payable_fen=line.payable.fen, flash_item_id=line.flash_item_id, group_buy_id=line.group_buy_id,
            components=[list(c) for c in line.components],
        ))
    return rows


def _take_stock(order: Order, lines: Sequence[OrderLine]) -> None:
    """Flash units first, then SKU stock (the documented lock order). Any shortfall rolls the order back."""
    flash = [
        promotion_services.FlashReservation(item_id=line.flash_item_id, quantity=line.quantity, line=line.index)
        for line in lines if line.flash_item_id is not None
    ]
    if flash:
        assert order.customer_id is not None
        promotion_services.reserve_flash(enterprise_id=order.enterprise_id, customer_id=order.customer_id,
                                         items=flash, now=order.created_at)
    stock = [
        catalog_services.StockItem(sku_id=int(sku_id), quantity=int(units), line=line.index)
        for line in lines for sku_id, units in line.components
    ]
    if stock:
        catalog_services.reserve_stock(enterprise_id=order.enterprise_id, items=stock)


def _order_created_event(order: Order, lines: Sequence[OrderLine]) -> None:
    assert order.customer_id is not None
    append_event(
        enterprise_id=order.enterprise_id, name="order_created", idempotency_key=f"order_created:{order.pk}",
        customer_id=order.customer_id, occurred_at=_event_time(order.created_at), channel=order.channel,
        store_id=order.store_id, staff_id=order.staff_id, campaign=order.campaign,
        properties={
            "order_id": order.pk, "order_no": order.order_no, "amount_fen": order.amount_fen,
            "currency": order.currency, "items": sum(line.quantity for line in lines), "source": order.source,
            "kind": order.kind, "product_ids": sorted({x.product_id for x in lines if x.product_id})[:100],
            "category_ids": sorted({x.category_id for x in lines if x.category_id})[:100],
        },
    )


def _attach_lines(order: Order, lines: list[OrderLine]) -> Order:
    """A new order carries the lines just written (and no after-sales), so callers need not read them back."""
    setattr(order, "_prefetched_objects_cache", {"lines": lines, "after_sales": []})  # noqa: B010
    return order


def _existing_by_key(enterprise_id: int, customer_id: int, key: str) -> Order | None:
    found = Order.objects.filter(enterprise_id=enterprise_id, idempotency_key=key).first()
    if found is not None and found.customer_id != customer_id:
        raise Conflict("this idempotency key was used for another order", field="idempotency_key",
                       code="idempotency_key_reused")
    return found


def _clean_key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > 64:
        raise ValidationFailed("idempotency_key is at most 64 characters", field="idempotency_key")
    return key


def place_order(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, idempotency_key: str = "",
    source: str = OrderSource.MALL, now: datetime | None = None,
) -> Order:
    """Price the checkout with the same engine as the preview, write the order with its breakdown, take the flash
    and SKU stock (conditional UPDATEs: never oversold), lock the coupon and log order_created. All or nothing: bad
    input or a shortfall raises a 4xx domain error and writes nothing. A repeat with the same idempotency key
    returns the first order."""
    moment = _now(now)
    key = _clean_key(idempotency_key)
    if key and (existing := _existing_by_key(enterprise_id, customer_id, key)) is not None:
        return existing
    quote = _quote(enterprise_id=enterprise_id, customer_id=customer_id, data=data, now=moment)
    address = _clean_address(data)
    attribution = _clean_attribution(enterprise_id, data.attribution)
    if len(data.buyer_note) > 200:
        raise ValidationFailed("the note is at most 200 characters", field="buyer_note", code="too_long")
    try:
        return _write_order(enterprise_id=enterprise_id, customer_id=customer_id, data=data, quote=quote,
                            address=address, attribution=attribution, key=key, source=source, moment=moment)
    except IntegrityError:
        if key and (winner := _existing_by_key(enterprise_id, customer_id, key)) is not None:
            return winner  # a concurrent request with the same key won the race
        raise


@transaction.atomic
def _write_order(
    *, enterprise_id: int, customer_id: int, data: CheckoutInput, quote: Quote, address: dict[str, str],
    attribution: Attribution, key: str, source: str, moment: datetime,
) -> Order:
    breakdown = quote.breakdown
    order = Order.objects.create(
        enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(moment), source=source,
        fulfillment=data.fulfillment, store_id=data.store_id, channel=attribution.channel,
        staff_id=attribution.staff_id, campaign=attribution.campaign, channel_state=attribution.channel_state,
        currency=breakdown.currency, list_total_fen=breakdown.list_total.fen, subtotal_fen=breakdown.subtotal.fen,
        reduction_discount_fen=breakdown.reduction_discount.fen, coupon_discount_fen=breakdown.coupon_discount.fen,
        shipping_fen=breakdown.shipping.fen, amount_fen=breakdown.payable.fen, coupon_id=breakdown.coupon_id,
        reduction_id=breakdown.reduction_id, group_team_id=data.group_team_id, breakdown=breakdown.as_dict(),
        address=address, buyer_note=data.buyer_note.strip(), idempotency_key=key, created_at=moment,
        pay_deadline=moment + pay_timeout(),
    )
    lines = OrderLine.objects.bulk_create(_line_rows(order, quote))
    _take_stock(order, lines)
    if breakdown.coupon_id is not None:
        assert quote.cart.coupon is not None and quote.cart.coupon.coupon_id == breakdown.coupon_id
        promotion_services.use_coupon_at_checkout(enterprise_id=enterprise_id, coupon=quote.cart.coupon,
                                                  customer_id=customer_id, order_id=order.pk, now=moment)
    if quote.from_cart:
        CartItem.objects.filter(customer_id=customer_id).delete()
    _order_created_event(order, lines)
    return _attach_lines(order, lines)


# ---------------------------------------------------------------------------------------------------------------
# Transitions


def _move(order_id: int, *, enterprise_id: int | None, sources: Iterable[str], action: str, **changes: Any) -> Order:
    """One conditional UPDATE: the order moves only if it is still in one of `sources`. Returns it reloaded."""
    allowed = list(sources)
    qs = Order.objects.filter(pk=order_id)
    if enterprise_id is not None:
        qs = qs.filter(enterprise_id=enterprise_id)
    if qs.filter(status__in=allowed).update(**changes) != 1:
        current = qs.values_list("status", flat=True).first()
        if current is None:
            raise NotFound(f"order {order_id} not found", field="order_id")
        raise Conflict(f"cannot {action} an order that is {current}", field="status", code="invalid_transition")
    return Order.objects.select_related("customer").get(pk=order_id)


def _visible_order(scope: Scope, order_id: int) -> Order:
    from siyu.orders import queries  # the read side decides what a scope may see

    return queries.get_order(scope, order_id)


def _event(order: Order, name: str, key: str, moment: datetime, properties: dict[str, Any]) -> None:
    if order.customer is None:
        return  # a platform order nobody matched: no customer log to write to
    record_event(customer=order.customer, name=name, idempotency_key=key, occurred_at=_event_time(moment),
                 channel=order.channel, store_id=order.store_id, staff_id=order.staff_id, campaign=order.campaign,
                 properties={"order_id": order.pk, "order_no": order.order_no, **properties})


def _clean_ref(payment_ref: str, field: str = "payment_ref") -> str:
    ref = (payment_ref or "").strip()
    if not ref or len(ref) > 64:
        raise ValidationFailed(f"{field} is 1-64 characters", field=field, code="required")
    return ref


def mark_paid(*, order_id: int, paid_at: datetime, payment_ref: str, enterprise_id: int | None = None) -> Order:
    """Record a payment (the finance issue's callback will call this; until then tests and the demo do). A normal
    order moves pending_payment → paid; a presale's first payment is its deposit (→ deposit_paid), its second the
    balance (→ paid, inside the balance window). Repeating a recorded payment (same ref) returns the order."""
    ref = _clean_ref(payment_ref)
    if paid_at.tzinfo is None:
        raise ValidationFailed("paid_at needs a timezone", field="paid_at")
    current = Order.objects.filter(pk=order_id).values_list("kind", "payment_ref", "deposit_payment_ref").first()
    if current is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if ref in (current[1], current[2]):
        return Order.objects.get(pk=order_id)  # the same payment reported again
    with transaction.atomic():
        if current[0] == OrderKind.PRESALE:
            return _pay_presale(order_id, enterprise_id, paid_at, ref)
        order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.PENDING_PAYMENT], action="pay",
                      status=OrderStatus.PAID, paid_at=paid_at, payment_ref=ref, paid_fen=F("amount_fen"),
                      pay_deadline=None)
        _event(order, "order_paid", f"order_paid:{order.pk}", paid_at,
               {"amount_fen": order.amount_fen, "currency": order.currency, "stage": "full", "payment_ref": ref})
        _seat_group_buy(order, paid_at)
    return order


def _pay_presale(order_id: int, enterprise_id: int | None, paid_at: datetime, ref: str) -> Order:
    order = Order.objects.select_for_update(of=("self",)).select_related("presale").filter(pk=order_id).first()
    assert order is not None
    presale = order.presale
    assert presale is not None
    if order.status == OrderStatus.PENDING_PAYMENT:
        order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.PENDING_PAYMENT], action="pay",
                      status=OrderStatus.DEPOSIT_PAID, deposit_paid_at=paid_at, deposit_payment_ref=ref,
                      paid_fen=F("deposit_fen"), pay_deadline=presale.balance_ends_at)
        _event(order, "order_paid", f"order_paid:{order.pk}:deposit", paid_at,
               {"amount_fen": order.deposit_fen, "currency": order.currency, "stage": "deposit", "payment_ref": ref})
        return order
    if order.status == OrderStatus.DEPOSIT_PAID and paid_at < presale.balance_starts_at:
        raise Conflict("the balance window has not opened yet", field="paid_at", code="balance_not_open")
    order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.DEPOSIT_PAID], action="pay",
                  status=OrderStatus.PAID, paid_at=paid_at, payment_ref=ref, paid_fen=F("amount_fen"),
                  pay_deadline=None)
    _event(order, "order_paid", f"order_paid:{order.pk}", paid_at,
           {"amount_fen": order.amount_fen - order.deposit_fen, "currency": order.currency, "stage": "balance",
            "payment_ref": ref})
    return order


def _seat_group_buy(order: Order, moment: datetime) -> None:
    """A paid group-buy order takes its seat: joins the team it named, or leads a new one (also when that team filled
    up meanwhile). If the group buy itself has ended, the order is refunded in full."""
    group_buy_id = order.lines.filter(group_buy_id__isnull=False).values_list("group_buy_id", flat=True).first()
    if group_buy_id is None or order.customer_id is None:
        return
    common: dict[str, Any] = {"enterprise_id": order.enterprise_id, "customer_id": order.customer_id,
                              "order_id": order.pk, "now": moment}
    if order.group_team_id is not None:
        try:
            with transaction.atomic():
                promotion_services.join_team(team_id=order.group_team_id, **common)
            return
        except DomainError:
            pass  # full, closed or already joined: lead a new team instead
    try:
        with transaction.atomic():
            promotion_services.open_team(group_buy_id=group_buy_id, **common)
    except DomainError:
        _system_refund(order, reason="group_buy_ended", key=f"group_buy_refund:{order.pk}", moment=moment)


def _staff_move(scope: Scope, order_id: int, **kwargs: Any) -> Order:
    _visible_order(scope, order_id)
    return _move(order_id, enterprise_id=scope.enterprise_id, **kwargs)


def _no_open_after_sale(order_id: int) -> None:
    if AfterSale.objects.filter(order_id=order_id, status__in=OPEN_AFTER_SALE).exists():
        raise Conflict("settle the open after-sale request first", field="order_id", code="after_sale_open")


@transaction.atomic
def ship_order(
    *, scope: Scope, order_id: int, carrier: str = "", tracking_no: str = "", now: datetime | None = None,
    actor: Actor = None,
) -> Order:
    moment = _now(now)
    if len(carrier) > 32 or len(tracking_no) > 64:
        raise ValidationFailed("carrier ≤ 32 and tracking number ≤ 64 characters", field="tracking_no")
    _no_open_after_sale(order_id)
    order = _visible_order(scope, order_id)
    if order.fulfillment != Fulfillment.DELIVERY:
        raise Conflict("a pickup order is picked up, not shipped", field="fulfillment", code="invalid_transition")
    order = _staff_move(scope, order_id, sources=[OrderStatus.PAID], action="ship", status=OrderStatus.SHIPPED,
                        shipped_at=moment, carrier=carrier.strip(), tracking_no=tracking_no.strip())
    _event(order, "order_shipped", f"order_shipped:{order.pk}", moment,
           {"fulfillment": "delivery", "carrier": order.carrier, "tracking_no": order.tracking_no})
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="order.ship", target_type="order", target_id=order.pk, summary=order.order_no)
    return order


@transaction.atomic
def mark_picked_up(*, scope: Scope, order_id: int, now: datetime | None = None, actor: Actor = None) -> Order:
    moment = _now(now)
    _no_open_after_sale(order_id)
    order = _visible_order(scope, order_id)
    if order.fulfillment != Fulfillment.PICKUP:
        raise Conflict("a delivery order is shipped, not picked up", field="fulfillment", code="invalid_transition")
    order = _staff_move(scope, order_id, sources=[OrderStatus.PAID], action="hand over", status=OrderStatus.PICKED_UP,
                        picked_up_at=moment)
    _event(order, "order_shipped", f"order_shipped:{order.pk}", moment, {"fulfillment": "pickup"})
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="order.pickup", target_type="order", target_id=order.pk, summary=order.order_no)
    return order


def _complete(order_id: int, enterprise_id: int, moment: datetime) -> Order:
    order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.SHIPPED, OrderStatus.PICKED_UP],
                  action="complete", status=OrderStatus.COMPLETED, completed_at=moment)
    _event(order, "order_completed", f"order_completed:{order.pk}", moment, {"amount_fen": order.paid_fen})
    return order


@transaction.atomic
def complete_order(*, scope: Scope, order_id: int, now: datetime | None = None, actor: Actor = None) -> Order:
    _visible_order(scope, order_id)
    order = _complete(order_id, scope.enterprise_id, _now(now))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="order.complete", target_type="order", target_id=order.pk,
                 summary=order.order_no)
    return order


@transaction.atomic
def confirm_received(*, enterprise_id: int, customer_id: int, order_id: int, now: datetime | None = None) -> Order:
    """The customer confirms receipt (确认收货)."""
    _own_order(enterprise_id, customer_id, order_id)
    return _complete(order_id, enterprise_id, _now(now))


def _own_order(enterprise_id: int, customer_id: int, order_id: int) -> Order:
    order = Order.objects.filter(pk=order_id, enterprise_id=enterprise_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return order


# ---------------------------------------------------------------------------------------------------------------
# Cancelling and giving back what an unpaid order held


def _release_held(orders: Sequence[tuple[int, int, int | None, int | None]], moment: datetime) -> None:
    """Give back what cancelled unpaid orders held, set-based: SKU stock summed per SKU, flash units per customer,
    coupons per coupon. `orders` are (order_id, enterprise_id, customer_id, coupon_id)."""
    ids = [row[0] for row in orders]
    owner = {row[0]: row for row in orders}
    stock: dict[int, dict[int, int]] = {}
    flash: dict[tuple[int, int], dict[int, int]] = {}
    for order_id, components, flash_item_id, quantity in OrderLine.objects.filter(order_id__in=ids).values_list(
            "order_id", "components", "flash_item_id", "quantity"):
        enterprise_id, customer_id = owner[order_id][1], owner[order_id][2]
        per_sku = stock.setdefault(enterprise_id, {})
        for sku_id, units in components:
            per_sku[int(sku_id)] = per_sku.get(int(sku_id), 0) + int(units)
        if flash_item_id is not None and customer_id is not None:
            per_item = flash.setdefault((enterprise_id, customer_id), {})
            per_item[flash_item_id] = per_item.get(flash_item_id, 0) + quantity
    for (enterprise_id, customer_id), items in sorted(flash.items()):
        promotion_services.release_flash(enterprise_id=enterprise_id, customer_id=customer_id, items=[
            promotion_services.FlashReservation(item_id=i, quantity=q) for i, q in sorted(items.items())])
    for enterprise_id, per_sku in sorted(stock.items()):
        if per_sku:
            catalog_services.release_stock(enterprise_id=enterprise_id, items=[
                catalog_services.StockItem(sku_id=s, quantity=q) for s, q in sorted(per_sku.items())])
    for order_id, enterprise_id, _customer_id, coupon_id in orders:
        if coupon_id is not None:
            promotion_services.return_coupon(enterprise_id=enterprise_id, coupon_id=coupon_id, order_id=order_id,
                                             reason="cancel", now=moment)


def _cancel(order_id: int, enterprise_id: int, reason: str, moment: datetime) -> Order:
    order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.PENDING_PAYMENT], action="cancel",
                  status=OrderStatus.CANCELLED, cancel_reason=reason, cancelled_at=moment, pay_deadline=None)
    _release_held([(order.pk, order.enterprise_id, order.customer_id, order.coupon_id)], moment)
    _event(order, "order_cancelled", f"order_cancelled:{order.pk}", moment, {"reason": reason})
    return order


@transaction.atomic
def cancel_by_customer(*, enterprise_id: int, customer_id: int, order_id: int, now: datetime | None = None) -> Order:
    """The customer cancels an unpaid order: its stock, flash units and coupon come back."""
    _own_order(enterprise_id, customer_id, order_id)
    return _cancel(order_id, enterprise_id, CancelReason.CUSTOMER, _now(now))


@transaction.atomic
def cancel_by_staff(*, scope: Scope, order_id: int, now: datetime | None = None, actor: Actor = None) -> Order:
    _visible_order(scope, order_id)
    order = _cancel(order_id, scope.enterprise_id, CancelReason.STAFF, _now(now))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="order.cancel", target_type="order", target_id=order.pk, summary=order.order_no)
    return order


def expire_unpaid_orders(*, now: datetime | None = None, batch_size: int = EXPIRE_BATCH) -> int:
    """Cancel every order whose payment deadline has passed (all enterprises; the periodic worker job): unpaid
    orders after SIYU_ORDER_PAY_TIMEOUT_MINUTES, presales whose balance window closed unpaid (deposit kept).
    Safe with several workers: each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED and moved by a
    conditional UPDATE, so every order is cancelled, and its stock returned, exactly once. Returns how many."""
    moment = _now(now)
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                Order.objects.select_for_update(skip_locked=True)
                .filter(status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.DEPOSIT_PAID], pay_deadline__lte=moment)
                .order_by("id").values_list("id", "status")[:batch_size]
            )
            if not due:
                return total
            total += _expire_batch(due, moment)


def _expire_batch(due: list[tuple[int, str]], moment: datetime) -> int:
    unpaid = [order_id for order_id, status in due if status == OrderStatus.PENDING_PAYMENT]
    deposit = [order_id for order_id, status in due if status == OrderStatus.DEPOSIT_PAID]
    common = {"status": OrderStatus.CANCELLED, "cancelled_at": moment, "pay_deadline": None}
    Order.objects.filter(id__in=unpaid, status=OrderStatus.PENDING_PAYMENT).update(
        cancel_reason=CancelReason.TIMEOUT, **common)
    Order.objects.filter(id__in=deposit, status=OrderStatus.DEPOSIT_PAID).update(
        cancel_reason=CancelReason.BALANCE_TIMEOUT, **common)
    rows = list(Order.objects.filter(id__in=[order_id for order_id, _ in due], cancelled_at=moment,
                                     status=OrderStatus.CANCELLED).values_list(
        "id", "enterprise_id", "customer_id", "coupon_id", "order_no", "cancel_reason", "channel", "store_id",
        "staff_id", "campaign"))
    _release_held([row[:4] for row in rows], moment)
    events: dict[int, list[EventInput]] = {}
    for order_id, enterprise_id, customer_id, _c, order_no, reason, channel, store_id, staff_id, campaign in rows:
        if customer_id is None:
            continue
        events.setdefault(enterprise_id, []).append(EventInput(
            name="order_cancelled", occurred_at=_event_time(moment), idempotency_key=f"order_cancelled:{order_id}",
            customer_id=customer_id, channel=channel, store_id=store_id, staff_id=staff_id, campaign=campaign,
            properties={"order_id": order_id, "order_no": order_no, "reason": reason},
        ))
    for enterprise_id, batch in events.items():
        ingest_events(enterprise_id=enterprise_id, batch=batch)
    return len(rows)


# ---------------------------------------------------------------------------------------------------------------
# After-sales


@dataclass(frozen=True)
class RefundLineInput:
    line_id: int
    quantity: int


def _line_refund_amount(line: OrderLine, quantity: int) -> int:
    """This quantity's share of the line's payable. Cumulative, so refunding every unit in any steps adds up to the
    line's payable exactly: share(done + q) - share(done)."""
    done = line.refunded_quantity
    return line.payable_fen * (done + quantity) // line.quantity - line.payable_fen * done // line.quantity


def _refund_lines(order: Order, wanted: Sequence[RefundLineInput] | None) -> list[tuple[OrderLine, int]]:
    lines = {line.pk: line for line in order.lines.all()}
    if wanted is None:
        chosen = [(line, line.quantity - line.refunded_quantity) for line in lines.values()]
        chosen = [(line, q) for line, q in chosen if q > 0]
        if not chosen:
            raise Conflict("everything on this order was refunded already", field="lines", code="nothing_to_refund")
        return chosen
    if not wanted:
        raise ValidationFailed("name at least one line", field="lines", code="required")
    out, seen = [], set()
    for index, item in enumerate(wanted):
        line = lines.get(item.line_id)
        if line is None or item.line_id in seen:
            raise NotFound(f"line {item.line_id} is not on this order", field=f"lines[{index}].line_id", index=index)
        seen.add(item.line_id)
        left = line.quantity - line.refunded_quantity
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or not 1 <= item.quantity <= left:
            raise ValidationFailed(f"quantity must be 1-{left}", field=f"lines[{index}].quantity", index=index,
                                   code="invalid_quantity")
        out.append((line, item.quantity))
    return out


def _check_refundable(order: Order, kind: str) -> None:
    if kind not in AfterSaleKind.values:
        raise ValidationFailed("kind is refund_only or return_refund", field="kind")
    if order.status not in PAID_STATES:
        raise Conflict(f"an order that is {order.status} cannot be refunded", field="status",
                       code="invalid_transition")
    if kind == AfterSaleKind.RETURN_REFUND and order.status == OrderStatus.PAID:
        raise ValidationFailed("nothing was shipped to return: ask for a refund only", field="kind",
                               code="nothing_to_return")
    _no_open_after_sale(order.pk)


def _create_after_sale(
    order: Order, *, kind: str, reason: str, lines: Sequence[RefundLineInput] | None, requested_by: str,
    moment: datetime, key: str = "", status: str = AfterSaleStatus.REQUESTED,
) -> AfterSale:
    if len(reason) > 200:
        raise ValidationFailed("the reason is at most 200 characters", field="reason", code="too_long")
    _check_refundable(order, kind)
    chosen = _refund_lines(order, lines)
    amounts = [(line, quantity, _line_refund_amount(line, quantity)) for line, quantity in chosen]
    all_out = sum(q for _l, q, _a in amounts) == sum(x.quantity - x.refunded_quantity for x in order.lines.all())
    shipping = order.shipping_fen if all_out and order.status == OrderStatus.PAID else 0
    total = sum(a for _l, _q, a in amounts) + shipping
    total = min(total, order.paid_fen - order.refunded_fen)
    after_sale = AfterSale.objects.create(
        enterprise_id=order.enterprise_id, order=order, customer_id=order.customer_id, kind=kind, status=status,
        reason=reason.strip(), amount_fen=total, shipping_fen=shipping, currency=order.currency,
        requested_by=requested_by, idempotency_key=key, requested_at=moment,
        decided_at=moment if status == AfterSaleStatus.APPROVED else None,
    )
    AfterSaleLine.objects.bulk_create([
        AfterSaleLine(after_sale=after_sale, order_line=line, quantity=quantity, amount_fen=amount)
        for line, quantity, amount in amounts
    ])
    _refund_event(after_sale, order, "refund_requested", moment)
    return after_sale


def _refund_event(after_sale: AfterSale, order: Order, name: str, moment: datetime) -> None:
    _event(order, name, f"{name}:{after_sale.pk}", moment, {
        "after_sale_id": after_sale.pk, "kind": after_sale.kind, "amount_fen": after_sale.amount_fen,
        "currency": after_sale.currency, "reason": after_sale.reason,
    })


def _locked_order(order_id: int, enterprise_id: int) -> Order:
    order = Order.objects.select_for_update(of=("self",)).select_related("customer").filter(
        pk=order_id, enterprise_id=enterprise_id).first()
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return order


@transaction.atomic
def request_refund(
    *, enterprise_id: int, customer_id: int, order_id: int, kind: str, reason: str = "",
    lines: Sequence[RefundLineInput] | None = None, now: datetime | None = None,
) -> AfterSale:
    """The customer asks for a refund (refund only; after delivery also return and refund) of the whole order or of
    some lines. Amounts come from the order's stored breakdown; one open request per order."""
    _own_order(enterprise_id, customer_id, order_id)
    order = _locked_order(order_id, enterprise_id)
    try:
        with transaction.atomic():
            return _create_after_sale(order, kind=kind, reason=reason, lines=lines, requested_by="customer",
                                      moment=_now(now))
    except IntegrityError as exc:
        raise Conflict("settle the open after-sale request first", field="order_id", code="after_sale_open") from exc


def _system_refund(order: Order, *, reason: str, key: str, moment: datetime) -> AfterSale | None:
    """An approved full refund the system decides (a failed group buy): idempotent by key."""
    existing = AfterSale.objects.filter(enterprise_id=order.enterprise_id, idempotency_key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _create_after_sale(order, kind=AfterSaleKind.REFUND_ONLY, reason=reason, lines=None,
                                      requested_by="system", moment=moment, key=key, status=AfterSaleStatus.APPROVED)
    except (DomainError, IntegrityError):
        return None  # not refundable now (already refunded, another request open): nothing to add


def refund_failed_group_buys(*, now: datetime | None = None) -> int:
    """Fail the group-buy teams past their deadline and open an approved full refund for each member's order (the
    finance issue pays it out). Periodic; each team fails once, each refund is keyed `group_buy_refund:<order_id>`."""
    moment = _now(now)
    with transaction.atomic():
        failed = promotion_services.expire_group_buys(now=moment)
        made = 0
        for refund in failed:
            order = Order.objects.select_related("customer").filter(pk=refund.order_id).first()
            if order is not None and _system_refund(order, reason="group_buy_failed",
                                                    key=f"group_buy_refund:{order.pk}", moment=moment):
                made += 1
    return made


def _after_sale_move(
    after_sale_id: int, enterprise_id: int, *, sources: Iterable[str], action: str, **changes: Any
) -> AfterSale:
    qs = AfterSale.objects.filter(pk=after_sale_id, enterprise_id=enterprise_id)
    if qs.filter(status__in=list(sources)).update(**changes) != 1:
        current = qs.values_list("status", flat=True).first()
        if current is None:
            raise NotFound(f"after-sale {after_sale_id} not found", field="after_sale_id")
        raise Conflict(f"cannot {action} an after-sale that is {current}", field="status", code="invalid_transition")
    return AfterSale.objects.select_related("order", "order__customer").get(pk=after_sale_id)


def _visible_after_sale(scope: Scope, after_sale_id: int) -> AfterSale:
    from siyu.orders import queries

    return queries.get_after_sale(scope, after_sale_id)


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied("only managers decide after-sale requests")


@transaction.atomic
def approve_refund(*, scope: Scope, after_sale_id: int, now: datetime | None = None, actor: Actor = None) -> AfterSale:
    _require_manager(scope)
    _visible_after_sale(scope, after_sale_id)
    after_sale = _after_sale_move(after_sale_id, scope.enterprise_id, sources=[AfterSaleStatus.REQUESTED],
                                  action="approve", status=AfterSaleStatus.APPROVED, decided_at=_now(now),
                                  decided_by=audit.user_of(actor))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="after_sale.approve", target_type="after_sale", target_id=after_sale.pk,
                 summary=f"{after_sale.order.order_no} {after_sale.amount_fen} fen")
    return after_sale


@transaction.atomic
def reject_refund(
    *, scope: Scope, after_sale_id: int, reason: str, now: datetime | None = None, actor: Actor = None
) -> AfterSale:
    _require_manager(scope)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed("say why (1-200 characters)", field="reason", code="required")
    _visible_after_sale(scope, after_sale_id)
    after_sale = _after_sale_move(after_sale_id, scope.enterprise_id, sources=[AfterSaleStatus.REQUESTED],
                                  action="reject", status=AfterSaleStatus.REJECTED, decided_at=_now(now),
                                  decided_by=audit.user_of(actor), reject_reason=text)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="after_sale.reject", target_type="after_sale", target_id=after_sale.pk,
                 summary=text)
    return after_sale


def _units_back(after_sale: AfterSale) -> list[catalog_services.StockItem]:
    """The SKU units an after-sale's lines put back on the shelf (bundle lines: each component's share)."""
    items = []
    for row in after_sale.lines.select_related("order_line"):
        line = row.order_line
        for sku_id, units in line.components:
            items.append(catalog_services.StockItem(sku_id=int(sku_id),
                                                    quantity=int(units) // line.quantity * row.quantity))
    return [item for item in items if item.quantity > 0]


@transaction.atomic
def mark_returned(
    *, scope: Scope, after_sale_id: int, tracking_no: str = "", now: datetime | None = None, actor: Actor = None
) -> AfterSale:
    """The returned goods arrived: they go back into stock."""
    if len(tracking_no) > 64:
        raise ValidationFailed("tracking number is at most 64 characters", field="tracking_no")
    current = _visible_after_sale(scope, after_sale_id)
    if current.kind != AfterSaleKind.RETURN_REFUND:
        raise Conflict("a refund-only request has nothing to return", field="kind", code="invalid_transition")
    after_sale = _after_sale_move(after_sale_id, scope.enterprise_id, sources=[AfterSaleStatus.APPROVED],
                                  action="receive the return of", status=AfterSaleStatus.RETURNED,
                                  returned_at=_now(now), return_tracking_no=tracking_no.strip())
    units = _units_back(after_sale)
    if units:
        catalog_services.release_stock(enterprise_id=after_sale.enterprise_id, items=units)
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="after_sale.returned", target_type="after_sale", target_id=after_sale.pk)
    return after_sale


def complete_refund(
    *, after_sale_id: int, refunded_at: datetime, refund_ref: str, enterprise_id: int | None = None,
    actor: Actor = None,
) -> AfterSale:
    """The money went back (the finance issue will call this when its refund succeeds; until then HQ, tests and the
    demo do). Unshipped units go back into stock; a full refund closes the order (→ refunded), returns its coupon
    and gives up a group-buy seat."""
    ref = _clean_ref(refund_ref, "refund_ref")
    row = AfterSale.objects.filter(pk=after_sale_id).values_list("enterprise_id", "refund_ref").first()
    if row is None or (enterprise_id is not None and row[0] != enterprise_id):
        raise NotFound(f"after-sale {after_sale_id} not found", field="after_sale_id")
    if row[1] == ref:
        return AfterSale.objects.get(pk=after_sale_id)  # the same refund reported again
    with transaction.atomic():
        kind = AfterSale.objects.values_list("kind", flat=True).get(pk=after_sale_id)
        sources = [AfterSaleStatus.APPROVED] if kind == AfterSaleKind.REFUND_ONLY else [AfterSaleStatus.RETURNED]
        after_sale = _after_sale_move(after_sale_id, row[0], sources=sources, action="refund",
                                      status=AfterSaleStatus.REFUNDED, refunded_at=refunded_at, refund_ref=ref)
        order = _apply_refund(after_sale, refunded_at)
        _refund_event(after_sale, order, "refund_completed", refunded_at)
        audit.record(enterprise_id=after_sale.enterprise_id,
                     actor=actor, action="after_sale.refund", target_type="after_sale", target_id=after_sale.pk,
                     summary=f"{order.order_no} {after_sale.amount_fen} fen ({ref})")
    return after_sale


def _apply_refund(after_sale: AfterSale, moment: datetime) -> Order:
    order = _locked_order(after_sale.order_id, after_sale.enterprise_id)
    if after_sale.kind == AfterSaleKind.REFUND_ONLY and order.status == OrderStatus.PAID:
        units = _units_back(after_sale)  # never shipped: back on the shelf
        if units:
            catalog_services.release_stock(enterprise_id=order.enterprise_id, items=units)
    for row in after_sale.lines.all():
        OrderLine.objects.filter(pk=row.order_line_id).update(
            refunded_quantity=F("refunded_quantity") + row.quantity, refunded_fen=F("refunded_fen") + row.amount_fen)
    Order.objects.filter(pk=order.pk).update(refunded_fen=F("refunded_fen") + after_sale.amount_fen)
    order.refresh_from_db()
    fully = not order.lines.filter(refunded_quantity__lt=F("quantity")).exists()
    if fully:
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED, refunded_at=moment)
        if order.coupon_id is not None:
            promotion_services.return_coupon(enterprise_id=order.enterprise_id, coupon_id=order.coupon_id,
                                             order_id=order.pk, reason="refund", now=moment)
        promotion_services.leave_team(enterprise_id=order.enterprise_id, order_id=order.pk, now=moment)
        order.refresh_from_db()
    return order


# ---------------------------------------------------------------------------------------------------------------
# Presales


@dataclass(frozen=True)
class PresaleInput:
    name: str
    sku_id: int
    price_fen: int
    deposit_fen: int
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int = 5
    is_active: bool = True


def _clean_presale_windows(data: PresaleInput) -> None:
    times = [data.deposit_starts_at, data.deposit_ends_at, data.balance_starts_at, data.balance_ends_at]
    if any(t is None or t.tzinfo is None for t in times):
        raise ValidationFailed("all four times are needed, with a timezone", field="deposit_starts_at")
    if not data.deposit_starts_at < data.deposit_ends_at <= data.balance_starts_at < data.balance_ends_at:
        raise ValidationFailed("deposit window, then balance window, each ending after it starts",
                               field="balance_starts_at", code="invalid_window")


@transaction.atomic
def create_presale(*, scope: Scope, data: PresaleInput, actor: Actor = None) -> Presale:
    if not scope.is_hq:
        raise PermissionDenied("only HQ sets up presales")
    name = (data.name or "").strip()
    if not name or len(name) > 64:
        raise ValidationFailed("name is 1-64 characters", field="name", code="required")
    try:
        sku = catalog_queries.get_sku(scope, data.sku_id)
    except NotFound as exc:
        raise NotFound(f"unknown SKU {data.sku_id}", field="sku_id", code="unknown_sku") from exc
    if not isinstance(data.price_fen, int) or data.price_fen <= 0:
        raise ValidationFailed("the presale price is above zero", field="price_fen", code="invalid_price")
    if not isinstance(data.deposit_fen, int) or not 0 < data.deposit_fen < data.price_fen:
        raise ValidationFailed("the deposit is above zero and below the price", field="deposit_fen",
                               code="invalid_deposit")
    if not isinstance(data.per_customer_limit, int) or not 1 <= data.per_customer_limit <= 1000:
        raise ValidationFailed("per-customer limit is 1-1000", field="per_customer_limit")
    _clean_presale_windows(data)
    presale = Presale.objects.create(
        enterprise_id=scope.enterprise_id, name=name, sku=sku, price_fen=data.price_fen, deposit_fen=data.deposit_fen,
        currency=sku.product.currency, deposit_starts_at=data.deposit_starts_at, deposit_ends_at=data.deposit_ends_at,
        balance_starts_at=data.balance_starts_at, balance_ends_at=data.balance_ends_at,
        per_customer_limit=data.per_customer_limit, is_active=data.is_active,
    )
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="presale.create", target_type="presale", target_id=presale.pk, summary=name)
    return presale


def _locked_presale(enterprise_id: int, presale_id: int, moment: datetime) -> Presale:
    presale = Presale.objects.select_for_update(of=("self",)).select_related("sku", "sku__product").filter(
        pk=presale_id, enterprise_id=enterprise_id).first()
    if presale is None:
        raise NotFound(f"presale {presale_id} not found", field="presale_id", code="unknown_presale")
    if not presale.is_active or not presale.deposit_starts_at <= moment < presale.deposit_ends_at:
        raise ValidationFailed("this presale is not taking deposits now", field="presale_id",
                               code="presale_not_active")
    return presale


def _presale_breakdown(presale: Presale, quantity: int) -> dict[str, Any]:
    sku = presale.sku
    name = f"{sku.product.name} {' '.join(str(v) for v in (sku.specs or {}).values())}".strip()
    total = presale.price_fen * quantity
    line = {"index": 0, "sku_id": sku.pk, "bundle_id": None, "product_id": sku.product_id, "name": name,
            "quantity": quantity, "price_source": "presale", "unit_list_price_fen": sku.price_fen,
            "unit_price_fen": presale.price_fen, "list_amount_fen": sku.price_fen * quantity, "amount_fen": total,
            "reduction_discount_fen": 0, "coupon_discount_fen": 0, "payable_fen": total, "flash_item_id": None,
            "group_buy_id": None, "components": [[sku.pk, quantity]]}
    return {"currency": presale.currency, "list_total_fen": sku.price_fen * quantity, "subtotal_fen": total,
            "price_discount_fen": sku.price_fen * quantity - total, "reduction_discount_fen": 0,
            "coupon_discount_fen": 0, "goods_payable_fen": total, "shipping_fen": 0, "payable_fen": total,
            "deposit_fen": presale.deposit_fen * quantity, "balance_fen": total - presale.deposit_fen * quantity,
            "reduction_id": None, "coupon_id": None, "lines": [line], "promotions": [
                {"kind": "presale", "promotion_id": presale.pk, "name": presale.name, "applied": True,
                 "amount_fen": sku.price_fen * quantity - total, "reason": "", "line_indexes": [0],
                 "shortfall_fen": None, "shortfall_pieces": None}]}


def _check_presale_limit(presale: Presale, customer_id: int, quantity: int) -> None:
    held = sum(Order.objects.filter(presale=presale, customer_id=customer_id).exclude(
        status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]).values_list("lines__quantity", flat=True))
    if held + quantity > presale.per_customer_limit:
        raise Conflict(f"at most {presale.per_customer_limit} per customer in this presale", field="quantity",
                       code="presale_limit_exceeded")


def place_presale_order(
    *, enterprise_id: int, customer_id: int, presale_id: int, quantity: int, data: CheckoutInput,
    idempotency_key: str = "", now: datetime | None = None,
) -> Order:
    """Order a presale item: the deposit is due within the payment timeout and reserves the stock now; the balance is
    due in the balance window. Presale orders ship free and take no other promotion."""
    moment = _now(now)
    _check_quantity(quantity)
    key = _clean_key(idempotency_key)
    if key and (existing := _existing_by_key(enterprise_id, customer_id, key)) is not None:
        return existing
    _check_store(enterprise_id, data)
    address = _clean_address(data)
    attribution = _clean_attribution(enterprise_id, data.attribution)
    with transaction.atomic():
        presale = _locked_presale(enterprise_id, presale_id, moment)
        _check_presale_limit(presale, customer_id, quantity)
        snapshot = _presale_breakdown(presale, quantity)
        order = Order.objects.create(
            enterprise_id=enterprise_id, customer_id=customer_id, order_no=_new_order_no(moment),
            kind=OrderKind.PRESALE, fulfillment=data.fulfillment, store_id=data.store_id,
            channel=attribution.channel, staff_id=attribution.staff_id, campaign=attribution.campaign,
            channel_state=attribution.channel_state, currency=presale.currency,
            list_total_fen=snapshot["list_total_fen"], subtotal_fen=snapshot["subtotal_fen"],
            amount_fen=snapshot["payable_fen"], deposit_fen=snapshot["deposit_fen"], presale=presale,
            breakdown=snapshot, address=address, idempotency_key=key, created_at=moment,
            pay_deadline=min(moment + pay_timeout(), presale.deposit_ends_at),
        )
        line = snapshot["lines"][0]
        fields = {k: v for k, v in line.items() if k not in ("index", "bundle_id")}
        lines = OrderLine.objects.bulk_create([OrderLine(order=order, index=0, **fields,
                                                         category_id=presale.sku.product.category_id)])
        _take_stock(order, lines)
        _order_created_event(order, lines)
    return _attach_lines(order, lines)


# ---------------------------------------------------------------------------------------------------------------
# Customer merge


def merge_customer_orders(absorbed_id: int, survivor_id: int) -> int:
    """Orders, after-sales, carts, storefront sessions and import rows follow a merged customer (a merge step)."""
    moved = int(Order.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    AfterSale.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    clash = CartItem.objects.filter(customer_id=survivor_id).values_list("line_key", flat=True)
    CartItem.objects.filter(customer_id=absorbed_id, line_key__in=list(clash)).delete()
    moved += int(CartItem.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    StorefrontSession.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    PlatformImportRow.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    return moved


# ---------------------------------------------------------------------------------------------------------------
# Platform imports and demo data live in their own modules; re-exported here, the app's one write surface.

from siyu.orders.demo import seed_demo_orders  # noqa: E402
from siyu.orders.imports import (  # noqa: E402
    create_platform_import,
    import_platform_orders,
    run_platform_import,
)

__all__ = ["create_platform_import", "import_platform_orders", "run_platform_import", "seed_demo_orders"]
