"""Finance refunds order lines without a customer's request: from the API and the order page, audited with the
reason, idempotent on the business fact, never above what the line or the payment has left, never of an unpaid order,
and HQ's alone. The refund notify completes it as it completes an after-sale refund."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.finance import queries, services
from siyu.finance.models import Account, JournalEntry, Refund, RefundStatus
from siyu.orders.models import AfterSale, Order, OrderLine
from siyu.org.scope import Scope, scope_for_staff
from tests.conftest import Org
from tests.finance.conftest import Paying
from tests.finance.test_refunds import _paid_order, _refund_notify
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db

LineRefund = services.LineRefund


def _tissue(order: Order, p: Paying) -> OrderLine:
    return order.lines.get(sku=p.shop.tissue)  # 2 x 1,990 = 3,980 fen


def _nothing_written() -> None:
    assert not Refund.objects.exists()
    assert not AfterSale.objects.exists()
    assert not AuditEntry.objects.filter(action="order.finance_refund").exists()


def test_finance_refunds_one_unit_of_a_line_and_the_notify_completes_it(paying: Paying) -> None:
    order = _paid_order(paying)
    tissue = _tissue(order, paying)
    refund = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="质量问题",
                                   lines=[LineRefund(line_id=tissue.pk, quantity=1)])
    assert refund.status == RefundStatus.PROCESSING and refund.amount_fen == 1990
    again = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="质量问题",
                                  lines=[LineRefund(line_id=tissue.pk, quantity=1)])
    assert again.pk == refund.pk and Refund.objects.count() == 1  # a double click is the same refund
    sale = AfterSale.objects.get()
    assert (sale.status, sale.requested_by, sale.amount_fen, sale.reason) == ("approved", "staff", 1990, "质量问题")
    entry = AuditEntry.objects.get(action="order.finance_refund")
    assert entry.target_id == str(order.pk) and entry.changes["reason"] == "质量问题"
    assert _refund_notify(paying, refund) == 204
    order.refresh_from_db()
    tissue.refresh_from_db()
    assert (order.refunded_fen, order.status) == (1990, "paid")
    assert (tissue.refunded_quantity, tissue.refunded_fen) == (1, 1990)
    hq = Scope.hq(order.enterprise_id)
    assert queries.balance(hq, Account.PLATFORM_CLEARING, currency="CNY") == 33_880 - 1990
    assert JournalEntry.objects.filter(kind="refund", idempotency_key=f"refund:{refund.out_refund_no}").count() == 1
    assert queries.trial_balance(hq).balanced


def test_a_partial_amount_then_the_rest_of_the_line_adds_up_to_its_payable(paying: Paying) -> None:
    order = _paid_order(paying)
    tissue = _tissue(order, paying)
    money_only = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="差价",
                                       lines=[LineRefund(line_id=tissue.pk, quantity=0, amount_fen=500)])
    assert money_only.amount_fen == 500
    assert _refund_notify(paying, money_only) == 204
    rest = services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="退货",
                                 lines=[LineRefund(line_id=tissue.pk, quantity=2)])
    assert rest.amount_fen == 3980 - 500  # the last units take what the line has left
    assert _refund_notify(paying, rest) == 204
    tissue.refresh_from_db()
    assert (tissue.refunded_quantity, tissue.refunded_fen) == (2, 3980)


@pytest.mark.parametrize(("asked", "code"), [
    (dict(quantity=1, amount_fen=1991), "above_refundable"),   # more than one unit's share
    (dict(quantity=0, amount_fen=3981), "above_refundable"),   # more than the line's payable
])
def test_a_refund_above_refundable_is_refused_and_writes_nothing(paying: Paying, asked: dict[str, Any],
                                                                   code: str) -> None:
    order = _paid_order(paying)
    with pytest.raises(Conflict) as caught:
        services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="x",
                              lines=[LineRefund(line_id=_tissue(order, paying).pk, **asked)])
    assert caught.value.code == code
    _nothing_written()


def test_bad_quantities_and_a_missing_reason_are_refused(paying: Paying) -> None:
    order = _paid_order(paying)
    tissue = _tissue(order, paying)
    for lines, reason, error in [([LineRefund(line_id=tissue.pk, quantity=3)], "x", ValidationFailed),
                                 ([LineRefund(line_id=tissue.pk, quantity=0)], "x", ValidationFailed),
                                 ([LineRefund(line_id=10**9, quantity=1)], "x", NotFound),
                                 ([LineRefund(line_id=tissue.pk, quantity=1)], " ", ValidationFailed)]:
        with pytest.raises(error):
            services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason=reason, lines=lines)
    _nothing_written()


def test_an_unpaid_order_is_refused_with_its_code(paying: Paying) -> None:
    order = paying.shop.order(line(paying.shop.tissue, 1))
    with pytest.raises(Conflict) as caught:
        services.refund_lines(scope=paying.shop.hq, order_id=order.pk, reason="x",
                              lines=[LineRefund(line_id=OrderLine.objects.get(order=order).pk, quantity=1)])
    assert caught.value.code == "order_not_paid"
    _nothing_written()


def test_only_hq_refunds(paying: Paying, org: Org) -> None:
    order = _paid_order(paying)
    with pytest.raises(PermissionDenied):
        services.refund_lines(scope=scope_for_staff(org.n1_manager), order_id=order.pk, reason="x",
                              lines=[LineRefund(line_id=_tissue(order, paying).pk, quantity=1)])
    _nothing_written()


def _api(client: Client, org: Org, order_id: int, body: dict[str, Any], username: str = "hq") -> Any:
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username=username))
    return client.post(f"/api/finance/orders/{order_id}/refund", body, content_type="application/json")


def test_the_api_refunds_and_answers_refusals_with_codes(paying: Paying, org: Org) -> None:
    order = _paid_order(paying)
    tissue = _tissue(order, paying)
    client = Client(enforce_csrf_checks=False)
    too_much = _api(client, org, order.pk, {"lines": [{"line_id": tissue.pk, "quantity": 0, "amount_fen": 5000}],
                                            "reason": "x"})
    assert too_much.status_code == 409 and too_much.json()["code"] == "above_refundable"
    assert _api(client, org, order.pk, {"lines": [], "reason": "x"}).status_code == 422
    staff = _api(client, org, order.pk, {"lines": [{"line_id": tissue.pk, "quantity": 1}], "reason": "x"},
                 username="n1_mgr")
    assert staff.status_code == 403
    _nothing_written()
    done = _api(client, org, order.pk, {"lines": [{"line_id": tissue.pk, "quantity": 1}], "reason": "破损"})
    assert done.status_code == 200, done.content
    assert (done.json()["amount_fen"], done.json()["status"]) == (1990, "processing")


def test_the_order_page_offers_the_refund_to_hq_and_posts_it(paying: Paying, org: Org) -> None:
    from django.contrib.auth import get_user_model

    order = _paid_order(paying)
    tissue = _tissue(order, paying)
    client = Client()
    client.force_login(get_user_model().objects.get(username="n1_mgr"))
    assert b'id="finance-refund"' not in client.get(f"/orders/{order.pk}/").content
    client.force_login(get_user_model().objects.get(username="hq"))
    assert b'id="finance-refund"' in client.get(f"/orders/{order.pk}/").content
    answer = client.post(f"/finance/orders/{order.pk}/refund/", {"line_id": tissue.pk, "quantity": "0",
                                                                  "amount": "3.50", "reason": "差价"})
    assert answer.status_code == 302 and answer.headers["Location"] == f"/orders/{order.pk}/"
    refund = Refund.objects.get()
    assert refund.amount_fen == 350 and refund.status == RefundStatus.PROCESSING
