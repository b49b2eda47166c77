"""Order states: paid, shipped, picked up, completed; cancelling (by the customer, by staff, on an expired
payment deadline) gives back what an unpaid order held."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from siyu.catalog import services as catalog_services
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.customers.services import (
    EventInput,
    ingest_events,
)
from siyu.orders import hooks, payment_closers
from siyu.orders.models import (
    CancelReason,
    Fulfillment,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
)
from siyu.orders.services.after_sale import _system_refund
from siyu.orders.services.common import (
    EXPIRE_BATCH,
    _clean_ref,
    _event,
    _event_time,
    _no_open_after_sale,
    _now,
    _own_order,
)
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services

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
            raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
        raise Conflict(
            _("cannot %(action)s an order that is %(current)s") % {"action": action, "current": current},
            field="status", code="invalid_transition",
        )
    return Order.objects.select_related("customer").get(pk=order_id)


def _visible_order(scope: Scope, order_id: int) -> Order:
    from siyu.orders import queries  # the read side decides what a scope may see

    return queries.get_order(scope, order_id)






def mark_paid(*, order_id: int, paid_at: datetime, payment_ref: str, enterprise_id: int | None = None) -> Order:
    """Record a payment (the finance issue's callback will call this; until then tests and the demo do). A normal
    order moves pending_payment → paid; a presale's first payment is its deposit (→ deposit_paid), its second the
    balance (→ paid, inside the balance window). Repeating a recorded payment (same ref) returns the order."""
    ref = _clean_ref(payment_ref)
    if paid_at.tzinfo is None:
        raise ValidationFailed(_("paid_at needs a timezone"), field="paid_at", code="naive_datetime")
    current = Order.objects.filter(pk=order_id).values_list("kind", "payment_ref", "deposit_payment_ref").first()
    if current is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
    if ref in (current[1], current[2]):
        return Order.objects.get(pk=order_id)  # the same payment reported again
    with transaction.atomic():
        if current[0] == OrderKind.PRESALE:
            return _pay_presale(order_id, enterprise_id, paid_at, ref)
        order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.PENDING_PAYMENT], action="pay",
                      status=OrderStatus.PAID, paid_at=paid_at, payment_ref=ref, paid_fen=F("amount_fen"),
                      pay_deadline=None)
        _event(order, "order_paid", f"order_paid:{order.pk}", paid_at,
               {"amount_fen": order.amount_fen, "currency": order.currency, "stage": "full", "payment_ref": ref,
                "cart_id": order.cart_id})
        _seat_group_buy(order, paid_at)
        _paid_hooks(order, paid_at)  # points (loyalty), in this transaction
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
        raise Conflict(_("the balance window has not opened yet"), field="paid_at", code="balance_not_open")
    order = _move(order_id, enterprise_id=enterprise_id, sources=[OrderStatus.DEPOSIT_PAID], action="pay",
                  status=OrderStatus.PAID, paid_at=paid_at, payment_ref=ref, paid_fen=F("amount_fen"),
                  pay_deadline=None)
    _event(order, "order_paid", f"order_paid:{order.pk}", paid_at,
           {"amount_fen": order.amount_fen - order.deposit_fen, "currency": order.currency, "stage": "balance",
            "payment_ref": ref, "cart_id": order.cart_id})
    _paid_hooks(order, paid_at)
    return order


def _paid_hooks(order: Order, paid_at: datetime) -> None:
    """The other apps' paid hooks, told the order's virtual kind (its breakdown's `virtual`, empty for goods)."""
    hooks.order_paid(order.enterprise_id, order.pk, paid_at, virtual=str((order.breakdown or {}).get("virtual", "")))


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


def _require_formed_team(order: Order) -> None:
    """A group-buy order leaves the store only once its team has formed: until then the team may still fail and the
    order be refunded in full (refused with group_buy_not_formed)."""
    if not order.lines.filter(group_buy_id__isnull=False).exists():
        return
    team = promotion_queries.team_of_order(enterprise_id=order.enterprise_id, order_id=order.pk)
    if team is None or team.status != "complete":
        raise Conflict(_("this group buy has not formed yet: the order ships once its team is full"), field="status",
                       code="group_buy_not_formed")


def _staff_move(scope: Scope, order_id: int, **kwargs: Any) -> Order:
    _visible_order(scope, order_id)
    return _move(order_id, enterprise_id=scope.enterprise_id, **kwargs)




@transaction.atomic
def ship_order(
    *, scope: Scope, order_id: int, carrier: str = "", tracking_no: str = "", now: datetime | None = None,
    actor: Actor = None,
) -> Order:
    moment = _now(now)
    if len(carrier) > 32 or len(tracking_no) > 64:
        raise ValidationFailed(_("carrier ≤ 32 and tracking number ≤ 64 characters"), field="tracking_no",
                               code="shipping_length")
    _no_open_after_sale(order_id)
    order = _visible_order(scope, order_id)
    if order.fulfillment != Fulfillment.DELIVERY:
        raise Conflict(_("a pickup order is picked up, not shipped"), field="fulfillment", code="invalid_transition")
    _require_formed_team(order)
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
        raise Conflict(_("a delivery order is shipped, not picked up"), field="fulfillment", code="invalid_transition")
    _require_formed_team(order)
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
    _cancelled_hooks(orders, moment)


def _cancelled_hooks(orders: Sequence[tuple[int, int, int | None, int | None]], moment: datetime) -> None:
    """Other apps give back what they held for these orders (loyalty: the points they were placed with)."""
    by_enterprise: dict[int, list[int]] = {}
    for order_id, enterprise_id, _customer_id, _coupon_id in orders:
        by_enterprise.setdefault(enterprise_id, []).append(order_id)
    for enterprise_id, order_ids in sorted(by_enterprise.items()):
        hooks.orders_cancelled(enterprise_id, order_ids, moment)


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
    Each batch's open payments are closed at the platform first, outside any transaction
    (siyu.orders.payment_closers): an order paid at the last moment, or whose close could not be confirmed, is not
    cancelled this time. Safe with several workers: each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED and
    moved by a conditional UPDATE, so every order is cancelled, and its stock returned, exactly once."""
    moment = _now(now)
    total = 0
    held: set[int] = set()
    while True:
        candidates = list(
            Order.objects.filter(status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.DEPOSIT_PAID],
                                 pay_deadline__lte=moment).exclude(id__in=held)
            .order_by("id").values_list("id", flat=True)[:batch_size]
        )
        if not candidates:
            return total
        ready = payment_closers.closable(candidates)  # platform calls: no transaction is open here
        held.update(set(candidates) - ready)
        with transaction.atomic():
            due = list(
                Order.objects.select_for_update(skip_locked=True)
                .filter(id__in=ready, status__in=[OrderStatus.PENDING_PAYMENT, OrderStatus.DEPOSIT_PAID],
                        pay_deadline__lte=moment)
                .order_by("id").values_list("id", "status")
            )
            held.update(ready)  # taken now, or by another worker, or no longer due: not asked again this run
            if due:
                total += _expire_batch(due, moment)


def _expire_batch(due: list[tuple[int, str]], moment: datetime) -> int:
    unpaid = [order_id for order_id, status in due if status == OrderStatus.PENDING_PAYMENT]
    deposit = [order_id for order_id, status in due if status == OrderStatus.DEPOSIT_PAID]
    common = {"status": OrderStatus.CANCELLED, "cancelled_at": moment, "pay_deadline": None}
    Order.objects.filter(id__in=unpaid, status=OrderStatus.PENDING_PAYMENT).update(
        cancel_reason=CancelReason.TIMEOUT, **common)
    Order.objects.filter(id__in=deposit, status=OrderStatus.DEPOSIT_PAID).update(
        cancel_reason=CancelReason.BALANCE_TIMEOUT, **common)
    rows = list(Order.objects.filter(id__in=[order_id for order_id, _ignored in due], cancelled_at=moment,
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
