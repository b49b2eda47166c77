"""A pay notify's cost in SQL statements is pinned: applying one (verify, replay cache, payment, order paid with its
event, ledger entry, per line the sale and commission accruals with their entries, the log row) stays under a fixed
bound, so a change that reads rows again or posts per leg fails here. Counted with the guarantees on: the notify is
applied once, the books balance, its repeat is refused by the replay cache."""

from __future__ import annotations

import os
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simulator import wechatpay as sim
from simulator.state import current
from siyu.finance import commissions, queries, services
from siyu.finance.models import JournalEntry, PayNotify
from siyu.orders.services.placement import Attribution
from siyu.org.scope import Scope
from tests.finance.conftest import Paying
from tests.orders.helpers import line

pytestmark = pytest.mark.django_db

# 32 for the payment, the order, the ledger, the accruals and the events, plus 1 for loyalty's hook (the enterprise's
# points programme is looked up; with none, no points are earned) and 1 for content's (the buyer's tracked-link
# clicks before payment, the buyer a subquery; with none, no conversion is written), plus 1 for messaging's (the
# buyer's campaign deliveries of the last 90 days, the buyer a subquery; with none, no conversion is written).
# Loyalty's membership hook is for membership orders only and costs a goods order nothing.
MAX_STATEMENTS = 35


def test_an_applied_notify_issues_at_most_the_pinned_number_of_statements(paying: Paying) -> None:
    shop = paying.shop
    commissions.create_rule(scope=shop.hq, data=commissions.RuleInput(
        name="纸品 10%", target="category", basis="percent", rate_bp=1000,
        category_id=shop.tissue.product.category_id, valid_from=date(2020, 1, 1)))
    # carried by a staff member's link: the commission entry is posted too
    order = shop.order(line(shop.tissue, 2), line(shop.pan, 1), attribution=Attribution(staff_id=shop.org.n1_staff.pk))
    out_trade_no = paying.pay_route(order).json()["out_trade_no"]
    platform = current().wechatpay.pay(paying.merchant.mch_id, out_trade_no, notify=False)
    headers, body = current().wechatpay.build_notify(paying.merchant.mch_id, "TRANSACTION.SUCCESS",
                                                     sim.transaction_json(platform))
    with CaptureQueriesContext(connection) as captured:
        answer = services.receive_notify(mch_id=paying.merchant.mch_id, headers=headers, body=body)
    assert answer.status == 204
    if os.environ.get("SIYU_SHOW_QUERIES"):
        for q in captured.captured_queries:
            print(q["sql"][:220])
    order.refresh_from_db()
    assert order.status == "paid"
    assert sorted(JournalEntry.objects.values_list("kind", flat=True)) == ["commission", "payment", "settlement"]
    assert queries.trial_balance(Scope.hq(order.enterprise_id)).balanced
    if os.environ.get("SIYU_SHOW_QUERIES"):
        print("STATEMENTS", len(captured))
    assert len(captured) <= MAX_STATEMENTS, f"{len(captured)} statements to apply one notify"
    again = services.receive_notify(mch_id=paying.merchant.mch_id, headers=headers, body=body)
    assert again.status == 204 and PayNotify.objects.filter(outcome="applied").count() == 1
