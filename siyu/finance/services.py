"""Payments through WeChat Pay: start one (row first, then the platform), take its notify, fall back to a query.

- `start_payment`: the Payment row (out_trade_no from the order and stage) is committed before the platform is
  called, so a crash between the two leaves a row a later query or retry finds; asking again reuses the row and the
  platform returns the same prepay_id. No platform call happens inside a transaction.
- `receive_notify`: authenticate (siyu.channels.wechatpay.notify), then the replay cache (timestamp, merchant, nonce),
  then apply. A refused notify is logged without its body and answered 4xx; a duplicate is acknowledged and not
  applied again; an unknown out_trade_no is refused (4xx, logged, nothing written).
- `apply_transaction`: the one place a platform transaction (from a notify or a query) changes our state. A SUCCESS
  whose amount, currency, merchant or appid differs from the row, or that arrives for a closed payment or for an
  order that can no longer be paid, flags the payment for finance and never marks the order paid. Otherwise, in one
  transaction: the payment is paid (a conditional UPDATE, so two notifies at once apply once), the order is marked
  paid (orders.services.mark_paid) and the ledger gets `payment:<out_trade_no>`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.common.authenticity import replay_key
from siyu.channels.wechatpay import crypto
from siyu.channels.wechatpay.client import Credentials, PayClient, PayError, Transaction
from siyu.channels.wechatpay.notify import NotifyRejected, open_notify
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.core.money import Money
from siyu.finance import commissions, ledger
from siyu.finance.models import (
    NotifyOutcome,
    Payment,
    PaymentStage,
    PaymentStatus,
    PayMerchant,
    PayNotify,
    Refund,
    RefundStatus,
)
from siyu.orders import queries as order_queries
from siyu.orders.models import OrderKind, OrderStatus
from siyu.orders.services import after_sale as after_sales
from siyu.orders.services import states
from siyu.org.scope import Scope
from siyu.storefront import queries as storefront_queries

logger = logging.getLogger(__name__)


def credentials(merchant: PayMerchant) -> Credentials:
    return Credentials(mch_id=merchant.mch_id, app_id=merchant.app_id, serial_no=merchant.merchant_serial_no,
                       private_key_pem=merchant.private_key, apiv3_key=merchant.apiv3_key,
                       platform_key_id=merchant.platform_key_id, platform_key_pem=merchant.platform_public_key,
                       base_url=merchant.base_url, notify_url=merchant.notify_url)


def pay_client(merchant: PayMerchant) -> PayClient:
    return PayClient(credentials(merchant))


def _merchant_for(enterprise_id: int) -> PayMerchant:
    merchant = PayMerchant.objects.filter(enterprise_id=enterprise_id, is_active=True).order_by("id").first()
    if merchant is None:
        raise Conflict(_("this brand has no WeChat Pay merchant account yet"), field="merchant", code="no_merchant")
    return merchant


def _stage_and_amount(order: Any) -> tuple[str, int]:
    if order.kind == OrderKind.PRESALE:
        if order.status == OrderStatus.PENDING_PAYMENT:
            return PaymentStage.DEPOSIT, order.deposit_fen
        if order.status == OrderStatus.DEPOSIT_PAID:
            return PaymentStage.BALANCE, order.amount_fen - order.deposit_fen
    elif order.status == OrderStatus.PENDING_PAYMENT:
        return PaymentStage.FULL, order.amount_fen
    raise Conflict(
        _("an order that is %(status)s is not waiting for a payment") % {"status": order.status},
        field="status", code="not_payable",
    )


_STAGE_MARK: dict[str, str] = {PaymentStage.FULL: "F", PaymentStage.DEPOSIT: "D", PaymentStage.BALANCE: "B"}


@dataclass(frozen=True)
class PaymentStart:
    payment_id: int
    out_trade_no: str
    amount_fen: int
    currency: str
    params: dict[str, str]


def _payment_row(order: Any, merchant: PayMerchant, openid: str) -> Payment:
    stage, amount = _stage_and_amount(order)
    if amount <= 0:
        raise Conflict(_("nothing to pay on this order"), field="amount_fen", code="nothing_to_pay")
    out_trade_no = f"{order.order_no}{_STAGE_MARK[stage]}"
    existing = Payment.objects.filter(order_id=order.pk, stage=stage).first()
    if existing is None:
        try:
            with transaction.atomic():
                return Payment.objects.create(
                    enterprise_id=order.enterprise_id, merchant=merchant, order_id=order.pk, stage=stage,
                    out_trade_no=out_trade_no, amount_fen=amount, currency=order.currency, openid=openid)
        except IntegrityError:
            existing = Payment.objects.filter(order_id=order.pk, stage=stage).first()
            if existing is None:
                raise
    if existing.status not in (PaymentStatus.CREATED, PaymentStatus.PREPAID):
        raise Conflict(
            _("this payment is %(status)s") % {"status": existing.status},
            field="status", code="payment_" + existing.status,
        )
    if existing.amount_fen != amount or existing.openid != openid:
        raise Conflict(_("the order changed since its payment began"), field="amount_fen", code="payment_changed")
    return existing


def start_payment(*, enterprise_id: int, customer_id: int, order_id: int, openid: str) -> PaymentStart:
    """The mini-program's requestPayment parameters for the order's next payment (full, deposit or balance)."""
    if not openid:
        raise Conflict(_("this session has no WeChat openid to charge"), field="openid", code="no_openid")
    order = storefront_queries.my_order(enterprise_id=enterprise_id, customer_id=customer_id, order_id=order_id)
    merchant = _merchant_for(enterprise_id)
    payment = _payment_row(order, merchant, openid)  # committed before the platform hears of it
    client = pay_client(merchant)
    prepay_id = payment.prepay_id
    if not prepay_id:
        description = f"{order.order_no}"
        prepay_id = client.prepay_jsapi(out_trade_no=payment.out_trade_no, description=description,
                                        amount_fen=payment.amount_fen, currency=payment.currency, openid=openid)
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            prepay_id=prepay_id, status=PaymentStatus.PREPAID)
    return PaymentStart(payment_id=payment.pk, out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen,
                        currency=payment.currency, params=client.request_payment(prepay_id))


# ---------------------------------------------------------------------------------------------------------------
# Applying a platform transaction


@dataclass(frozen=True)
class Applied:
    outcome: str
    code: str = ""
    detail: str = ""


def _flag(payment: Payment, code: str, detail: str) -> Applied:
    Payment.objects.filter(pk=payment.pk).exclude(status=PaymentStatus.PAID).update(
        status=PaymentStatus.FLAGGED, flag_code=code, flag_detail=detail[:255])
    return Applied(NotifyOutcome.FLAGGED, code, detail)


def _mismatch(payment: Payment, tx: Transaction) -> tuple[str, str] | None:
    merchant = payment.merchant
    if tx.mch_id != merchant.mch_id or (tx.app_id and tx.app_id != merchant.app_id):
        return "merchant_mismatch", f"paid to {tx.mch_id}/{tx.app_id}"
    if tx.total_fen != payment.amount_fen:
        return "amount_mismatch", f"platform says {tx.total_fen} fen, we asked {payment.amount_fen}"
    if tx.currency != payment.currency:
        return "currency_mismatch", f"platform says {tx.currency}, we asked {payment.currency}"
    if payment.status == PaymentStatus.CLOSED:
        return "paid_after_close", "the platform took money for a payment we closed: refund it"
    return None


def _paid_at(tx: Transaction) -> datetime:
    moment = parse_datetime(tx.success_time) if tx.success_time else None
    return moment if moment is not None and moment.tzinfo is not None else timezone.now()


def apply_transaction(payment: Payment, tx: Transaction) -> Applied:
    if tx.trade_state != "SUCCESS":
        return Applied(NotifyOutcome.IGNORED, "not_success", tx.trade_state)
    if payment.status == PaymentStatus.PAID:
        return Applied(NotifyOutcome.DUPLICATE)
    problem = _mismatch(payment, tx)
    if problem is not None:
        return _flag(payment, *problem)
    paid_at = _paid_at(tx)
    try:
        with transaction.atomic():
            moved = Payment.objects.filter(pk=payment.pk, status__in=[PaymentStatus.CREATED, PaymentStatus.PREPAID,
                                                                      PaymentStatus.FLAGGED]).update(
                status=PaymentStatus.PAID, transaction_id=tx.transaction_id[:64], paid_fen=tx.total_fen,
                paid_at=paid_at, flag_code="", flag_detail="")
            if moved != 1:
                return Applied(NotifyOutcome.DUPLICATE)
            order = states.mark_paid(order_id=payment.order_id, paid_at=paid_at,
                                             payment_ref=tx.transaction_id[:64] or payment.out_trade_no,
                                             enterprise_id=payment.enterprise_id)
            fact = ledger.Fact(enterprise_id=payment.enterprise_id, currency=payment.currency, order_id=order.pk,
                               store_id=order.store_id, staff_id=order.staff_id)
            ledger.post_payment(fact, key=f"payment:{payment.out_trade_no}", amount_fen=tx.total_fen, at=paid_at)
            commissions.accrue_order(order_id=order.pk, at=paid_at, order=order)  # sales and commission, once
    except DomainError as exc:
        return _flag(payment, "order_not_payable", exc.message)
    return Applied(NotifyOutcome.APPLIED)


def sync_payment(*, payment_id: int) -> Applied:
    """The fallback when no notify came: ask the platform (outside any transaction), then apply what it says."""
    payment = Payment.objects.select_related("merchant").get(pk=payment_id)
    if payment.status == PaymentStatus.PAID:
        return Applied(NotifyOutcome.DUPLICATE)
    tx = pay_client(payment.merchant).query(payment.out_trade_no)
    return apply_transaction(payment, tx)


def sync_payment_for(*, scope: Scope, payment_id: int) -> Applied:
    ledger.require_finance(scope)
    if not Payment.objects.filter(pk=payment_id, enterprise_id=scope.enterprise_id).exists():
        raise NotFound(_("payment %(payment_id)s not found") % {"payment_id": payment_id}, field="payment_id")
    return sync_payment(payment_id=payment_id)


def sync_stale_payments(*, older_than_s: int = 300, limit: int = 100) -> int:
    """Query the platform for payments left waiting longer than a notify should take (periodic)."""
    since = timezone.now() - timedelta(seconds=older_than_s)
    ids = list(Payment.objects.filter(status=PaymentStatus.PREPAID, updated_at__lt=since)
               .order_by("updated_at").values_list("pk", flat=True)[:limit])
    done = 0
    for payment_id in ids:
        try:
            if sync_payment(payment_id=payment_id).outcome == NotifyOutcome.APPLIED:
                done += 1
        except PayError:
            continue
    return done


# ---------------------------------------------------------------------------------------------------------------
# Notifies


@dataclass(frozen=True)
class NotifyAnswer:
    status: int
    code: str = ""
    message: str = ""


def _log(merchant: PayMerchant | None, mch_id: str, outcome: str, *, code: str = "", detail: str = "",
         event_type: str = "", notify_id: str = "", out_trade_no: str = "", key: str | None = None,
         source: str = "") -> bool:
    """One log row; False when its replay key was seen before (the same request delivered again)."""
    try:
        with transaction.atomic():
            PayNotify.objects.create(merchant=merchant, mch_id=mch_id[:32], outcome=outcome, code=code[:40],
                                     detail=detail[:255], event_type=event_type, notify_id=notify_id,
                                     out_trade_no=out_trade_no[:64], replay_key=key, source=source[:64])
    except IntegrityError:
        return False
    return True


def receive_notify(*, mch_id: str, headers: Mapping[str, str], body: bytes, source: str = "",
                   now_s: float | None = None) -> NotifyAnswer:
    merchant = PayMerchant.objects.filter(mch_id=mch_id, is_active=True).first()
    if merchant is None:
        _log(None, mch_id, NotifyOutcome.REJECTED, code="unknown_merchant", source=source)
        return NotifyAnswer(404, "unknown_merchant", "no such merchant")
    try:
        note = open_notify(headers=headers, body=body, platform_key_id=merchant.platform_key_id,
                           platform_key=crypto.load_platform_key(merchant.platform_public_key),
                           apiv3_key=merchant.apiv3_key, now_s=time.time() if now_s is None else now_s)
    except NotifyRejected as exc:
        _log(merchant, mch_id, NotifyOutcome.REJECTED, code=exc.code, detail=exc.message, source=source)
        return NotifyAnswer(401, exc.code, exc.message)
    out_trade_no = str(note.resource.get("out_trade_no", ""))[:64]
    payment = Payment.objects.select_related("merchant").filter(merchant=merchant, out_trade_no=out_trade_no).first()
    if payment is None:
        _log(merchant, mch_id, NotifyOutcome.REJECTED, code="unknown_out_trade_no", event_type=note.event_type,
             notify_id=note.id, out_trade_no=out_trade_no, source=source)
        return NotifyAnswer(404, "unknown_out_trade_no", "no payment with this out_trade_no")
    key = replay_key(merchant.pk, note.timestamp, note.nonce)
    if PayNotify.objects.filter(replay_key=key).exists():
        return NotifyAnswer(204)  # the same request delivered again: acknowledged, not applied twice
    if note.event_type.startswith("REFUND."):
        refund = Refund.objects.filter(payment=payment,
                                       out_refund_no=str(note.resource.get("out_refund_no", ""))[:64]).first()
        if refund is None:
            _log(merchant, mch_id, NotifyOutcome.REJECTED, code="unknown_out_refund_no", event_type=note.event_type,
                 notify_id=note.id, out_trade_no=out_trade_no, source=source)
            return NotifyAnswer(404, "unknown_out_refund_no", "no refund with this out_refund_no")
        applied = apply_refund_result(refund, note.resource)
    elif note.event_type == "TRANSACTION.SUCCESS":
        applied = apply_transaction(payment, Transaction.parse(note.resource))
    else:
        applied = Applied(NotifyOutcome.IGNORED, "event_not_handled")
    _log(merchant, mch_id, applied.outcome, code=applied.code, detail=applied.detail, event_type=note.event_type,
         notify_id=note.id, out_trade_no=out_trade_no, key=key, source=source)
    return NotifyAnswer(204)


# ---------------------------------------------------------------------------------------------------------------
# Offline payments (cash, bank transfer): HQ only, with a reason, audited, posted to the ledger


def record_offline_payment(*, scope: Scope, order_id: int, reason: str, payment_ref: str = "",
                           actor: Actor = None, now: datetime | None = None) -> Any:
    """The only way left to mark an order paid by hand: money that did not go through WeChat Pay."""
    ledger.require_finance(scope)
    order = order_queries.get_order(scope, order_id)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say how it was paid (1-200 characters)"), field="reason", code="required")
    ref = (payment_ref or "").strip() or f"offline-{secrets.token_hex(6)}"
    moment = now or timezone.now()
    stage, amount = _stage_and_amount(order)
    with transaction.atomic():
        paid = states.mark_paid(order_id=order.pk, paid_at=moment, payment_ref=ref,
                                        enterprise_id=scope.enterprise_id)
        fact = ledger.Fact(enterprise_id=scope.enterprise_id, currency=paid.currency, order_id=paid.pk,
                           store_id=paid.store_id, staff_id=paid.staff_id)
        ledger.post_payment(fact, key=f"offline:{paid.pk}:{stage}", amount_fen=amount, at=moment, offline=True,
                            actor=actor)
        commissions.accrue_order(order_id=paid.pk, at=moment)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="order.offline_payment",
                     target_type="order", target_id=paid.pk,
                     summary=audit.text(
                         N_("%(order_no)s %(amount)s: %(reason)s"), order_no=paid.order_no,
                         amount=Money(amount, paid.currency).display(), reason=text[:200]),
                     changes={"reason": text, "payment_ref": ref, "stage": stage})
    return paid


# ---------------------------------------------------------------------------------------------------------------
# Refunds through WeChat Pay


_REFUNDABLE_AFTER_SALE = {"refund_only": "approved", "return_refund": "returned"}
_REFUNDABLE_ORDER = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.PICKED_UP, OrderStatus.COMPLETED)


def _refund_row(after_sale: Any) -> Refund:
    payment = Payment.objects.select_related("merchant").filter(
        order_id=after_sale.order_id, status=PaymentStatus.PAID).order_by("-paid_at").first()
    if payment is None:
        raise Conflict(_("this order was not paid through WeChat Pay"), field="order_id", code="no_wechat_payment")
    try:
        with transaction.atomic():
            # The payment's row lock serialises "what can it still give back" between concurrent refunds of it.
            Payment.objects.select_for_update().filter(pk=payment.pk).values_list("pk", flat=True).first()
            existing = Refund.objects.select_related("payment__merchant").filter(after_sale_id=after_sale.pk).first()
            if existing is not None:
                return existing
            refunded = sum(Refund.objects.filter(payment=payment).exclude(status=RefundStatus.FAILED)
                           .values_list("amount_fen", flat=True))
            if after_sale.amount_fen <= 0 or after_sale.amount_fen > payment.paid_fen - refunded:
                raise Conflict(_("the refund is above what this payment can still give back"), field="amount_fen",
                               code="above_refundable")
            return Refund.objects.create(enterprise_id=after_sale.enterprise_id, payment=payment,
                                         after_sale_id=after_sale.pk, out_refund_no=f"R{after_sale.pk:010d}",
                                         amount_fen=after_sale.amount_fen, currency=after_sale.currency)
    except IntegrityError:
        return Refund.objects.select_related("payment__merchant").get(after_sale_id=after_sale.pk)


def _send_refund(refund: Refund, *, reason: str) -> bool:
    """Ask the platform to pay a committed Refund row back (outside any transaction); False when it was sent before."""
    if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.PROCESSING):
        return False
    payment = refund.payment
    result = pay_client(payment.merchant).refund(
        out_trade_no=payment.out_trade_no, out_refund_no=refund.out_refund_no, refund_fen=refund.amount_fen,
        total_fen=payment.paid_fen, currency=refund.currency, reason=reason)
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.CREATED).update(
        status=RefundStatus.PROCESSING, refund_id=result.refund_id[:64])
    return True


def start_refund(*, scope: Scope, after_sale_id: int, actor: Actor = None) -> Refund:
    """Pay an approved (or returned) after-sale back through WeChat Pay. The Refund row is committed first; asking
    again repeats the same out_refund_no (never a second refund). The refund notify closes the loop."""
    ledger.require_finance(scope)
    after_sale = order_queries.get_after_sale(scope, after_sale_id)
    if _REFUNDABLE_AFTER_SALE.get(after_sale.kind) != after_sale.status:
        raise Conflict(
            _("an after-sale that is %(status)s cannot be paid back") % {"status": after_sale.status},
            field="status", code="invalid_transition",
        )
    refund = _refund_row(after_sale)
    if not _send_refund(refund, reason=after_sale.reason):
        return refund
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="after_sale.refund_started",
                 target_type="after_sale", target_id=after_sale.pk,
                 summary=audit.text(N_("%(refund_no)s: %(amount)s"), refund_no=refund.out_refund_no,
                                    amount=Money(refund.amount_fen, refund.currency).display()))
    refund.refresh_from_db()
    return refund


def pay_out_system_refunds(*, limit: int = 100) -> int:
    """Pay back the approved refunds the system decided (failed group-buy teams: `group_buy_refund:<order_id>`) through
    WeChat Pay, like `start_refund` does for an operator. Periodic and safe to run twice: the Refund row is keyed by
    the after-sale and committed before the platform is called (outside any transaction); a refund whose call failed
    stays `created` and is sent again on the next run with the same out_refund_no. Orders paid offline are left to an
    operator (no WeChat payment to give back through). Returns how many refunds were sent."""
    settled = Refund.objects.exclude(status=RefundStatus.CREATED).values("after_sale_id")
    due = list(order_queries.system_refunds_due().exclude(pk__in=settled).order_by("pk")[:limit])
    sent = 0
    for after_sale in due:
        try:
            refund = _refund_row(after_sale)
            if not _send_refund(refund, reason=after_sale.reason):
                continue
        except (DomainError, PayError) as exc:
            logger.info("system refund of after-sale %s not sent: %s", after_sale.pk, exc)
            continue
        audit.record(enterprise_id=after_sale.enterprise_id, actor=None, action="after_sale.refund_started",
                     target_type="after_sale", target_id=after_sale.pk,
                     summary=audit.text(N_("%(refund_no)s: %(amount)s (%(reason)s)"), refund_no=refund.out_refund_no,
                                        amount=Money(refund.amount_fen, refund.currency).display(),
                                        reason=after_sale.reason[:200]))
        sent += 1
    return sent


@dataclass(frozen=True)
class LineRefund:
    """One line finance gives money back on: `quantity` units (0: money only) and, optionally, a smaller amount."""

    line_id: int
    quantity: int
    amount_fen: int | None = None


def _finance_refund_key(order: Any, lines: list[LineRefund]) -> str:
    """The business fact: these lines, these amounts, of the order as refunded so far. A repeat (a double click, a
    retry after a lost answer) names the same refund; once it completed the same request is a new fact."""
    asked = sorted((x.line_id, x.quantity, -1 if x.amount_fen is None else x.amount_fen) for x in lines)
    digest = hashlib.sha256(repr(asked).encode()).hexdigest()[:24]
    return f"finance_refund:{order.pk}:{order.refunded_fen}:{digest}"


def refund_lines(*, scope: Scope, order_id: int, lines: list[LineRefund], reason: str, actor: Actor = None,
                 now: datetime | None = None) -> Refund:
    """HQ finance refunds order lines (or part of a line's amount) without a customer's after-sale request: an
    approved after-sale is made for it (so stock, coupon and commission follow the after-sale rules) and paid back
    through WeChat Pay like any other. Refused with nothing written: an unpaid order (order_not_paid), one not paid
    through WeChat Pay (no_wechat_payment), more than the line or the payment has left (above_refundable), another
    after-sale still open (after_sale_open). The refund notify (or the refund query) completes it."""
    ledger.require_finance(scope)
    order = order_queries.get_order(scope, order_id)  # the gates first: another brand's order is a 404
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
    if order.status not in _REFUNDABLE_ORDER:
        raise Conflict(
            _("an order that is %(status)s has nothing to refund") % {"status": order.status},
            field="order_id", code="order_not_paid",
        )
    if not Payment.objects.filter(order_id=order.pk, status=PaymentStatus.PAID).exists():
        raise Conflict(_("this order was not paid through WeChat Pay"), field="order_id", code="no_wechat_payment")
    key = _finance_refund_key(order, lines)
    moment = now or timezone.now()
    staff_lines = [after_sales.StaffRefundLine(line_id=x.line_id, quantity=x.quantity, amount_fen=x.amount_fen)
                   for x in lines]
    with transaction.atomic():
        after_sale, made = after_sales.open_staff_refund(enterprise_id=scope.enterprise_id, order_id=order.pk,
                                                         lines=staff_lines, reason=text, key=key, moment=moment,
                                                         actor=actor)
        refund = _refund_row(after_sale)
        if made:
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="order.finance_refund",
                         target_type="order", target_id=order.pk,
                         summary=audit.text(N_("%(order_no)s %(amount)s: %(reason)s"), order_no=order.order_no,
                                            amount=Money(refund.amount_fen, refund.currency).display(),
                                            reason=text[:200]),
                         changes={"reason": text, "after_sale_id": after_sale.pk,
                                  "out_refund_no": refund.out_refund_no,
                                  "lines": [{"line_id": x.line_id, "quantity": x.quantity,
                                             "amount_fen": x.amount_fen} for x in lines]})
    _send_refund(refund, reason=text)
    refund.refresh_from_db()
    return refund


def apply_refund_result(refund: Refund, result: dict[str, Any]) -> Applied:
    status = str(result.get("refund_status", ""))
    amount = (result.get("amount") or {}).get("refund")
    if status != "SUCCESS":
        if status in ("CLOSED", "ABNORMAL"):
            return _refund_failed(refund, status)
        return Applied(NotifyOutcome.IGNORED, "refund_" + status.lower()[:20], status)
    if amount != refund.amount_fen:
        Refund.objects.filter(pk=refund.pk).update(detail=f"platform says {amount} fen")
        return Applied(NotifyOutcome.FLAGGED, "refund_amount_mismatch", f"platform says {amount} fen")
    try:
        return _refund_succeeded(refund, result)
    except DomainError as exc:
        Refund.objects.filter(pk=refund.pk).update(detail=exc.message[:255])
        return Applied(NotifyOutcome.FLAGGED, "refund_not_applicable", exc.message)


_REFUND_FAILED = {
    "CLOSED": "WeChat Pay closed the refund: nothing was paid back",
    "ABNORMAL": "WeChat Pay could not pay the refund back (ABNORMAL, e.g. the buyer's card is gone): "
                "nothing was paid back through it",
}


def _refund_failed(refund: Refund, status: str) -> Applied:
    """The platform gave up on the refund: the Refund fails (what it held of the payment is refundable again), and
    its after-sale is closed with the reason so the order is not held open silently (siyu.orders)."""
    reason = _REFUND_FAILED[status]
    with transaction.atomic():
        moved = Refund.objects.filter(pk=refund.pk, status__in=[RefundStatus.CREATED, RefundStatus.PROCESSING]
                                      ).update(status=RefundStatus.FAILED, detail=status)
        if moved != 1:
            return Applied(NotifyOutcome.DUPLICATE)
        after_sales.fail_refund(after_sale_id=refund.after_sale_id, enterprise_id=refund.enterprise_id,
                                reason=f"{reason} ({refund.out_refund_no})", moment=timezone.now())
    return Applied(NotifyOutcome.FLAGGED, "refund_" + status.lower(), reason)


def _refund_succeeded(refund: Refund, result: dict[str, Any]) -> Applied:
    moment = parse_datetime(str(result.get("success_time", ""))) or timezone.now()
    refund_id = str(result.get("refund_id", ""))[:64] or refund.out_refund_no
    with transaction.atomic():
        moved = Refund.objects.filter(pk=refund.pk, status__in=[RefundStatus.CREATED, RefundStatus.PROCESSING]
                                      ).update(status=RefundStatus.SUCCEEDED, refund_id=refund_id,
                                               succeeded_at=moment)
        if moved != 1:
            return Applied(NotifyOutcome.DUPLICATE)
        after_sale = after_sales.complete_refund(after_sale_id=refund.after_sale_id, refunded_at=moment,
                                                    refund_ref=refund_id, enterprise_id=refund.enterprise_id)
        order = after_sale.order
        fact = ledger.Fact(enterprise_id=refund.enterprise_id, currency=refund.currency, order_id=order.pk,
                           store_id=order.store_id, staff_id=order.staff_id)
        ledger.post_refund(fact, key=f"refund:{refund.out_refund_no}", amount_fen=refund.amount_fen, at=moment)
        commissions.reverse_for_refund(after_sale_id=refund.after_sale_id, refund_key=refund.out_refund_no, at=moment)
    return Applied(NotifyOutcome.APPLIED)


# ---------------------------------------------------------------------------------------------------------------
# The refund query fallback: a refund whose notify never came is asked about and completed


def sync_refund(*, refund_id: int) -> Applied:
    """Ask the platform about one refund (outside any transaction), then apply its answer as a notify would."""
    refund = Refund.objects.select_related("payment__merchant").get(pk=refund_id)
    if refund.status == RefundStatus.SUCCEEDED:
        return Applied(NotifyOutcome.DUPLICATE)
    result = pay_client(refund.payment.merchant).refund_query(refund.out_refund_no)
    if result.out_refund_no != refund.out_refund_no:
        return Applied(NotifyOutcome.IGNORED, "refund_query_mismatch", "the answer names another refund")
    return apply_refund_result(refund, {"refund_status": result.status, "refund_id": result.refund_id,
                                        "success_time": result.success_time,
                                        "amount": {"refund": result.refund_fen}})


def sync_stale_refunds(*, older_than_s: int = 600, limit: int = 100, now: datetime | None = None) -> int:
    """Query the platform for refunds still processing longer than a notify should take (periodic)."""
    since = (now or timezone.now()) - timedelta(seconds=older_than_s)
    ids = list(Refund.objects.filter(status=RefundStatus.PROCESSING, created_at__lt=since)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    done = 0
    for refund_id in ids:
        try:
            if sync_refund(refund_id=refund_id).outcome == NotifyOutcome.APPLIED:
                done += 1
        except PayError:
            continue
    return done


# ---------------------------------------------------------------------------------------------------------------
# Close on expiry: an unpaid order's open payment is closed at the platform before the order is cancelled


_PAID_CODES = ("ORDER_PAID", "ORDERPAID", "TRADE_STATE_ERROR")
_GONE_CODES = ("ORDER_NOT_EXIST", "ORDERNOTEXIST", "ORDER_CLOSED", "ORDERCLOSED")


def _close_payment(payment: Payment) -> bool:
    """True when the platform will take no money for this payment any more (closed, or it never had it)."""
    try:
        pay_client(payment.merchant).close(payment.out_trade_no)
    except PayError as exc:
        if exc.platform_code in _PAID_CODES:
            try:
                sync_payment(payment_id=payment.pk)  # the shopper paid at the last moment: apply it, never cancel
            except PayError:
                pass
            return False
        if exc.platform_code not in _GONE_CODES:
            return False  # unreachable or refused for another reason: try again on the next run
    Payment.objects.filter(pk=payment.pk, status__in=[PaymentStatus.CREATED, PaymentStatus.PREPAID]).update(
        status=PaymentStatus.CLOSED)
    return True


def close_expiring_payments(order_ids: list[int]) -> set[int]:
    """The orders (of those given) that may be cancelled: no open payment, or every open one closed. Called by the
    expiry job outside any transaction (siyu.orders.payment_closers)."""
    open_payments = list(Payment.objects.select_related("merchant").filter(
        order_id__in=order_ids, status__in=[PaymentStatus.CREATED, PaymentStatus.PREPAID]))
    blocked = {p.order_id for p in open_payments if not _close_payment(p)}
    return set(order_ids) - blocked
