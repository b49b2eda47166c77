"""Commissions and settlement: rules (HQ, audited, most specific wins), attribution (shared link, then the customer's
staff), accrual when the pay notify applies (once, whatever is delivered twice), pro-rata reversal on refunds,
monthly statements in Shanghai months scoped like everything else, the Excel export, and a store's settlement once a
month. Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from simulator import wechatpay as sim
from simulator.state import current
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.core.timeutil import local_day
from siyu.customers.models import Relationship
from siyu.finance import commission_queries, commissions, queries, services
from siyu.finance.commission_models import SaleAccrual, StoreSettlement
from siyu.finance.models import Account, JournalEntry, Refund
from siyu.orders.models import Order
from siyu.orders.services import after_sale
from siyu.orders.services.placement import Attribution
from siyu.org.scope import Scope, scope_for_staff
from siyu.storefront.services import checkout
from tests.finance.conftest import Paying
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db


def _hq(p: Paying) -> Scope:
    return p.shop.hq


def _rules(p: Paying) -> None:
    """tissue (纸品清洁 leaf, role profit): the category rule, 10%; pan: its product rule, ¥15 per unit (the profit
    role's 3% loses to both, being less specific)."""
    hq = _hq(p)
    tissue, pan = p.shop.tissue.product, p.shop.pan.product
    start = date(2020, 1, 1)
    commissions.create_rule(scope=hq, data=commissions.RuleInput(
        name="纸品 10%", target="category", basis="percent", rate_bp=1000, category_id=tissue.category_id,
        valid_from=start))
    commissions.create_rule(scope=hq, data=commissions.RuleInput(
        name="锅 ¥15/件", target="product", basis="fixed", fixed_fen=1500, product_id=pan.pk, valid_from=start))
    commissions.create_rule(scope=hq, data=commissions.RuleInput(
        name="利润款 3%", target="role", basis="percent", rate_bp=300, product_role="profit", valid_from=start))


def _pay(p: Paying, order: Order, *, twice: bool = False) -> Order:
    out_trade_no = p.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(p.merchant.mch_id, out_trade_no, notify=False)
    assert p.notify(sim.transaction_json(platform)).status_code == 204
    if twice:  # the platform delivers again (a new nonce, so not the replay cache: the payment is already paid)
        assert p.notify(sim.transaction_json(platform)).status_code == 204
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def _order(p: Paying, *, staff_id: int | None = None) -> Order:
    data = p.shop.checkout(line(p.shop.tissue, 2), line(p.shop.pan, 1),
                           attribution=Attribution(staff_id=staff_id))
    return checkout.place_order(enterprise_id=p.shop.enterprise_id, customer_id=p.shop.customer.pk, data=data)


def _balance(p: Paying, account: str, *, store_id: int | None = None, staff_id: int | None = None) -> int:
    return queries.balance(_hq(p), account, currency="CNY", store_id=store_id, staff_id=staff_id)


def _refund(p: Paying, order: Order, lines: list[after_sale.RefundLineInput] | None) -> Refund:
    sale = after_sale.request_refund(enterprise_id=p.shop.enterprise_id, customer_id=p.shop.customer.pk,
                                     order_id=order.pk, kind="refund_only", reason="不要了", lines=lines)
    after_sale.approve_refund(scope=p.shop.hq, after_sale_id=sale.pk)
    refund = services.start_refund(scope=p.shop.hq, after_sale_id=sale.pk)
    platform = current().wechatpay.order(p.merchant.mch_id, refund.payment.out_trade_no)
    assert platform is not None
    sent = next(r for r in platform.refunds if r["out_refund_no"] == refund.out_refund_no)
    resource = {"mchid": p.merchant.mch_id, "out_trade_no": platform.out_trade_no,
                "transaction_id": platform.transaction_id, "out_refund_no": refund.out_refund_no,
                "refund_id": sent["refund_id"], "refund_status": "SUCCESS",
                "success_time": timezone.now().isoformat(),
                "amount": {"total": platform.total, "refund": sent["amount"]["refund"],
                           "payer_total": platform.total, "payer_refund": sent["amount"]["refund"]}}
    for _ in range(2):  # the refund notify delivered twice gives back once
        h, b = current().wechatpay.build_notify(p.merchant.mch_id, "REFUND.SUCCESS", resource,
                                                original_type="refund")
        assert p.client.post(p.notify_url, b, content_type="application/json", headers=h).status_code == 204
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    return refund


# ---------------------------------------------------------------------------------------------------------------
# Rules


def test_rules_are_hq_only_checked_field_by_field_and_audited(paying: Paying) -> None:
    hq, org = _hq(paying), paying.shop.org
    pan = paying.shop.pan.product
    good = commissions.RuleInput(name="锅", target="product", basis="percent", rate_bp=500, product_id=pan.pk,
                                 valid_from=date(2026, 1, 1), valid_until=date(2026, 6, 30))
    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        with pytest.raises(PermissionDenied):
            commissions.create_rule(scope=scope_for_staff(staff), data=good)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"rate_bp": 10_001}, "rate_bp"), ({"rate_bp": 0}, "rate_bp"), ({"basis": "share"}, "basis"),
        ({"target": "brand"}, "target"), ({"product_id": None}, "product_id"), ({"product_id": 10**12}, "product_id"),
        ({"valid_until": date(2025, 12, 31)}, "valid_until"), ({"name": " "}, "name"),
        ({"basis": "fixed", "fixed_fen": -1}, "fixed_fen"), ({"target": "role", "product_role": "vip"}, "product_role"),
    ]
    for change, field in bad:
        with pytest.raises((ValidationFailed, NotFound)) as caught:
            commissions.create_rule(scope=hq, data=commissions.RuleInput(**{**good.__dict__, **change}))
        assert caught.value.field == field, change
    rule = commissions.create_rule(scope=hq, data=good)
    with pytest.raises(Conflict) as clash:  # same product, overlapping dates
        commissions.create_rule(scope=hq, data=commissions.RuleInput(**{**good.__dict__,
                                                                         "valid_from": date(2026, 6, 1)}))
    assert clash.value.code == "overlapping_rule"
    later = commissions.create_rule(scope=hq, data=commissions.RuleInput(**{**good.__dict__,
                                                                             "valid_from": date(2026, 7, 1),
                                                                             "valid_until": None}))
    commissions.update_rule(scope=hq, rule_id=rule.pk, data=commissions.RuleInput(**{**good.__dict__,
                                                                                     "rate_bp": 800}))
    commissions.delete_rule(scope=hq, rule_id=later.pk)
    assert [r.pk for r in commission_queries.rules(hq)] == [rule.pk]
    actions = list(AuditEntry.objects.filter(action__startswith="commission_rule.").values_list("action", flat=True)
                   .order_by("id"))
    assert actions == ["commission_rule.create", "commission_rule.create", "commission_rule.update",
                       "commission_rule.delete"]


# ---------------------------------------------------------------------------------------------------------------
# Accrual and reversal through the real pay and refund paths


def test_a_paid_order_accrues_once_to_the_staff_whose_link_carried_it(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    order = _pay(paying, _order(paying, staff_id=org.n2_staff.pk), twice=True)
    # tissue 2 x ¥19.90 = 3,980 at 10% = 398; pan ¥299.00 = 29,900, fixed ¥15 x 1 = 1,500 → 1,898
    rows = {r.order_line_id: r for r in SaleAccrual.objects.filter(order_id=order.pk)}
    assert sorted((r.sales_fen, r.commission_fen) for r in rows.values()) == [(3980, 398), (29900, 1500)]
    assert {r.staff_id for r in rows.values()} == {org.n2_staff.pk}
    assert {r.store_id for r in rows.values()} == {org.store_n2.pk}  # the staff member's store
    assert {r.source for r in rows.values()} == {"shared_link"}
    assert _balance(paying, Account.STAFF_COMMISSION_PAYABLE, staff_id=org.n2_staff.pk) == 1898
    assert _balance(paying, Account.STORE_RECEIVABLE, store_id=org.store_n2.pk) == 33_880
    assert _balance(paying, Account.CUSTOMER_PREPAID) == 0  # all of it earned (free shipping over ¥99)
    assert queries.trial_balance(_hq(paying)).balanced
    keys = set(JournalEntry.objects.filter(order_id=order.pk).values_list("idempotency_key", flat=True))
    assert {f"commission:order-{order.pk}", f"store-sale:order-{order.pk}", f"payment:{order.order_no}F"} <= keys


def test_without_a_link_the_customers_first_active_staff_owns_the_sale(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    now = timezone.now()
    Relationship.objects.create(customer=paying.shop.customer, staff=org.s1_staff, added_at=now - timedelta(days=1))
    Relationship.objects.create(customer=paying.shop.customer, staff=org.n1_staff, added_at=now - timedelta(days=9))
    Relationship.objects.create(customer=paying.shop.customer, staff=org.n2_staff, added_at=now - timedelta(days=30),
                                status="deleted_by_customer")
    order = _pay(paying, _order(paying))
    assert set(SaleAccrual.objects.filter(order_id=order.pk).values_list("staff_id", "store_id", "source")) == {
        (org.n1_staff.pk, org.store_n1.pk, "relationship")}


def test_refunds_give_commission_back_pro_rata_until_nothing_is_left(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    order = _pay(paying, _order(paying, staff_id=org.n1_staff.pk))
    tissue = order.lines.get(sku=paying.shop.tissue)
    first = _refund(paying, order, [after_sale.RefundLineInput(line_id=tissue.pk, quantity=1)])
    # one tissue of two: 1,990 of 3,980 → 398 x 1,990 / 3,980 = 199 back
    back = SaleAccrual.objects.get(key=f"refund:{first.out_refund_no}:{tissue.pk}")
    assert (back.sales_fen, back.commission_fen, back.quantity) == (-1990, -199, -1)
    assert _balance(paying, Account.STAFF_COMMISSION_PAYABLE, staff_id=org.n1_staff.pk) == 1898 - 199
    assert _balance(paying, Account.STORE_RECEIVABLE, store_id=org.store_n1.pk) == 33_880 - 1990
    _refund(paying, order, None)  # the rest: tissue 1,990 (199 back) and the pan 29,900 (1,500 back)
    assert _balance(paying, Account.STAFF_COMMISSION_PAYABLE) == 0
    assert _balance(paying, Account.STORE_RECEIVABLE) == 0
    assert _balance(paying, Account.CUSTOMER_PREPAID) == 0
    assert _balance(paying, Account.PLATFORM_CLEARING) == 0
    assert queries.trial_balance(_hq(paying)).balanced
    month = commission_queries.first_of_month(local_day(timezone.now()))
    (row,) = commission_queries.staff_statements(_hq(paying), month, staff_id=org.n1_staff.pk)
    assert (row.sales_fen, row.refunds_fen, row.net_sales_fen) == (33_880, -33_880, 0)
    assert (row.commission_fen, row.commission_back_fen, row.net_commission_fen) == (1898, -1898, 0)


def test_a_presale_deposit_accrues_nothing_until_the_balance(paying: Paying) -> None:
    """accrue_order only acts on a paid order; called for one that is not, it does nothing."""
    order = _order(paying, staff_id=paying.shop.org.n1_staff.pk)
    assert commissions.accrue_order(order_id=order.pk, at=timezone.now()) == 0
    assert not SaleAccrual.objects.exists()


# ---------------------------------------------------------------------------------------------------------------
# Statements, months, scopes, export, settlement


def _offline(p: Paying, *, staff_id: int, at: datetime) -> Order:
    order = _order(p, staff_id=staff_id)
    services.record_offline_payment(scope=_hq(p), order_id=order.pk, reason="现金", now=at)
    return order


def test_statements_follow_shanghai_months_and_scopes(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    # 2026-10-31 16:30 UTC is 2026-11-01 00:30 in Shanghai: November's; 15:59 UTC is still October's.
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
    _offline(paying, staff_id=org.n2_staff.pk, at=datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    nov, oct_ = date(2026, 11, 1), date(2026, 10, 1)
    hq = _hq(paying)
    staff_nov = {r.id: r for r in commission_queries.staff_statements(hq, nov)}
    assert {k: (v.orders, v.net_sales_fen, v.net_commission_fen) for k, v in staff_nov.items()} == {
        org.n1_staff.pk: (1, 33_880, 1898), org.n2_staff.pk: (1, 33_880, 1898)}
    assert [(r.id, r.orders) for r in commission_queries.staff_statements(hq, oct_)] == [(org.n1_staff.pk, 1)]
    stores = {r.id: r for r in commission_queries.store_statements(hq, nov)}
    assert {k: (v.net_sales_fen, v.receivable_fen) for k, v in stores.items()} == {
        org.store_n1.pk: (33_880, 33_880), org.store_n2.pk: (33_880, 33_880)}
    # store staff: their own row only; asking for another's is not found; store statements are not theirs
    mine = scope_for_staff(org.n1_staff)
    assert [r.id for r in commission_queries.staff_statements(mine, nov)] == [org.n1_staff.pk]
    with pytest.raises(NotFound):
        commission_queries.staff_statements(mine, nov, staff_id=org.n2_staff.pk)
    with pytest.raises(PermissionDenied):
        commission_queries.store_statements(mine, nov)
    # the store manager of n1: store n1 and its staff; the region manager of north: both stores
    manager = scope_for_staff(org.n1_manager)
    assert [r.id for r in commission_queries.store_statements(manager, nov)] == [org.store_n1.pk]
    assert [r.id for r in commission_queries.staff_statements(manager, nov)] == [org.n1_staff.pk]
    assert {r.id for r in commission_queries.store_statements(scope_for_staff(org.north_manager), nov)} == {
        org.store_n1.pk, org.store_n2.pk}


def test_a_store_month_settles_once_and_clears_its_receivable(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))  # November
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 11, 30, 15, 59, tzinfo=UTC))  # November
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # December
    hq, nov = _hq(paying), date(2026, 11, 1)
    with pytest.raises(PermissionDenied):
        commissions.settle_store_month(scope=scope_for_staff(org.n1_manager), store_id=org.store_n1.pk, month=nov)
    with pytest.raises(Conflict) as early:
        commissions.settle_store_month(scope=hq, store_id=org.store_n1.pk, month=nov,
                                       now=datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    assert early.value.code == "month_not_over"
    after = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    done = commissions.settle_store_month(scope=hq, store_id=org.store_n1.pk, month=nov, now=after)
    again = commissions.settle_store_month(scope=hq, store_id=org.store_n1.pk, month=date(2026, 11, 17), now=after)
    assert done.pk == again.pk and done.amount_fen == 2 * 33_880
    assert StoreSettlement.objects.count() == 1
    assert JournalEntry.objects.filter(idempotency_key__startswith="settlement:").count() == 1
    # December's sale is still owed; November's is paid out
    assert _balance(paying, Account.STORE_RECEIVABLE, store_id=org.store_n1.pk) == 33_880
    assert _balance(paying, Account.BANK) == -2 * 33_880
    (row,) = commission_queries.store_statements(hq, nov)
    assert (row.receivable_fen, row.settled_fen) == (2 * 33_880, 2 * 33_880)
    assert AuditEntry.objects.filter(action="store.settle").count() == 1
    assert queries.trial_balance(hq).balanced


# ---------------------------------------------------------------------------------------------------------------
# API and console


def _client(p: Paying, username: str) -> Client:
    client = Client()
    client.force_login(getattr(p.shop.org, username).user)
    return client


def test_api_rules_statements_export_and_settlement(paying: Paying) -> None:
    org = paying.shop.org
    hq = _client(paying, "hq")
    tissue = paying.shop.tissue.product
    body = {"name": "纸品 10%", "target": "category", "basis": "percent", "rate_bp": 1000,
            "category_id": tissue.category_id, "valid_from": "2020-01-01"}
    created = hq.post("/api/finance/commission-rules", body, content_type="application/json")
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    bad = hq.post("/api/finance/commission-rules", {**body, "rate_bp": 20_000}, content_type="application/json")
    assert bad.status_code == 422
    extra = hq.post("/api/finance/commission-rules", {**body, "owner": 1}, content_type="application/json")
    assert extra.status_code == 422
    assert hq.post("/api/finance/commission-rules", body, content_type="application/json").status_code == 409
    staff = _client(paying, "n1_staff")
    assert staff.post("/api/finance/commission-rules", body, content_type="application/json").status_code == 403
    assert staff.get("/api/finance/commission-rules").status_code == 403
    assert hq.put(f"/api/finance/commission-rules/{rule_id}", {**body, "rate_bp": 500},
                  content_type="application/json").json()["rate_bp"] == 500

    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 11, 3, 4, 0, tzinfo=UTC))
    # tissue 3,980 at 5% = 199; the pan has no rule → 0
    rows = hq.get("/api/finance/statements/staff?month=2026-11").json()["rows"]
    assert [(r["id"], r["net_sales_fen"], r["net_commission_fen"]) for r in rows] == [(org.n1_staff.pk, 33_880, 199)]
    assert staff.get("/api/finance/statements/staff?month=2026-11").json()["rows"][0]["id"] == org.n1_staff.pk
    assert staff.get("/api/finance/statements/stores?month=2026-11").status_code == 403
    assert hq.get("/api/finance/statements/staff?month=2026-13").status_code == 422
    lines = hq.get(f"/api/finance/statements/lines?month=2026-11&staff_id={org.n1_staff.pk}").json()
    assert lines["total"] == 2
    assert staff.get(f"/api/finance/statements/lines?month=2026-11&staff_id={org.n2_staff.pk}").status_code == 404

    xlsx = hq.get("/api/finance/statements/export?month=2026-11")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    stores = list(book["stores 2026-11"].iter_rows(values_only=True))
    assert stores[1][0] == org.store_n1.name and stores[1][5] == 338.8 and stores[1][6] == 1.99  # numbers, not text
    staff_rows = list(book["staff 2026-11"].iter_rows(values_only=True))
    assert staff_rows[1][9:11] == (33_880, 199)
    own = load_workbook(io.BytesIO(staff.get("/api/finance/statements/export?month=2026-11").content),
                        read_only=True)
    assert own.sheetnames == ["staff 2026-11"]

    settle = {"store_id": org.store_n1.pk, "month": "2026-11"}
    assert staff.post("/api/finance/settlements", settle, content_type="application/json").status_code == 403
    first = hq.post("/api/finance/settlements", settle, content_type="application/json")
    assert first.status_code == 200 and first.json()["amount_fen"] == 33_880
    assert hq.post("/api/finance/settlements", settle, content_type="application/json").json()["id"] == \
        first.json()["id"]
    assert hq.delete(f"/api/finance/commission-rules/{rule_id}").json()["is_active"] is False


def test_console_pages(paying: Paying) -> None:
    org = paying.shop.org
    hq = _client(paying, "hq")
    tissue = paying.shop.tissue.product
    page = hq.post("/finance/commissions/rules/", {"name": "纸品 12.5%", "target": "category", "basis": "percent",
                                                    "amount": "12.5", "category_id": str(tissue.category_id),
                                                    "valid_from": "2020-01-01"})
    assert page.status_code == 302
    rule = commission_queries.rules(_hq(paying)).get()
    assert rule.rate_bp == 1250
    bad = hq.post("/finance/commissions/rules/", {"name": "x", "target": "category", "basis": "percent",
                                                   "amount": "abc", "category_id": str(tissue.category_id)})
    assert bad.status_code == 422 and b'data-field="rate_bp"' in bad.content
    assert hq.get(f"/finance/commissions/rules/{rule.pk}/").status_code == 200
    _offline(paying, staff_id=org.n1_staff.pk, at=datetime(2026, 11, 3, 4, 0, tzinfo=UTC))
    shown = hq.get("/finance/commissions/statements/?month=2026-11")
    assert shown.status_code == 200 and b"store-statements" in shown.content
    staff = _client(paying, "n1_staff")
    own = staff.get("/finance/commissions/statements/?month=2026-11")
    assert own.status_code == 200 and b"store-statements" not in own.content
    assert staff.get("/finance/commissions/rules/").status_code == 403
    export = staff.get("/finance/commissions/statements/export/?month=2026-11")
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    settled = hq.post("/finance/commissions/settle/", {"store_id": str(org.store_n1.pk), "month": "2026-11"})
    assert settled.status_code == 302
    assert StoreSettlement.objects.get().amount_fen == 33_880
