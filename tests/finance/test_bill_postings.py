"""What a reconciled bill posts to the ledger (the platform's fee per row, the vouchers it does not settle) and how a
refund billed the next day resolves the day before: crafted bills, read from disk, figures worked by hand."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.core.timeutil import SHANGHAI
from siyu.finance import queries
from siyu.finance.models import (
    Account,
    EntryKind,
    JournalEntry,
    LedgerTransfer,
    Payment,
    PaymentStatus,
    PayMerchant,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
    RefundStatus,
)
from siyu.finance.reconciliation import services
from siyu.orders.models import Order
from siyu.org.scope import Scope
from tests.conftest import Org

pytestmark = pytest.mark.django_db

DAY = (datetime.now(SHANGHAI) - timedelta(days=5)).date()
MCH = "1900000777"
HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
          "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
          "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".split(",")


@dataclass(frozen=True)
class Row:
    """One bill row in the bill's own text (yuan), as a test writes it by hand."""

    when: str
    out_trade_no: str
    settle: str = "0.00"
    coupon: str = "0.00"
    out_refund_no: str = ""
    refund: str = "0.00"
    fee: str = "0.00000"
    order: str = "0.00"
    asked: str = "0.00"
    refund_status: str = "SUCCESS"

    def values(self) -> list[str]:
        refund = bool(self.out_refund_no)
        return [self.when, "wx_app", MCH, "0", "", "42" + self.out_trade_no, self.out_trade_no, "o_buyer", "JSAPI",
                "REFUND" if refund else "SUCCESS", "OTHERS", "CNY", self.settle, self.coupon,
                "50" + self.out_refund_no if refund else "0", self.out_refund_no or "0", self.refund, "0.00",
                "ORIGINAL" if refund else "", self.refund_status if refund else "", "商品", "", self.fee, "0.60%",
                self.order, self.asked, ""]


def bill(rows: list[Row], summary: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(["`" + v for v in row.values()])
    writer.writerow(SUMMARY)
    writer.writerow(["`" + v for v in summary])
    return out.getvalue().encode()


def stamp(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()} {hour:02d}:{minute:02d}:00"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


@pytest.fixture
def merchant(org: Org) -> PayMerchant:
    row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=MCH, app_id="wx_app", merchant_serial_no="S1",
                      platform_key_id="PUB_KEY_ID_1", platform_public_key="-", base_url="https://pay.invalid")
    row.private_key, row.apiv3_key = "-", "k" * 32
    row.save()
    return row


def run_bill(merchant: PayMerchant, content: bytes, day: date = DAY) -> ReconciliationRun:
    with tempfile.TemporaryFile() as file:
        file.write(content)
        return services.reconcile_local_bill(merchant_id=merchant.pk, bill_date=day, file=file,
                                             sha1=hashlib.sha1(content).hexdigest())  # noqa: S324


def payment(merchant: PayMerchant, no: str, fen: int, paid_at: datetime, order_id: int) -> Payment:
    return Payment.objects.create(enterprise_id=merchant.enterprise_id, merchant=merchant, order_id=order_id,
                                  out_trade_no=no, amount_fen=fen, openid="o_buyer", status=PaymentStatus.PAID,
                                  paid_fen=fen, paid_at=paid_at, transaction_id="42" + no)


def refund(p: Payment, no: str, fen: int, created_at: datetime, after_sale_id: int,
           status: str = RefundStatus.SUCCEEDED) -> Refund:
    r = Refund.objects.create(enterprise_id=p.enterprise_id, payment=p, after_sale_id=after_sale_id,
                              out_refund_no=no, amount_fen=fen, status=status)
    Refund.objects.filter(pk=r.pk).update(created_at=created_at)
    return r


def balances(org: Org) -> dict[str, int]:
    tb = queries.trial_balance(Scope.hq(org.enterprise.pk))
    assert tb.balanced
    return {row.account: row.balance_fen for row in tb.rows}


# A day with a voucher, a sub-fen fee and a refund that gives part back to the voucher, worked by hand:
#   P1 订单 100.00, 应结 90.00 (a 10.00 voucher the platform does not settle), fee 0.54000  -> fee 54, voucher 1000
#   P2 订单  50.00, 应结 50.00, fee 0.30500 (30.5 fen)                                     -> fee 31 (half up)
#   R1 on P1: 申请退款 20.00, 退款 18.00 (2.00 back to the voucher), fee -0.10800 (-10.8)   -> fee -11, voucher -200
COSTS_ROWS = [
    Row(stamp(DAY, 9), "SYFEE0000001", settle="90.00", coupon="10.00", fee="0.54000", order="100.00"),
    Row(stamp(DAY, 10), "SYFEE0000002", settle="50.00", fee="0.30500", order="50.00"),
    Row(stamp(DAY, 15), "SYFEE0000001", out_refund_no="RFEE00000001", refund="18.00", fee="-0.10800",
        asked="20.00"),
]
COSTS_SUMMARY = ["3", "140.00", "18.00", "0.00", "0.73700", "150.00", "20.00"]


def test_fees_and_vouchers_are_posted_once_per_bill_row(org: Org, merchant: PayMerchant) -> None:
    store = org.store_n1
    order_id = Order.objects.create(enterprise=org.enterprise, store=store, order_no="SFEE1", status="paid",
                                    list_total_fen=10000, amount_fen=10000, paid_fen=10000,
                                    created_at=at(DAY, 9)).pk
    p1 = payment(merchant, "SYFEE0000001", 10000, at(DAY, 9), order_id)
    payment(merchant, "SYFEE0000002", 5000, at(DAY, 10), order_id + 100000)  # an order that is not there
    refund(p1, "RFEE00000001", 2000, at(DAY, 15), 1)
    content = bill(COSTS_ROWS, COSTS_SUMMARY)

    run = run_bill(merchant, content)
    assert run.status == "done" and run.matched_count == 3
    assert (run.fee_posted_fen, run.voucher_posted_fen, run.coupon_total_fen) == (54 + 31 - 11, 1000 - 200, 1000)
    entries = JournalEntry.objects.filter(enterprise=org.enterprise)
    assert sorted(entries.values_list("kind", "idempotency_key")) == sorted([
        (EntryKind.FEE, f"billfee:P:{merchant.pk}:SYFEE0000001"),
        (EntryKind.FEE, f"billfee:P:{merchant.pk}:SYFEE0000002"),
        (EntryKind.FEE, f"billfee:R:{merchant.pk}:RFEE00000001"),
        (EntryKind.COUPON_SUBSIDY, f"billvoucher:P:{merchant.pk}:SYFEE0000001"),
        (EntryKind.COUPON_SUBSIDY, f"billvoucher:R:{merchant.pk}:RFEE00000001"),
    ])
    legs = set(LedgerTransfer.objects.values_list("entry__idempotency_key", "debit_account", "credit_account",
                                                  "amount_fen", "store_id"))
    assert legs == {
        (f"billfee:P:{merchant.pk}:SYFEE0000001", Account.FEES, Account.PLATFORM_CLEARING, 54, store.pk),
        (f"billfee:P:{merchant.pk}:SYFEE0000002", Account.FEES, Account.PLATFORM_CLEARING, 31, None),
        (f"billfee:R:{merchant.pk}:RFEE00000001", Account.PLATFORM_CLEARING, Account.FEES, 11, store.pk),
        (f"billvoucher:P:{merchant.pk}:SYFEE0000001", Account.PROMOTIONS_EXPENSE, Account.PLATFORM_CLEARING, 1000,
         store.pk),
        (f"billvoucher:R:{merchant.pk}:RFEE00000001", Account.PLATFORM_CLEARING, Account.PROMOTIONS_EXPENSE, 200,
         store.pk),
    }
    # every posting dated on the bill's own day (Shanghai)
    assert {e.posted_at.astimezone(SHANGHAI).date() for e in entries} == {DAY}
    expected = {Account.FEES: 74, Account.PROMOTIONS_EXPENSE: 800, Account.PLATFORM_CLEARING: -874}
    assert balances(org) == expected

    # the day page and the trial balance page show them to HQ finance
    web = Client()
    web.force_login(get_user_model().objects.get(username="hq"))
    day_page = web.get(f"/finance/reconciliation/{run.pk}/").content.decode()
    for figure, shown in (("fee_posted", "0.74"), ("coupon_total", "10.00"), ("voucher_posted", "8.00")):
        assert re.search(rf'data-figure="{figure}">[^<]*{re.escape(shown)}', day_page), figure
    trial = web.get("/finance/").content.decode()
    assert "Payment fees" in trial or "手续费" in trial
    # a re-run replaces the day's results and posts nothing again
    again = run_bill(merchant, content)
    assert again.generation == 2 and (again.fee_posted_fen, again.voucher_posted_fen) == (74, 800)
    assert JournalEntry.objects.filter(enterprise=org.enterprise).count() == 5
    assert LedgerTransfer.objects.count() == 5
    assert balances(org) == expected


def test_a_bill_without_fees_or_vouchers_posts_nothing_and_a_refused_bill_posts_nothing(
        org: Org, merchant: PayMerchant) -> None:
    payment(merchant, "SYFREE000001", 500, at(DAY, 9), 1)
    run = run_bill(merchant, bill([Row(stamp(DAY, 9), "SYFREE000001", settle="5.00", order="5.00")],
                                  ["1", "5.00", "0.00", "0.00", "0.00000", "5.00", "0.00"]))
    assert run.status == "done" and (run.fee_posted_fen, run.voucher_posted_fen) == (0, 0)
    assert not JournalEntry.objects.exists()
    wrong_total = bill(COSTS_ROWS, ["3", "140.00", "18.00", "0.00", "0.73700", "150.01", "20.00"])
    with pytest.raises(services.BillRefused):
        run_bill(merchant, wrong_total)
    assert not JournalEntry.objects.exists() and not ReconciliationDifference.objects.filter(kind="x").exists()


NEXT = DAY + timedelta(days=1)


def _near_midnight(merchant: PayMerchant) -> tuple[bytes, bytes]:
    """A payment on DAY; two refunds we asked for at 23:58 and 23:59 of DAY. The platform bills the first on the next
    day (its request reached it after midnight) and never bills the second. The two days' bills, by hand."""
    paid = payment(merchant, "SYLATE000001", 3000, at(DAY, 10), 1)
    refund(paid, "RLATE0000001", 1000, at(DAY, 23, 58), 1)
    refund(paid, "RLATE0000002", 500, at(DAY, 23, 59), 2)
    day = bill([Row(stamp(DAY, 10), "SYLATE000001", settle="30.00", order="30.00")],
               ["1", "30.00", "0.00", "0.00", "0.00000", "30.00", "0.00"])
    nxt = bill([Row(f"{NEXT.isoformat()} 00:00:05", "SYLATE000001", out_refund_no="RLATE0000001", refund="10.00",
                    asked="10.00")],
               ["1", "0.00", "10.00", "0.00", "0.00000", "0.00", "10.00"])
    return day, nxt


def _open_refund_gaps(run: ReconciliationRun) -> dict[str, tuple[bool, str]]:
    found = ReconciliationDifference.objects.filter(run=run, kind="missing_theirs", subject="R")
    return {d.out_refund_no: (d.resolved_at is not None, d.resolution) for d in found}


def test_a_refund_billed_the_next_day_resolves_the_day_before_when_the_next_day_runs(
        org: Org, merchant: PayMerchant) -> None:
    day_bill, next_bill = _near_midnight(merchant)
    day = run_bill(merchant, day_bill)
    assert _open_refund_gaps(day) == {"RLATE0000001": (False, ""), "RLATE0000002": (False, "")}
    nxt = run_bill(merchant, next_bill, NEXT)
    assert nxt.matched_count == 1 and not ReconciliationDifference.objects.filter(run=nxt).exists()
    reason = f"billed the next day ({NEXT.isoformat()})"
    assert _open_refund_gaps(day) == {"RLATE0000001": (True, reason), "RLATE0000002": (False, "")}
    resolved = ReconciliationDifference.objects.get(run=day, out_refund_no="RLATE0000001")
    assert resolved.resolved_by is None
    trail = AuditEntry.objects.get(action="reconciliation.resolve", target_id=str(resolved.pk))
    assert trail.actor_label == "system" and reason in trail.summary
    # the day run again: the same difference stays resolved, the other stays open, no second audit entry
    again = run_bill(merchant, day_bill)
    assert _open_refund_gaps(again) == {"RLATE0000001": (True, reason), "RLATE0000002": (False, "")}
    assert AuditEntry.objects.filter(action="reconciliation.resolve").count() == 1


def test_a_refund_billed_the_next_day_is_resolved_at_once_when_that_day_ran_first(
        org: Org, merchant: PayMerchant) -> None:
    day_bill, next_bill = _near_midnight(merchant)
    run_bill(merchant, next_bill, NEXT)
    day = run_bill(merchant, day_bill)
    reason = f"billed the next day ({NEXT.isoformat()})"
    assert _open_refund_gaps(day) == {"RLATE0000001": (True, reason), "RLATE0000002": (False, "")}
    assert day.missing_theirs_count == 2  # still counted as found; resolved, not hidden
