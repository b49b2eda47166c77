"""Issue 19's done-when in Chromium and over HTTP: a shopper orders through the storefront API on the live server and
pays through the WeChat Pay simulator (start payment, the simulator pays, its signed notify reaches the live server,
the order is paid); HQ finance refunds one unit of a line from the order page; the simulator pays it back and its
refund notify completes it; then the console shows the payment and the refund balanced in the ledger, the day's
trade bill (served by the simulator) reconciled with the refund matched, and the staff member's commission and its
reversal on the monthly statement.

Expected figures, worked by hand: tissue 2 x ¥19.90 = ¥39.80 and a pan ¥299.00 ship free (over ¥99): ¥338.80 paid.
One tissue back: ¥19.90 refunded, ¥318.90 left in platform clearing. Commission 10% on tissue: ¥3.98, ¥1.99 of it
given back with the refunded unit."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from simulator import wechatpay as sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.core.timeutil import local_day
from siyu.finance import commissions
from siyu.finance.models import PayMerchant, PayNotify, Refund
from siyu.orders.models import Order, StorefrontSession
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org
from tests.orders.helpers import ADDRESS, build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKEN = "sf_browser-finance-shopper-01"


@pytest.fixture
def pay_platform() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, mounts={"/pay": sim.make_app(current().wechatpay)}) as server:
        yield server


def _until(check: Callable[[], bool], what: str) -> None:
    """Wait for what the simulator does in the background (its notifies), at most a generous while."""
    for _ in range(200):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


def _sign_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_pay_refund_a_line_then_ledger_reconciliation_and_commission_update(
    browser: Any, live_server: Any, org: Org, pay_platform: SimulatorServer,
) -> None:
    base = live_server.url
    shop = build_shop(org)
    commissions.create_rule(scope=shop.hq, data=commissions.RuleInput(
        name="纸品 10%", target="category", basis="percent", rate_bp=1000,
        category_id=shop.tissue.product.category_id, valid_from=local_day(timezone.now()) - timedelta(days=1)))
    merchant, creds = new_credentials(pay_platform.base_url + "/pay")
    row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=creds.mch_id, app_id=creds.app_id,
                      merchant_serial_no=creds.serial_no, platform_key_id=creds.platform_key_id,
                      platform_public_key=creds.platform_key_pem, base_url=creds.base_url,
                      notify_url=f"{base}/finance/wechatpay/callback/{creds.mch_id}/")
    row.private_key, row.apiv3_key = creds.private_key_pem, creds.apiv3_key
    row.save()
    now = timezone.now()
    StorefrontSession.objects.create(enterprise=org.enterprise, customer=shop.customer, app_id=creds.app_id,
                                     openid="o_browser_buyer", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))

    # The shopper orders (from the staff member's shared link) and pays through the simulator.
    with httpx.Client(base_url=base, timeout=15, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        placed = api.post("/api/storefront/orders", json={
            "lines": [{"sku_id": shop.tissue.pk, "quantity": 2}, {"sku_id": shop.pan.pk, "quantity": 1}],
            "address": ADDRESS, "attribution": {"staff_id": org.n1_staff.pk},
            "idempotency_key": "browser-finance-1"})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        assert placed.json()["amount_fen"] == 33_880
        started = api.post(f"/api/storefront/orders/{order_id}/pay")
        assert started.status_code == 200, started.text
        assert started.json()["request_payment"]["package"].startswith("prepay_id=")
        out_trade_no = started.json()["out_trade_no"]
    current().wechatpay.pay(merchant.mch_id, out_trade_no)  # its notify goes to the live server
    _until(lambda: Order.objects.filter(pk=order_id, status="paid", paid_fen=33_880).exists(), "the pay notify")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _sign_in(page, base, f"/orders/{order_id}/")
    tissue_line = Order.objects.get(pk=order_id).lines.get(sku=shop.tissue)
    form = page.locator("#finance-refund")
    form.locator("select[name=line_id]").select_option(str(tissue_line.pk))
    form.locator("input[name=quantity]").fill("1")
    form.locator("input[name=reason]").fill("包装破损")
    form.locator('button[data-action="finance_refund"]').click()
    page.wait_for_url(f"{base}/orders/{order_id}/")
    _until(lambda: Refund.objects.filter(status="succeeded", amount_fen=1990).exists(), "the refund notify")
    # the notify's log row is written after its whole transaction (refund, after-sale, order, ledger, commission):
    # on SQLite the live server's threads share one connection, so the refund row alone can be seen mid-way
    _until(lambda: PayNotify.objects.filter(event_type="REFUND.SUCCESS", outcome="applied").exists(),
           "the refund notify applied")
    page.reload()
    expect(page.locator("#order-totals")).to_contain_text("¥19.90")
    expect(page.locator("#after-sales tbody tr").first).to_contain_text("¥19.90")

    # The ledger: the payment in, the refund out, balanced.
    page.goto(f"{base}/finance/statement/?account=platform_clearing")
    expect(page.locator('#statement tr[data-kind="payment"]')).to_have_count(1)
    expect(page.locator('#statement tr[data-kind="refund"]')).to_have_count(1)
    expect(page.locator('[data-figure="closing"]')).to_have_text("¥318.90")
    page.goto(f"{base}/finance/")
    expect(page.locator('#trial-balance tr[data-account="platform_clearing"] [data-figure="balance"]')).to_have_text(
        "¥318.90")
    expect(page.locator('#trial-balance tr[data-total="CNY"] .badge.green')).to_have_count(1)

    # The day's trade bill, served by the simulator, reconciled: the payment and the refund both matched.
    page.goto(f"{base}/finance/reconciliation/")
    page.select_option("#run-day select[name=merchant]", str(row.pk))
    page.fill("#run-day input[name=bill_date]", local_day(timezone.now()).isoformat())
    page.click("#run-day button.btn-primary")
    expect(page.locator("#run-summary")).to_be_visible()
    expect(page.locator('#run-summary [data-figure="payment_rows"]')).to_have_text("1")
    expect(page.locator('#run-summary [data-figure="refund_rows"]')).to_have_text("1")
    expect(page.locator('#run-summary [data-figure="matched"]')).to_have_text("2")
    expect(page.locator("#differences")).to_have_count(0)

    # The staff member's statement: the commission and its reversal.
    page.goto(f"{base}/finance/commissions/statements/")
    staff_row = page.locator(f'#staff-statements tr[data-staff-id="{org.n1_staff.pk}"]')
    expect(staff_row.locator('[data-figure="commission"]')).to_have_text("¥3.98")
    expect(staff_row.locator('[data-figure="commission_back"]')).to_have_text("-¥1.99")
    expect(staff_row.locator('[data-figure="net_commission"]')).to_have_text("¥1.99")
    expect(staff_row.locator('[data-figure="net_sales"]')).to_have_text("¥318.90")
    context.close()
