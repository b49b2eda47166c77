"""WeChat Pay notifies on one process, against the bare verify + decrypt, in one run:

  (a) baseline: `open_notify` alone (the Wechatpay-Signature check with the platform public key over
      timestamp\\nnonce\\nbody\\n, the ±300 s window, AEAD_AES_256_GCM decryption of the resource, JSON), nothing else;
  (b) the service: `finance.services.receive_notify` for distinct paid orders (merchant lookup, the same verify and
      decrypt, replay cache, the payment's conditional UPDATE, the order marked paid with its order_paid event, the
      ledger's payment entry, and per line the store sale and the commission accrual with their entries), one notify
      at a time, each applied;
  (c) the same through Django's full request stack (the notify URL via the test client, in-process WSGI);
  (d) every notify of (b) delivered again (a new nonce, so past the replay cache): acknowledged, applied never.

Notifies are built and signed by the simulator (its own RSA and AES-GCM, not the product's) just before each clock
starts, with the current time, so they stay inside the window. Orders, lines and payments are bulk-created first
(not timed). The run checks that every order was paid once and the books balance.

    siyu bench pay-notify --notifies 2000
    python bench/pay-notify.py --notifies 5000 [--database-url postgres://.../siyu_bench_pay_notify]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

LINES_PER_ORDER = 2


def _world(n: int) -> tuple[Any, Any, list[Any]]:
    """An enterprise with a store, a staff member, one product under a 10% category rule, a merchant played by the
    simulator, and n unpaid orders of two lines each, with their Payment rows (bulk)."""
    from django.utils import timezone

    from simulator import wechatpay as sim
    from simulator.state import current
    from siyu.catalog import services as catalog
    from siyu.core.money import Money
    from siyu.customers.models import Customer
    from siyu.finance import commissions
    from siyu.finance.models import Payment, PayMerchant
    from siyu.orders.models import Order, OrderLine
    from siyu.org.models import Enterprise, Region, Role, Staff, Store
    from siyu.org.scope import Scope

    enterprise = Enterprise.objects.create(name="Bench", code="bench-pay-notify")
    hq = Scope.hq(enterprise.pk, label="bench")
    region = Region.objects.create(enterprise=enterprise, name="North", code="north")
    store = Store.objects.create(enterprise=enterprise, region=region, name="Store 1", code="s1")
    staff = Staff.objects.create(enterprise=enterprise, name="导购", role=Role.STORE_STAFF, store=store)
    root = catalog.create_category(scope=hq, name="日用")
    leaf = catalog.create_category(scope=hq, name="纸品", parent_id=root.pk)
    product = catalog.create_product(scope=hq, data=catalog.ProductInput(
        name="抽纸", category_id=leaf.pk, skus=[catalog.SkuInput(code="T6", price=Money(1990), stock=10**7)],
        status="on_sale"))
    commissions.create_rule(scope=hq, data=commissions.RuleInput(
        name="纸品 10%", target="category", basis="percent", rate_bp=1000, category_id=leaf.pk,
        valid_from=date(2020, 1, 1)))
    sim_merchant, private_key = current().wechatpay.demo_merchant(mch_id="1900009999", app_id="wxbenchpay000001")
    merchant = PayMerchant(enterprise=enterprise, name="bench", mch_id=sim_merchant.mch_id,
                           app_id=sim_merchant.app_id, merchant_serial_no=sim_merchant.merchant_serial,
                           platform_key_id=sim_merchant.platform_key_id,
                           platform_public_key=sim.public_pem(sim_merchant.platform_key),
                           base_url="http://127.0.0.1:9/pay")
    merchant.private_key, merchant.apiv3_key = private_key, sim_merchant.apiv3_key
    merchant.save()
    customer = Customer.objects.create(enterprise=enterprise, name="顾客", created_at=timezone.now())
    now = timezone.now()
    amount = LINES_PER_ORDER * 1990 * 5  # 5 units a line: ¥199.00, free shipping
    orders = Order.objects.bulk_create([
        Order(enterprise=enterprise, customer=customer, order_no=f"B{i:012d}", staff=staff, store=store,
              list_total_fen=amount, subtotal_fen=amount, amount_fen=amount, created_at=now)
        for i in range(n)])
    OrderLine.objects.bulk_create([
        OrderLine(order=o, index=k, product_id=product.pk, category_id=leaf.pk, name="抽纸", quantity=5,
                  unit_list_price_fen=1990, unit_price_fen=1990, list_amount_fen=9950, amount_fen=9950,
                  payable_fen=9950)
        for o in orders for k in range(LINES_PER_ORDER)])
    payments = Payment.objects.bulk_create([
        Payment(enterprise=enterprise, merchant=merchant, order_id=o.pk, out_trade_no=f"{o.order_no}F",
                amount_fen=amount, openid="o_bench", status="prepaid", prepay_id=f"wx{o.pk}")
        for o in orders])
    return sim_merchant, merchant, payments


def _notifies(sim_merchant: Any, payments: list[Any], *, prefix: str = "T") -> list[tuple[dict[str, str], bytes]]:
    from simulator.state import current

    out = []
    for p in payments:
        resource = {"appid": sim_merchant.app_id, "mchid": sim_merchant.mch_id, "out_trade_no": p.out_trade_no,
                    "transaction_id": f"{prefix}{p.pk:020d}", "trade_type": "JSAPI", "trade_state": "SUCCESS",
                    "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
                    "success_time": "2026-12-05T10:00:00+08:00", "payer": {"openid": "o_bench"},
                    "amount": {"total": p.amount_fen, "payer_total": p.amount_fen, "currency": "CNY",
                               "payer_currency": "CNY"}}
        out.append(current().wechatpay.build_notify(sim_merchant.mch_id, "TRANSACTION.SUCCESS", resource))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifies", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fresh_database("pay_notify", args.database_url or None)
    setup_django()

    from django.test import Client

    from siyu.channels.wechatpay import crypto
    from siyu.channels.wechatpay.notify import open_notify
    from siyu.finance import services

    n = max(10, args.notifies)
    http_n = max(5, n // 5)
    sim_merchant, merchant, payments = _world(n + http_n)
    service_payments, http_payments = payments[:n], payments[n:]
    platform_key = crypto.load_platform_key(merchant.platform_public_key)
    apiv3_key = merchant.apiv3_key

    batch = _notifies(sim_merchant, service_payments)
    start = time.perf_counter()
    for headers, body in batch:
        open_notify(headers=headers, body=body, platform_key_id=merchant.platform_key_id, platform_key=platform_key,
                    apiv3_key=apiv3_key, now_s=time.time())
    crypto_s = time.perf_counter() - start

    start = time.perf_counter()
    for headers, body in batch:
        answer = services.receive_notify(mch_id=merchant.mch_id, headers=headers, body=body)
        if answer.status != 204:
            raise SystemExit(f"notify refused: {answer}")
    service_s = time.perf_counter() - start

    again = _notifies(sim_merchant, service_payments)
    start = time.perf_counter()
    for headers, body in again:
        if services.receive_notify(mch_id=merchant.mch_id, headers=headers, body=body).status != 204:
            raise SystemExit("a repeated notify was refused")
    repeat_s = time.perf_counter() - start

    client = Client()
    url = f"/finance/wechatpay/callback/{merchant.mch_id}/"
    http_batch = _notifies(sim_merchant, http_payments)
    start = time.perf_counter()
    for headers, body in http_batch:
        response = client.post(url, body, content_type="application/json", headers=headers)
        if response.status_code != 204:
            raise SystemExit(f"notify refused over HTTP: {response.status_code} {response.content!r}")
    http_s = time.perf_counter() - start

    _check(merchant.enterprise_id, n + http_n)
    crypto_rate, service_rate, http_rate, repeat_rate = n / crypto_s, n / service_s, http_n / http_s, n / repeat_s
    report(
        "pay-notify",
        [
            ("notifies (service / HTTP)", f"{n:,} / {http_n:,}  ({LINES_PER_ORDER} lines an order)"),
            ("bare verify + decrypt", f"{crypto_rate:,.0f}/s"),
            ("service: verified, decrypted, applied", _rate(service_rate, crypto_rate)),
            ("HTTP notify URL (Django stack)", _rate(http_rate, crypto_rate)),
            ("repeated notifies (acknowledged, not applied)", _rate(repeat_rate, crypto_rate)),
            ("peak memory", f"{peak_rss_mb():,.0f} MiB"),
        ],
        {
            "crypto_notifies_per_s": crypto_rate,
            "service_notifies_per_s": service_rate,
            "http_notifies_per_s": http_rate,
            "repeat_notifies_per_s": repeat_rate,
            "peak_rss_mb": peak_rss_mb(),
        },
        {
            "service_notifies_per_s_vs_crypto": service_rate / crypto_rate,
            "http_notifies_per_s_vs_crypto": http_rate / crypto_rate,
            "repeat_notifies_per_s_vs_crypto": repeat_rate / crypto_rate,
        },
    )


def _rate(rate: float, crypto_rate: float) -> str:
    return f"{rate:,.0f}/s  ({rate / crypto_rate:.1%} of verify + decrypt)"


def _check(enterprise_id: int, expected: int) -> None:
    from siyu.finance import queries
    from siyu.finance.commission_models import SaleAccrual
    from siyu.finance.models import JournalEntry, Payment
    from siyu.orders.models import Order
    from siyu.org.scope import Scope

    paid = Order.objects.filter(enterprise_id=enterprise_id, status="paid").count()
    payments = Payment.objects.filter(enterprise_id=enterprise_id, status="paid").count()
    entries = JournalEntry.objects.filter(enterprise_id=enterprise_id, kind="payment").count()
    accruals = SaleAccrual.objects.filter(enterprise_id=enterprise_id).count()
    balanced = queries.trial_balance(Scope.hq(enterprise_id)).balanced
    if not (paid == payments == entries == expected and accruals == expected * LINES_PER_ORDER and balanced):
        raise SystemExit(f"expected {expected} paid once: orders {paid}, payments {payments}, entries {entries}, "
                         f"accruals {accruals}, balanced {balanced}")


if __name__ == "__main__":
    main()
