"""After-sales (售后): refund requests, approval or rejection, returns and completed refunds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog import services as catalog_services
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import Money
from siyu.orders import hooks
from siyu.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from siyu.orders.services.common import PAID_STATES, _clean_ref, _event, _no_open_after_sale, _now, _own_order
from siyu.org.scope import Scope
from siyu.promotions import services as promotion_services

# ---------------------------------------------------------------------------------------------------------------
# After-sales


@dataclass(frozen=True)
class RefundLineInput:
    line_id: int
    quantity: int


def _line_refund_amount(line: OrderLine, quantity: int) -> int:
    """This quantity's share of the line's payable. Cumulative, so refunding every unit in any steps adds up to the
    line's payable exactly: share(done + q) - share(done). Never more than the line has left after money-only
    refunds (finance's partial amounts), and the last units take whatever is left."""
    done, left_fen = line.refunded_quantity, line.payable_fen - line.refunded_fen
    if done + quantity >= line.quantity:
        return max(left_fen, 0)
    share = line.payable_fen * (done + quantity) // line.quantity - line.payable_fen * done // line.quantity
    return max(min(share, left_fen), 0)


def _refund_lines(order: Order, wanted: Sequence[RefundLineInput] | None) -> list[tuple[OrderLine, int]]:
    lines = {line.pk: line for line in order.lines.all()}
    if wanted is None:
        chosen = [(line, line.quantity - line.refunded_quantity) for line in lines.values()]
        chosen = [(line, q) for line, q in chosen if q > 0]
        if not chosen:
            raise Conflict(_("everything on this order was refunded already"), field="lines", code="nothing_to_refund")
        return chosen
    if not wanted:
        raise ValidationFailed(_("name at least one line"), field="lines", code="required")
    out, seen = [], set()
    for index, item in enumerate(wanted):
        line = lines.get(item.line_id)
        if line is None or item.line_id in seen:
            raise NotFound(
                _("line %(line_id)s is not on this order") % {"line_id": item.line_id},
                field=f"lines[{index}].line_id", index=index,
            )
        seen.add(item.line_id)
        left = line.quantity - line.refunded_quantity
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or not 1 <= item.quantity <= left:
            raise ValidationFailed(
                _("quantity must be 1-%(left)s") % {"left": left},
                field=f"lines[{index}].quantity", index=index, code="invalid_quantity",
            )
        out.append((line, item.quantity))
    return out


def _check_refundable(order: Order, kind: str) -> None:
    if kind not in AfterSaleKind.values:
        raise ValidationFailed(_("kind is refund_only or return_refund"), field="kind", code="unknown_kind")
    if order.status not in PAID_STATES:
        raise Conflict(_("an order that is %(status)s cannot be refunded") % {"status": order.status}, field="status",
                       code="invalid_transition")
    if kind == AfterSaleKind.RETURN_REFUND and order.status == OrderStatus.PAID:
        raise ValidationFailed(_("nothing was shipped to return: ask for a refund only"), field="kind",
                               code="nothing_to_return")
    _no_open_after_sale(order.pk)


def _create_after_sale(
    order: Order, *, kind: str, reason: str, lines: Sequence[RefundLineInput] | None, requested_by: str,
    moment: datetime, key: str = "", status: str = AfterSaleStatus.REQUESTED,
) -> AfterSale:
    if len(reason) > 200:
        raise ValidationFailed(_("the reason is at most 200 characters"), field="reason", code="too_long")
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


@dataclass(frozen=True)
class StaffRefundLine:
    """A line finance refunds: `quantity` units (0: money only, nothing back on the shelf) and, when given, a smaller
    `amount_fen` than those units' share (a partial amount)."""

    line_id: int
    quantity: int
    amount_fen: int | None = None


def _staff_refund_amounts(order: Order, wanted: Sequence[StaffRefundLine]) -> list[tuple[OrderLine, int, int]]:
    if not wanted:
        raise ValidationFailed(_("name at least one line"), field="lines", code="required")
    lines = {line.pk: line for line in order.lines.all()}
    out: list[tuple[OrderLine, int, int]] = []
    seen: set[int] = set()
    for index, item in enumerate(wanted):
        line = lines.get(item.line_id)
        if line is None or item.line_id in seen:
            raise NotFound(
                _("line %(line_id)s is not on this order") % {"line_id": item.line_id},
                field=f"lines[{index}].line_id", index=index,
            )
        seen.add(item.line_id)
        left = line.quantity - line.refunded_quantity
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or not 0 <= item.quantity <= left \
                or (item.quantity == 0 and item.amount_fen is None):
            raise ValidationFailed(_("quantity must be 0-%(left)s (0 only with an amount)") % {"left": left},
                                   field=f"lines[{index}].quantity", index=index, code="invalid_quantity")
        most = _line_refund_amount(line, item.quantity) if item.quantity else line.payable_fen - line.refunded_fen
        amount = most if item.amount_fen is None else item.amount_fen
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 or amount > most:
            raise Conflict(
                _("this line can give back at most %(most)s fen") % {"most": most},
                field=f"lines[{index}].amount_fen", index=index, code="above_refundable",
            )
        out.append((line, item.quantity, amount))
    return out


def open_staff_refund(
    *, enterprise_id: int, order_id: int, lines: Sequence[StaffRefundLine], reason: str, key: str, moment: datetime,
    actor: Actor = None,
) -> tuple[AfterSale, bool]:
    """An approved refund of some lines (or part of a line's amount) that HQ finance decides without a customer's
    request (the finance app pays it out). Idempotent by `key`: (the after-sale, whether it was made now). Nothing is
    written when any line is refused. Runs in the caller's transaction (the order row is locked)."""
    existing = AfterSale.objects.filter(enterprise_id=enterprise_id, idempotency_key=key).first()
    if existing is not None:
        return existing, False
    order = _locked_order(order_id, enterprise_id)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
    if order.status not in PAID_STATES:
        raise Conflict(
            _("an order that is %(status)s has nothing to refund") % {"status": order.status},
            field="order_id", code="order_not_paid",
        )
    _no_open_after_sale(order.pk)
    amounts = _staff_refund_amounts(order, lines)
    total = sum(a for _l, _q, a in amounts)
    if total > order.paid_fen - order.refunded_fen:
        raise Conflict(
            _("the order can give back at most %(value)s fen") % {"value": order.paid_fen - order.refunded_fen},
            field="amount_fen", code="above_refundable",
        )
    after_sale = AfterSale.objects.create(
        enterprise_id=enterprise_id, order=order, customer_id=order.customer_id, kind=AfterSaleKind.REFUND_ONLY,
        status=AfterSaleStatus.APPROVED, reason=text, amount_fen=total, shipping_fen=0, currency=order.currency,
        requested_by="staff", idempotency_key=key, requested_at=moment, decided_at=moment,
        decided_by=audit.user_of(actor),
    )
    AfterSaleLine.objects.bulk_create([
        AfterSaleLine(after_sale=after_sale, order_line=line, quantity=quantity, amount_fen=amount)
        for line, quantity, amount in amounts
    ])
    _refund_event(after_sale, order, "refund_requested", moment)
    return after_sale, True


def _refund_event(after_sale: AfterSale, order: Order, name: str, moment: datetime) -> None:
    _event(order, name, f"{name}:{after_sale.pk}", moment, {
        "after_sale_id": after_sale.pk, "kind": after_sale.kind, "amount_fen": after_sale.amount_fen,
        "currency": after_sale.currency, "reason": after_sale.reason,
    })


def _locked_order(order_id: int, enterprise_id: int) -> Order:
    order = Order.objects.select_for_update(of=("self",)).select_related("customer").filter(
        pk=order_id, enterprise_id=enterprise_id).first()
    if order is None:
        raise NotFound(_("order %(order_id)s not found") % {"order_id": order_id}, field="order_id")
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
        raise Conflict(_("settle the open after-sale request first"), field="order_id", code="after_sale_open") from exc


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


def fail_refund(*, after_sale_id: int, enterprise_id: int, reason: str, moment: datetime) -> AfterSale | None:
    """The payment platform did not pay this after-sale back (its refund ended CLOSED or ABNORMAL): the after-sale
    is closed as rejected with the reason (shown on the order), so it no longer holds the order open and nothing of
    it counts as refunded; its idempotency key is freed so the same refund can be asked for again. Runs in the
    caller's transaction; None when the after-sale was no longer open (already refunded or closed). The system acts,
    audited."""
    open_statuses = [AfterSaleStatus.APPROVED, AfterSaleStatus.RETURNED]
    moved = AfterSale.objects.filter(pk=after_sale_id, enterprise_id=enterprise_id, status__in=open_statuses).update(
        status=AfterSaleStatus.REJECTED, reject_reason=reason[:200], decided_at=moment, idempotency_key="")
    if moved != 1:
        return None
    after_sale = AfterSale.objects.select_related("order").get(pk=after_sale_id)
    audit.record(enterprise_id=enterprise_id, actor=None, action="after_sale.refund_failed",
                 target_type="after_sale", target_id=after_sale.pk,
                 summary=audit.text(N_("%(order_no)s %(amount)s: %(reason)s"), order_no=after_sale.order.order_no,
                                    amount=Money(after_sale.amount_fen).display(), reason=reason[:200]))
    return after_sale


def _after_sale_move(
    after_sale_id: int, enterprise_id: int, *, sources: Iterable[str], action: str, **changes: Any
) -> AfterSale:
    qs = AfterSale.objects.filter(pk=after_sale_id, enterprise_id=enterprise_id)
    if qs.filter(status__in=list(sources)).update(**changes) != 1:
        current = qs.values_list("status", flat=True).first()
        if current is None:
            raise NotFound(
                _("after-sale %(after_sale_id)s not found") % {"after_sale_id": after_sale_id},
                field="after_sale_id",
            )
        raise Conflict(
            _("cannot %(action)s an after-sale that is %(current)s") % {"action": action, "current": current},
            field="status", code="invalid_transition",
        )
    return AfterSale.objects.select_related("order", "order__customer").get(pk=after_sale_id)


def _visible_after_sale(scope: Scope, after_sale_id: int) -> AfterSale:
    from siyu.orders import queries

    return queries.get_after_sale(scope, after_sale_id)


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("only managers decide after-sale requests"))


@transaction.atomic
def approve_refund(*, scope: Scope, after_sale_id: int, now: datetime | None = None, actor: Actor = None) -> AfterSale:
    _require_manager(scope)
    _visible_after_sale(scope, after_sale_id)
    after_sale = _after_sale_move(after_sale_id, scope.enterprise_id, sources=[AfterSaleStatus.REQUESTED],
                                  action="approve", status=AfterSaleStatus.APPROVED, decided_at=_now(now),
                                  decided_by=audit.user_of(actor))
    audit.record(enterprise_id=scope.enterprise_id,
                 actor=actor, action="after_sale.approve", target_type="after_sale", target_id=after_sale.pk,
                 summary=audit.text(N_("%(order_no)s %(amount)s"), order_no=after_sale.order.order_no,
                                    amount=Money(after_sale.amount_fen).display()))
    return after_sale


@transaction.atomic
def reject_refund(
    *, scope: Scope, after_sale_id: int, reason: str, now: datetime | None = None, actor: Actor = None
) -> AfterSale:
    _require_manager(scope)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
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
        raise ValidationFailed(_("tracking number is at most 64 characters"), field="tracking_no",
                               code="tracking_number_length")
    current = _visible_after_sale(scope, after_sale_id)
    if current.kind != AfterSaleKind.RETURN_REFUND:
        raise Conflict(_("a refund-only request has nothing to return"), field="kind", code="invalid_transition")
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
        raise NotFound(
            _("after-sale %(after_sale_id)s not found") % {"after_sale_id": after_sale_id},
            field="after_sale_id",
        )
    if row[1] == ref:
        return AfterSale.objects.get(pk=after_sale_id)  # the same refund reported again
    with transaction.atomic():
        kind = AfterSale.objects.values_list("kind", flat=True).get(pk=after_sale_id)
        sources = [AfterSaleStatus.APPROVED] if kind == AfterSaleKind.REFUND_ONLY else [AfterSaleStatus.RETURNED]
        after_sale = _after_sale_move(after_sale_id, row[0], sources=sources, action="refund",
                                      status=AfterSaleStatus.REFUNDED, refunded_at=refunded_at, refund_ref=ref)
        order = _apply_refund(after_sale, refunded_at)
        _refund_event(after_sale, order, "refund_completed", refunded_at)
        hooks.refund_completed(after_sale.enterprise_id, order.pk, after_sale.pk, refunded_at)  # points back
        audit.record(enterprise_id=after_sale.enterprise_id,
                     actor=actor, action="after_sale.refund", target_type="after_sale", target_id=after_sale.pk,
                     summary=audit.text(N_("%(order_no)s %(amount)s (%(ref)s)"), order_no=order.order_no,
                                        amount=Money(after_sale.amount_fen).display(), ref=ref))
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
