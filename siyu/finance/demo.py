"""The demo's money: a WeChat Pay merchant pointed at the simulator (so a newcomer can pay in the demo mall) and a
handful of the demo orders flowed through the ledger (payments, commissions, and the refunded ones paid back).

Small on purpose: a dozen orders keep `siyu demo` quick to start, and each posting is keyed by its order, so running
the step again adds nothing."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction

from siyu.channels.demo_accounts import PAY_MERCHANT
from siyu.core.errors import DomainError
from siyu.finance import commissions, ledger, merchants
from siyu.finance.models import Payment, PaymentStage, PaymentStatus, PayMerchant
from siyu.orders.models import Order, OrderStatus

DEMO_PAID = 10
DEMO_REFUNDED = 2


def _platform_public_pem() -> str:
    key = serialization.load_pem_private_key(PAY_MERCHANT.platform_private_key.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def urls(*, sim_port: int, siyu_port: int) -> tuple[str, str]:
    """(base_url, notify_url) of the demo merchant when the simulator and Siyu listen on these local ports."""
    return (f"http://127.0.0.1:{sim_port}/pay",
            f"http://127.0.0.1:{siyu_port}/finance/wechatpay/callback/{PAY_MERCHANT.mch_id}/")


def ensure_demo_merchant(enterprise_id: int, *, sim_port: int, siyu_port: int) -> PayMerchant:
    """The demo merchant (created once through the same checks as a real one); its URLs follow the ports."""
    base_url, notify_url = urls(sim_port=sim_port, siyu_port=siyu_port)
    existing = PayMerchant.objects.filter(enterprise_id=enterprise_id, mch_id=PAY_MERCHANT.mch_id).first()
    if existing is not None:
        if (existing.base_url, existing.notify_url) != (base_url, notify_url):
            PayMerchant.objects.filter(pk=existing.pk).update(base_url=base_url, notify_url=notify_url)
            existing.refresh_from_db()
        return existing
    return merchants.save_merchant(enterprise_id=enterprise_id, merchant_id=None, data=merchants.MerchantInput(
        name="演示商户（模拟器）", mch_id=PAY_MERCHANT.mch_id, app_id=PAY_MERCHANT.app_id,
        merchant_serial_no=PAY_MERCHANT.merchant_serial_no, platform_key_id=PAY_MERCHANT.platform_key_id,
        platform_public_key=_platform_public_pem(), private_key=PAY_MERCHANT.merchant_private_key,
        apiv3_key=PAY_MERCHANT.apiv3_key, base_url=base_url, notify_url=notify_url))


def flow_demo_orders(enterprise_id: int, merchant: PayMerchant) -> tuple[int, int]:
    """The latest few completed and refunded demo orders as if paid through the merchant: a paid Payment row, the
    payment entry, the commission accrual; a refunded one also its refund entry. Returns (paid, refunded)."""
    base = Order.objects.filter(enterprise_id=enterprise_id, paid_at__isnull=False, kind="normal",
                                amount_fen__gt=0).order_by("-paid_at", "-id")
    paid = list(base.filter(status=OrderStatus.COMPLETED)[:DEMO_PAID])
    refunded = list(base.filter(status=OrderStatus.REFUNDED)[:DEMO_REFUNDED])
    done_paid = done_refunded = 0
    for order in [*paid, *refunded]:
        with transaction.atomic():
            out_trade_no = f"{order.order_no}F"[:32]
            _payment, made = Payment.objects.get_or_create(
                order_id=order.pk, stage=PaymentStage.FULL,
                defaults={"enterprise_id": enterprise_id, "merchant": merchant, "out_trade_no": out_trade_no,
                          "amount_fen": order.amount_fen, "currency": order.currency, "openid": "o_demo_buyer",
                          "status": PaymentStatus.PAID, "transaction_id": f"42demo{order.pk:020d}",
                          "paid_fen": order.amount_fen, "paid_at": order.paid_at})
            if not made:
                continue
            fact = ledger.Fact(enterprise_id=enterprise_id, currency=order.currency, order_id=order.pk,
                               store_id=order.store_id, staff_id=order.staff_id)
            assert order.paid_at is not None
            ledger.post_payment(fact, key=f"payment:{out_trade_no}", amount_fen=order.amount_fen, at=order.paid_at)
            if order.status == OrderStatus.REFUNDED:
                ledger.post_refund(fact, key=f"refund:demo-{order.order_no}", amount_fen=order.refunded_fen,
                                   at=order.refunded_at or order.paid_at)
                done_refunded += 1
            else:
                commissions.accrue_order(order_id=order.pk, at=order.paid_at)
                done_paid += 1
    return done_paid, done_refunded


def seed_finance(enterprise_id: int, rng: Any, progress: Any) -> None:
    note = getattr(progress, "note", None)
    try:
        merchant = ensure_demo_merchant(enterprise_id, sim_port=settings.SIYU_SIMULATOR_PORT,
                                        siyu_port=settings.SIYU_PORT)
    except DomainError as exc:  # the demo merchant already belongs to another enterprise in this database
        if callable(note):
            note(f"demo WeChat Pay merchant skipped: {exc}")
        return
    paid, refunded = flow_demo_orders(enterprise_id, merchant)
    if callable(note):
        note(f"demo ledger: {paid} paid and {refunded} refunded orders posted")


def install() -> None:
    from siyu.core.seed.hooks import register_seed_step

    register_seed_step("finance.demo", seed_finance)
