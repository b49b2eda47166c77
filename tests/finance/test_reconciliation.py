"""Reconciliation against the trade bill the simulator produces from its own record of transactions and refunds:
each kind of difference found in a crafted day, awkward product names carried through, a bill whose hash does not
match or whose rows do not add up to its summary refused with nothing written, re-runs idempotent (resolutions kept),
an empty day, the daily job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from simulator import wechatpay as sim
from simulator.server import SimulatorServer
from simulator.state import current
from siyu.core.models import AuditEntry
from siyu.core.timeutil import SHANGHAI
from siyu.finance.models import (
    Payment,
    PaymentStatus,
    PayMerchant,
    ReconciliationBillRow,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
    RefundStatus,
)
from siyu.finance.reconciliation import services
from siyu.org.scope import Scope
from tests.channels.wechatpay.conftest import new_credentials
from tests.conftest import Org

pytestmark = pytest.mark.django_db

DAY = (datetime.now(SHANGHAI) - timedelta(days=3)).date()
AWKWARD = ['抽纸, 3层 "柔软"\\', 'say "hi", ok', "ends with a backslash\\", "逗号,在中间"]


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


@dataclass
class Recon:
    org: Org
    merchant: sim.SimMerchant
    row: PayMerchant
    next_order: int = 1

    @property
    def mch_id(self) -> str:
        return self.merchant.mch_id

    def payment(self, no: str, fen: int, *, paid_at: datetime | None, status: str = PaymentStatus.PAID) -> Payment:
        self.next_order += 1
        return Payment.objects.create(
            enterprise=self.org.enterprise, merchant=self.row, order_id=self.next_order, out_trade_no=no,
            amount_fen=fen, openid="o_buyer", status=status, paid_fen=fen if status == PaymentStatus.PAID else 0,
            paid_at=paid_at, transaction_id="42" + no)

    def refund(self, payment: Payment, no: str, fen: int, *, created_at: datetime, status: str) -> Refund:
        self.next_order += 1
        refund = Refund.objects.create(enterprise=self.org.enterprise, payment=payment, after_sale_id=self.next_order,
                                       out_refund_no=no, amount_fen=fen, status=status)
        Refund.objects.filter(pk=refund.pk).update(created_at=created_at)
        return refund

    def run(self, day: date = DAY) -> ReconciliationRun:
        return services.reconcile_day(merchant_id=self.row.pk, bill_date=day)


@pytest.fixture
def recon(org: Org) -> Iterator[Recon]:
    with SimulatorServer(port=0, mounts={"/pay": sim.make_app(current().wechatpay)}) as server:
        merchant, creds = new_credentials(server.base_url + "/pay")
        row = PayMerchant(enterprise=org.enterprise, name="直营", mch_id=creds.mch_id, app_id=creds.app_id,
                          merchant_serial_no=creds.serial_no, platform_key_id=creds.platform_key_id,
                          platform_public_key=creds.platform_key_pem, base_url=creds.base_url)
        row.private_key, row.apiv3_key = creds.private_key_pem, creds.apiv3_key
        row.save()
        yield Recon(org=org, merchant=merchant, row=row)


def tweak(recon: Recon, tweaks: sim.BillTweaks) -> None:
    """Tell the platform what to get wrong in the day's bill."""
    current().wechatpay.bill_tweaks[(recon.mch_id, DAY.isoformat())] = tweaks


def _kinds(run: ReconciliationRun) -> set[tuple[str, str, str]]:
    return set(ReconciliationDifference.objects.filter(run=run).values_list("kind", "out_trade_no", "out_refund_no"))


def _crafted_day(r: Recon) -> None:
    """Both sides of one day, written by hand; the expected differences are listed in the test."""
    current().wechatpay.plant_trade(r.mch_id, "SYMATCH0001", 4980, at=at(9, 30), description=AWKWARD[0])
    r.payment("SYMATCH0001", 4980, paid_at=at(9, 30))
    current().wechatpay.plant_trade(r.mch_id, "SYONLYTHEM1", 1990, at=at(10), description=AWKWARD[1])  # we never saw it
    r.payment("SYONLYOURS1", 2990, paid_at=at(11))  # the platform never had it
    current().wechatpay.plant_trade(r.mch_id, "SYAMOUNT001", 1000, at=at(12), description=AWKWARD[2])
    r.payment("SYAMOUNT001", 1001, paid_at=at(12))
    current().wechatpay.plant_trade(r.mch_id, "SYSTATUS001", 3000, at=at(13), description=AWKWARD[3])
    r.payment("SYSTATUS001", 3000, paid_at=None, status=PaymentStatus.PREPAID)  # the notify never came
    # refunds on the matched payment: one matched, one whose notify never came, one the platform lacks
    refunded = Payment.objects.get(out_trade_no="SYMATCH0001")
    current().wechatpay.plant_refund(r.mch_id, "SYMATCH0001", "R0000000001", 500, at=at(14))
    r.refund(refunded, "R0000000001", 500, created_at=at(14), status=RefundStatus.SUCCEEDED)
    current().wechatpay.plant_refund(r.mch_id, "SYMATCH0001", "R0000000002", 700, at=at(15))
    r.refund(refunded, "R0000000002", 700, created_at=at(15), status=RefundStatus.PROCESSING)
    r.refund(refunded, "R0000000003", 300, created_at=at(16), status=RefundStatus.SUCCEEDED)
    # the neighbouring days belong to other runs, on both sides
    current().wechatpay.plant_trade(r.mch_id, "SYNEXTDAY01", 100, at=at(0, 1, DAY + timedelta(days=1)))
    r.payment("SYPREVDAY01", 100, paid_at=at(23, 59, DAY - timedelta(days=1)))


def test_a_crafted_day_finds_each_kind_of_difference(recon: Recon) -> None:
    _crafted_day(recon)
    run = recon.run()
    assert run.status == "done" and run.generation == 1 and len(run.hash_value) == 40
    assert _kinds(run) == {
        ("missing_ours", "SYONLYTHEM1", ""),
        ("missing_theirs", "SYONLYOURS1", ""),
        ("amount_mismatch", "SYAMOUNT001", ""),
        ("status_mismatch", "SYSTATUS001", ""),
        ("status_mismatch", "SYMATCH0001", "R0000000002"),
        ("missing_theirs", "SYMATCH0001", "R0000000003"),
    }
    # 4 payment rows + 2 refund rows in the bill; SYMATCH0001 and refund R0000000001 match
    assert (run.payment_rows, run.refund_rows, run.summary_count) == (4, 2, 6)
    assert (run.matched_count, run.missing_ours_count, run.missing_theirs_count, run.amount_mismatch_count,
            run.status_mismatch_count) == (2, 1, 2, 1, 2)
    # the summary, worked by hand: orders 4980 + 1990 + 1000 + 3000; refunds 500 + 700; fees at 0.6% rounded per row
    assert run.order_total_fen == 10970 and run.settle_total_fen == 10970 and run.refund_total_fen == 1200
    assert run.fee_total_milli == (30 + 12 + 6 + 18 - 3 - 4) * 1000
    amount = ReconciliationDifference.objects.get(kind="amount_mismatch")
    assert (amount.bill_fen, amount.our_fen, amount.product) == (1000, 1001, AWKWARD[2])
    status = ReconciliationDifference.objects.get(kind="status_mismatch", subject="P")
    assert (status.bill_status, status.our_status) == ("SUCCESS", "prepaid")
    assert ReconciliationDifference.objects.get(kind="missing_ours").product == AWKWARD[1]
    products = set(ReconciliationBillRow.objects.filter(run=run).values_list("product", flat=True))
    assert products == set(AWKWARD)


def test_rerunning_a_day_replaces_its_results_and_keeps_resolutions(recon: Recon, org: Org) -> None:
    _crafted_day(recon)
    first = recon.run()
    missing = ReconciliationDifference.objects.get(kind="missing_ours")
    scope = Scope.hq(org.enterprise.pk)
    services.resolve_difference(scope=scope, difference_id=missing.pk, reason="test order on the platform's side",
                                actor=org.hq.user)
    again = recon.run()
    assert again.pk == first.pk and again.generation == 2
    assert ReconciliationRun.objects.count() == 1
    assert ReconciliationDifference.objects.filter(run=again).count() == 6
    assert ReconciliationBillRow.objects.filter(run=again).count() == 6
    kept = ReconciliationDifference.objects.get(kind="missing_ours")
    assert kept.generation == 2 and kept.resolution == "test order on the platform's side"
    assert kept.resolved_by_id == org.hq.user.pk  # type: ignore[union-attr]
    assert AuditEntry.objects.filter(action="reconciliation.resolve").count() == 1
    # fixing our side makes the difference go away on the next run
    Payment.objects.filter(out_trade_no="SYSTATUS001").update(status=PaymentStatus.PAID, paid_fen=3000,
                                                              paid_at=at(13))
    third = recon.run()
    assert ("status_mismatch", "SYSTATUS001", "") not in _kinds(third) and third.matched_count == 3


def test_resolving_needs_a_reason_and_happens_once(recon: Recon, org: Org) -> None:
    _crafted_day(recon)
    recon.run()
    diff = ReconciliationDifference.objects.get(kind="missing_theirs", subject="P")
    scope = Scope.hq(org.enterprise.pk)
    with pytest.raises(services.ValidationFailed):
        services.resolve_difference(scope=scope, difference_id=diff.pk, reason="  ")
    services.resolve_difference(scope=scope, difference_id=diff.pk, reason="offline order, booked by hand")
    with pytest.raises(services.Conflict):
        services.resolve_difference(scope=scope, difference_id=diff.pk, reason="again")
    with pytest.raises(services.NotFound):
        services.resolve_difference(scope=Scope.hq(org.enterprise.pk + 1000), difference_id=diff.pk, reason="x")


def test_a_bill_whose_hash_does_not_match_is_refused_and_nothing_is_written(recon: Recon) -> None:
    _crafted_day(recon)
    tweak(recon, sim.BillTweaks(wrong_hash=True))
    try:
        with pytest.raises(services.BillRefused) as caught:
            recon.run()
    finally:
        current().wechatpay.bill_tweaks.clear()
    assert caught.value.code == "bill_hash_mismatch" and "SHA1" in caught.value.message
    run = ReconciliationRun.objects.get()
    assert run.status == "refused" and run.error_code == "bill_hash_mismatch" and run.generation == 0
    assert not ReconciliationBillRow.objects.exists() and not ReconciliationDifference.objects.exists()


def test_rows_that_do_not_add_up_to_the_summary_are_refused_and_the_previous_results_stay(recon: Recon) -> None:
    _crafted_day(recon)
    good = recon.run()
    tweak(recon, sim.BillTweaks(summary_order_total_delta_fen=1))
    try:
        with pytest.raises(services.BillRefused) as caught:
            recon.run()
    finally:
        current().wechatpay.bill_tweaks.clear()
    assert caught.value.code == "bill_summary_mismatch" and "订单总金额" in caught.value.message
    run = ReconciliationRun.objects.get()
    assert run.status == "refused" and run.generation == good.generation
    assert ReconciliationDifference.objects.filter(run=run, generation=good.generation).count() == 6
    assert ReconciliationBillRow.objects.filter(run=run).count() == 6


def test_a_row_from_another_merchant_refuses_the_bill(recon: Recon) -> None:
    current().wechatpay.plant_trade(recon.mch_id, "SYMATCH0001", 100, at=at(9))
    stranger = ["2026-01-01 00:00:00", "wx", "1234567890", "0", "", "42x", "SYOTHER0001", "o", "JSAPI", "SUCCESS",
                "OTHERS", "CNY", "1.00", "0.00", "0", "0", "0.00", "0.00", "", "", "x", "", "0.01000", "0.60%", "1.00",
                "0.00", ""]
    tweak(recon, sim.BillTweaks(extra_rows=[stranger], summary_count_delta=0))
    try:
        with pytest.raises(services.BillRefused) as caught:
            recon.run()
    finally:
        current().wechatpay.bill_tweaks.clear()
    assert caught.value.code == "bill_wrong_merchant" and not ReconciliationBillRow.objects.exists()


def test_a_day_without_a_statement_reports_our_payments_as_missing_in_the_bill(recon: Recon) -> None:
    recon.payment("SYLONELY001", 990, paid_at=at(20))
    run = recon.run()
    assert run.status == "done" and run.hash_value == "" and run.summary_count == 0
    assert _kinds(run) == {("missing_theirs", "SYLONELY001", "")}


def test_the_daily_job_reconciles_yesterday_once_the_bill_is_ready(recon: Recon) -> None:
    yesterday = DAY
    current().wechatpay.plant_trade(recon.mch_id, "SYDAILY0001", 2500, at=at(8, 0, yesterday))
    recon.payment("SYDAILY0001", 2500, paid_at=at(8, 0, yesterday))
    early = at(9, 59, yesterday + timedelta(days=1))
    assert services.reconcile_due(now=early) == 0 and not ReconciliationRun.objects.exists()
    ready = at(10, 5, yesterday + timedelta(days=1))
    assert services.reconcile_due(now=ready) == 1
    assert services.reconcile_due(now=ready + timedelta(hours=1)) == 0  # done days are not run again
    run = ReconciliationRun.objects.get()
    assert run.bill_date == yesterday and run.matched_count == 1 and run.attempts == 1


def test_a_running_day_is_not_run_twice_at_once(recon: Recon) -> None:
    run = ReconciliationRun.objects.create(enterprise=recon.org.enterprise, merchant=recon.row, bill_date=DAY,
                                           status="running", started_at=timezone.now())
    with pytest.raises(services.Conflict):
        recon.run()
    ReconciliationRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert recon.run().status == "done"  # a run left behind by a dead worker is taken over


# ---------------------------------------------------------------------------------------------------------------
# API and console


def _api(org: Org) -> tuple[Any, dict[str, str]]:
    from django.test import Client

    from siyu.org.services import create_api_token

    _token, secret = create_api_token(staff=org.hq, name="recon")
    return Client(), {"Authorization": f"Bearer {secret}"}


def test_the_api_runs_a_day_lists_it_drills_down_and_resolves(recon: Recon, org: Org) -> None:
    _crafted_day(recon)
    client, auth = _api(org)
    body = {"merchant_id": recon.row.pk, "bill_date": DAY.isoformat()}
    ran = client.post("/api/finance/reconciliation/runs", body, content_type="application/json", headers=auth)
    assert ran.status_code == 200, ran.content
    run = ran.json()
    assert (run["matched_count"], run["open_count"], run["order_total_fen"]) == (2, 6, 10970)
    listed = client.get("/api/finance/reconciliation/runs", headers=auth).json()
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    page = client.get(f"/api/finance/reconciliation/runs/{run['id']}/differences?kind=status_mismatch",
                      headers=auth).json()
    assert {(d["out_trade_no"], d["out_refund_no"]) for d in page["items"]} == {
        ("SYSTATUS001", ""), ("SYMATCH0001", "R0000000002")}
    target = page["items"][0]["id"]
    path = f"/api/finance/reconciliation/differences/{target}/resolve"
    empty = client.post(path, {"reason": ""}, content_type="application/json", headers=auth)
    assert empty.status_code == 422 and empty.json()["field"] == "reason"
    done = client.post(path, {"reason": "notify lost; queried by hand"}, content_type="application/json",
                       headers=auth)
    assert done.status_code == 200 and done.json()["resolution"] == "notify lost; queried by hand"
    assert client.post(path, {"reason": "again"}, content_type="application/json", headers=auth).status_code == 409
    still_open = client.get(f"/api/finance/reconciliation/runs/{run['id']}/differences?state=open",
                            headers=auth).json()
    assert still_open["total"] == 5
    bad_kind = client.get(f"/api/finance/reconciliation/runs/{run['id']}/differences?kind=nope", headers=auth)
    assert bad_kind.status_code == 422
    future = client.post("/api/finance/reconciliation/runs",
                         {"merchant_id": recon.row.pk, "bill_date": (DAY + timedelta(days=30)).isoformat()},
                         content_type="application/json", headers=auth)
    assert future.status_code == 422 and future.json()["code"] == "future_day"


def test_the_api_refuses_a_bill_with_the_wrong_hash_with_a_clear_code(recon: Recon, org: Org) -> None:
    _crafted_day(recon)
    client, auth = _api(org)
    tweak(recon, sim.BillTweaks(wrong_hash=True))
    try:
        refused = client.post("/api/finance/reconciliation/runs",
                              {"merchant_id": recon.row.pk, "bill_date": DAY.isoformat()},
                              content_type="application/json", headers=auth)
    finally:
        current().wechatpay.bill_tweaks.clear()
    assert refused.status_code == 502 and refused.json()["code"] == "bill_hash_mismatch"
    assert not ReconciliationBillRow.objects.exists() and not ReconciliationDifference.objects.exists()


def _console(org: Org, language: str) -> Any:
    from django.test import Client

    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.post("/i18n/setlang/", {"language": language})
    return client


def test_the_console_runs_a_day_shows_it_in_both_languages_and_resolves(recon: Recon, org: Org) -> None:
    _crafted_day(recon)
    en = _console(org, "en")
    ran = en.post("/finance/reconciliation/run/", {"merchant": recon.row.pk, "bill_date": DAY.isoformat()})
    run = ReconciliationRun.objects.get()
    assert ran.status_code == 302 and ran["Location"] == f"/finance/reconciliation/{run.pk}/"
    days = en.get("/finance/reconciliation/").content.decode()
    assert "Missing on our side" in days and f'data-run-id="{run.pk}"' in days
    zh = _console(org, "zh-hans").get("/finance/reconciliation/").content.decode()
    assert "对账" in zh and "我方缺失" in zh and "金额不符" in zh
    detail = en.get(f"/finance/reconciliation/{run.pk}/?kind=amount_mismatch&state=open").content.decode()
    assert "SYAMOUNT001" in detail and "SYONLYTHEM1" not in detail and "¥10.01" in detail
    assert "ends with a backslash\\" in detail
    target = ReconciliationDifference.objects.get(kind="amount_mismatch")
    en.post(f"/finance/reconciliation/differences/{target.pk}/resolve/", {"reason": "", "run": run.pk})
    target.refresh_from_db()
    assert target.resolved_at is None  # no reason, nothing resolved
    back = en.post(f"/finance/reconciliation/differences/{target.pk}/resolve/",
                   {"reason": "price changed after the prepay", "run": run.pk})
    assert back.status_code == 302
    target.refresh_from_db()
    assert target.resolution == "price changed after the prepay"
    assert AuditEntry.objects.filter(action="reconciliation.resolve", target_id=str(target.pk)).count() == 1
    assert AuditEntry.objects.filter(action="reconciliation.run").count() == 1
