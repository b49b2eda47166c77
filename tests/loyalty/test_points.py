"""Points earned on payment, unlocked after the return window, reversed on refund, expired, redeemed and adjusted,
checked against hand-computed numbers (rules in tests/loyalty/helpers.py).

Tissue is ¥19.90 a unit (paper goods), the pan ¥299.00; five tissues cost ¥99.50 and ship free (from ¥99)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from siyu.core.errors import Conflict, PermissionDenied
from siyu.core.models import AuditEntry
from siyu.finance import queries as finance_queries
from siyu.finance.models import JournalEntry
from siyu.loyalty import queries, services
from siyu.loyalty.models import LotStatus, PointsLot, PointsOperation
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import (
    EXPIRY,
    later,
    ledger_matches_lots,
    liability,
    lots_consistent,
    pay,
    refund,
    setup_program,
)
from tests.orders.helpers import build_shop, line

pytestmark = pytest.mark.django_db


def test_no_program_no_points(org: Org) -> None:
    shop = build_shop(org)
    pay(shop.order(line(shop.tissue, 5)))
    assert not PointsLot.objects.exists()


def test_paid_order_earns_pending_points_per_category_then_unlocks_onto_the_ledger(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, paper_rate=2)
    order = pay(shop.order(line(shop.tissue, 5), line(shop.pan, 1)))
    # tissue: 9950 fen × 2 / 100 = 199; pan: 29900 × 1 / 100 = 299
    lot = PointsLot.objects.get()
    assert (lot.points, lot.remaining, lot.status, lot.order_id) == (498, 498, LotStatus.PENDING, order.pk)
    summary = queries.points_summary(shop.hq, shop.customer.pk)
    assert (summary.balance, summary.pending) == (0, 498)
    assert liability(shop) == 0  # pending points are not owed yet
    # paying the same order again (a re-delivered notify) earns nothing more
    pay(order, ref="pay-1")
    assert PointsLot.objects.count() == 1

    assert services.unlock_all(now=later(6)) == 0  # the return window has not passed
    assert services.unlock_all(now=later(7.01)) == 1
    assert services.unlock_all(now=later(7.02)) == 0  # a second run finds nothing
    summary = queries.points_summary(shop.hq, shop.customer.pk, now=later(7.02))
    assert (summary.balance, summary.pending) == (498, 0)
    assert liability(shop) == 498
    assert finance_queries.trial_balance(shop.hq).balanced


def test_partial_refunds_reverse_proportionally_and_sum_to_the_whole(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    order = pay(shop.order(line(shop.tissue, 5)))
    tissue = order.lines.get()
    assert PointsLot.objects.get().points == 99  # 9950 fen → 99 points
    refund(shop, order, {tissue.pk: 1}, "r1")  # 1990 of 9950 fen back: floor(99 × 1990 / 9950) = 19
    refund(shop, order, {tissue.pk: 2}, "r2")  # 5970 back in all: floor(99 × 5970 / 9950) = 59, so 40 more
    lot = PointsLot.objects.get()
    assert lot.remaining == 99 - 59
    refund(shop, order, {tissue.pk: 2}, "r3")  # all of it back: the last 40
    reversed_ = list(PointsOperation.objects.filter(kind="reverse").order_by("id").values_list("points", flat=True))
    assert reversed_ == [19, 40, 40]
    lot.refresh_from_db()
    assert (lot.remaining, lot.status) == (0, LotStatus.CANCELLED)
    assert liability(shop) == 0  # reversed while pending: nothing ever reached the ledger
    assert services.unlock_all(now=later(8)) == 0
    lots_consistent(shop.customer.pk)


def test_refund_after_unlock_posts_the_reversal_and_caps_at_what_is_left(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop, value=2)  # a point is worth 2 fen here
    order = pay(shop.order(line(shop.tissue, 5)), at=later(-10))
    services.unlock_all()
    assert liability(shop) == 99 * 2
    services.redeem(scope=shop.hq, customer_id=shop.customer.pk, points=90, reason="gift", key="g1")
    assert liability(shop) == 9 * 2
    refund(shop, order, {order.lines.get().pk: 5}, "r-all")
    op = PointsOperation.objects.get(kind="reverse")
    assert (op.points, op.shortfall) == (9, 90)  # 99 asked, 9 held: the 90 spent are not clawed back
    assert queries.balance(shop.enterprise_id, shop.customer.pk) == 0
    assert liability(shop) == 0
    ledger_matches_lots(shop)
    assert finance_queries.trial_balance(shop.hq).balanced


def test_reversal_takes_the_orders_own_lot_first_then_others(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=50, reason="welcome", key="w")  # expires in 30 days
    order = pay(shop.order(line(shop.tissue, 5)), at=later(-10))  # available 3 days ago, expires in 27 days
    services.unlock_all()
    services.redeem(scope=shop.hq, customer_id=c, points=80, reason="gift", key="g")
    welcome = PointsLot.objects.get(key="adjust:w")
    order_lot = PointsLot.objects.get(order_id=order.pk)
    assert (welcome.remaining, order_lot.remaining) == (50, 19)  # the soonest-expiring lot (the order's) first
    refund(shop, order, {order.lines.get().pk: 5}, "r")
    op = PointsOperation.objects.get(kind="reverse")
    assert (op.points, op.shortfall) == (19 + 50, 99 - 69)  # its own 19 first, then the welcome 50; 30 were spent
    assert queries.balance(shop.enterprise_id, c) == 0
    lots_consistent(c)
    ledger_matches_lots(shop)


def test_expiry_takes_oldest_lots_first_and_is_idempotent(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    now = timezone.now()
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=100, reason="old", key="a", now=later(-25))
    services.adjust(scope=shop.hq, customer_id=c, points=50, reason="new", key="b", now=later(-5))
    services.redeem(scope=shop.hq, customer_id=c, points=30, reason="gift", key="g", now=now)
    old, new = PointsLot.objects.order_by("earned_at")
    assert (old.remaining, new.remaining) == (70, 50)  # the oldest lot was spent first
    assert liability(shop) == 120
    # the old lot expires at the end of the Shanghai day EXPIRY days after it was earned: 5-6 days from now
    assert services.expire_all(now=later(EXPIRY - 25 - 2)) == 0
    assert services.expire_all(now=later(EXPIRY - 25 + 2)) == 1
    assert services.expire_all(now=later(EXPIRY - 25 + 2)) == 0  # a second run expires nothing more
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.remaining, new.remaining) == (0, 50)
    expired = PointsOperation.objects.get(kind="expire")
    assert (expired.points, expired.lot_id) == (70, old.pk)
    assert liability(shop) == 50
    assert JournalEntry.objects.filter(idempotency_key__startswith="points-expire:").count() == 1
    history = queries.points_summary(shop.hq, c, now=later(EXPIRY - 25 + 2)).history
    assert [(row.kind, row.points) for row in history][:1] == [("expire", -70)]
    assert abs((history[0].at - later(EXPIRY - 25 + 2)).total_seconds()) < 60  # stamped with the run's cutoff
    lots_consistent(c)
    ledger_matches_lots(shop)


def test_redeeming_more_than_held_is_refused_and_writes_nothing(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=40, reason="welcome", key="w")
    entries, audits = JournalEntry.objects.count(), AuditEntry.objects.count()
    with pytest.raises(Conflict) as exc:
        services.redeem(scope=shop.hq, customer_id=c, points=41, reason="gift", key="g")
    assert exc.value.code == "insufficient_points" and exc.value.field == "points"
    assert not PointsOperation.objects.exists()
    assert (JournalEntry.objects.count(), AuditEntry.objects.count()) == (entries, audits)
    assert PointsLot.objects.get().remaining == 40
    # expired points cannot be spent either, even before the nightly job has run
    with pytest.raises(Conflict):
        services.redeem(scope=shop.hq, customer_id=c, points=10, reason="gift", key="late", now=later(EXPIRY + 2))


def test_redeem_repeat_with_same_key_redeems_once(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    services.adjust(scope=shop.hq, customer_id=c, points=100, reason="welcome", key="w")
    first = services.redeem(scope=shop.hq, customer_id=c, points=30, reason="gift", key="k")
    again = services.redeem(scope=shop.hq, customer_id=c, points=30, reason="gift", key="k")
    assert first.pk == again.pk
    assert queries.balance(shop.enterprise_id, c) == 70
    with pytest.raises(Conflict) as exc:
        services.redeem(scope=shop.hq, customer_id=c, points=31, reason="gift", key="k")
    assert exc.value.code == "key_reused"


def test_adjustments_are_hq_only_and_audited(org: Org) -> None:
    shop = build_shop(org)
    setup_program(shop)
    c = shop.customer.pk
    with pytest.raises(PermissionDenied):
        services.adjust(scope=scope_for_staff(org.n1_manager), customer_id=c, points=10, reason="x", key="m")
    services.adjust(scope=shop.hq, customer_id=c, points=10, reason="apology", key="p")
    services.adjust(scope=shop.hq, customer_id=c, points=-4, reason="typo", key="n")
    assert queries.balance(shop.enterprise_id, c) == 6
    assert list(AuditEntry.objects.filter(action="points.adjust").order_by("id").values_list("summary", flat=True)) \
        == ["+10 points: apology", "-4 points: typo"]
    assert liability(shop) == 6
    with pytest.raises(Conflict):
        services.adjust(scope=shop.hq, customer_id=c, points=-7, reason="too many", key="n2")


def test_merging_customers_moves_their_points(org: Org) -> None:
    from siyu.customers import services as customer_services

    shop = build_shop(org)
    setup_program(shop)
    other = CustomerFactory.create(enterprise=org.enterprise)
    services.adjust(scope=shop.hq, customer_id=other.pk, points=25, reason="x", key="o")
    services.adjust(scope=shop.hq, customer_id=shop.customer.pk, points=5, reason="x", key="s")
    customer_services.merge_customers(survivor=shop.customer, absorbed=other, reason="same person")
    assert queries.balance(shop.enterprise_id, shop.customer.pk) == 30


def test_an_approved_ugc_submission_earns_the_programs_points_once(org: Org) -> None:
    from siyu.content import services as content_services

    shop = build_shop(org)
    services.configure_program(scope=shop.hq, data=services.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=7, expiry_days=30, ugc_points=20))
    sub = content_services.submit_ugc(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                                      kind="review", text="很好用")
    content_services.approve_ugc(scope=shop.hq, submission_id=sub.pk)
    services.reward_ugc(shop.enterprise_id, shop.customer.pk, f"ugc:{sub.pk}")  # asked again: still one lot
    lot = PointsLot.objects.get()
    assert (lot.source, lot.points, lot.status) == ("reward", 20, LotStatus.AVAILABLE)
    assert queries.balance(shop.enterprise_id, shop.customer.pk) == 20
    assert liability(shop) == 20


def test_the_worker_tasks_are_scheduled_and_run_the_jobs(org: Org) -> None:
    from siyu.core.periodic import periodic_jobs
    from siyu.loyalty import tasks

    names = {job.name for job in periodic_jobs()}
    assert {"loyalty.unlock_points", "loyalty.expire_points"} <= names
    shop = build_shop(org)
    setup_program(shop)
    pay(shop.order(line(shop.tissue, 5)), at=later(-8))  # its window passed yesterday
    assert tasks.unlock_points_task.call() == 1
    assert tasks.unlock_points_task.call() == 0
    assert tasks.expire_points_task.call() == 0  # nothing is past its date yet
    assert liability(shop) == 99
