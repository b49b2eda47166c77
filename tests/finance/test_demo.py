"""The demo's money: the demo Pay merchant works against the simulator (which knows the same demo keys), and a few
demo orders flow through the ledger, balanced, once."""

from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.channels.demo_accounts import PAY_MERCHANT
from siyu.finance import demo, queries, services
from siyu.finance.models import Account, JournalEntry, Payment
from siyu.orders.demo import seed_demo_orders
from siyu.orders.models import Order
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.orders.helpers import build_shop, line


def _simulator_knows_the_demo_merchant() -> None:
    current().wechatpay.register_known_merchant(
        mch_id=PAY_MERCHANT.mch_id, app_id=PAY_MERCHANT.app_id, apiv3_key=PAY_MERCHANT.apiv3_key,
        merchant_serial=PAY_MERCHANT.merchant_serial_no, merchant_private_pem=PAY_MERCHANT.merchant_private_key,
        platform_private_pem=PAY_MERCHANT.platform_private_key, platform_key_id=PAY_MERCHANT.platform_key_id)


def test_a_shopper_pays_through_the_demo_merchant_and_the_simulator(org: Org) -> None:
    _simulator_knows_the_demo_merchant()
    shop = build_shop(org)
    with SimulatorServer(port=0, mounts={"/pay": sim.make_app(current().wechatpay)}) as server:
        port = int(urlsplit(server.base_url).port or 0)
        merchant = demo.ensure_demo_merchant(org.enterprise.pk, sim_port=port, siyu_port=8000)
        assert merchant.notify_url == f"http://127.0.0.1:8000/finance/wechatpay/callback/{PAY_MERCHANT.mch_id}/"
        assert demo.ensure_demo_merchant(org.enterprise.pk, sim_port=port, siyu_port=8000).pk == merchant.pk
        order = shop.order(line(shop.tissue, 1), line(shop.pan, 1))
        started = services.start_payment(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                         order_id=order.pk, openid="o_demo_newcomer")
        assert started.params["package"].startswith("prepay_id=")
        paid = current().wechatpay.pay(PAY_MERCHANT.mch_id, started.out_trade_no, notify=False)
        headers, body = current().wechatpay.build_notify(PAY_MERCHANT.mch_id, "TRANSACTION.SUCCESS",
                                                         sim.transaction_json(paid))
        answer = Client().post(urlsplit(merchant.notify_url).path, body, content_type="application/json",
                               headers=headers)
        assert answer.status_code == 204
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_fen == 1990 + 29900


def test_a_few_demo_orders_flow_through_the_ledger_once(org: Org) -> None:
    now = timezone.now()
    for i in range(80):
        CustomerFactory.create(enterprise=org.enterprise, created_at=now - timedelta(days=400 - i))
    seed_demo_orders(org.enterprise.pk, random.Random(3), months=12)
    demo.seed_finance(org.enterprise.pk, None, None)
    payments = list(Payment.objects.filter(enterprise=org.enterprise))
    orders = {o.pk: o for o in Order.objects.filter(pk__in=[p.order_id for p in payments])}
    refunded = [o for o in orders.values() if o.status == "refunded"]
    assert len(payments) == demo.DEMO_PAID + demo.DEMO_REFUNDED and len(refunded) == demo.DEMO_REFUNDED
    expected = sum(o.amount_fen for o in orders.values()) - sum(o.refunded_fen for o in refunded)
    hq = Scope.hq(org.enterprise.pk)
    assert queries.balance(hq, Account.PLATFORM_CLEARING, currency="CNY") == expected
    assert queries.trial_balance(hq).balanced
    entries = JournalEntry.objects.count()
    demo.seed_finance(org.enterprise.pk, None, None)  # again: nothing new
    assert JournalEntry.objects.count() == entries and Payment.objects.count() == len(payments)
