"""Daily check-in: one per customer and Shanghai day, streaks with HQ's bonuses (hand-worked: 5 points a day, +10 on
the third day in a row, +50 on the seventh), points granted as a reward lot on the ledger; the storefront API."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import Event
from siyu.finance.models import JournalEntry
from siyu.loyalty import queries, services
from siyu.loyalty.models import CheckIn, PointsLot
from siyu.orders.models import StorefrontSession
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.loyalty.helpers import ledger_matches_lots, setup_program
from tests.orders.helpers import Shop, build_shop

pytestmark = pytest.mark.django_db
TOKEN = "sf_check-in-token-0001"
BONUSES = (services.StreakBonus(day=3, points=10), services.StreakBonus(day=7, points=50))


def setup_check_in(shop: Shop) -> None:
    setup_program(shop)
    services.configure_check_in(scope=shop.hq, is_active=True, daily_points=5, bonuses=BONUSES)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_streak_bonuses_and_the_shanghai_day(org: Org) -> None:
    shop = build_shop(org)
    setup_check_in(shop)
    c = shop.customer.pk

    def at(moment: datetime) -> tuple[int, int, bool]:
        row, first = services.check_in(enterprise_id=shop.enterprise_id, customer_id=c, now=moment)
        return row.streak, row.points, first

    assert at(utc(2026, 3, 1, 1)) == (1, 5, True)  # 2026-03-01 09:00 Shanghai
    assert at(utc(2026, 3, 1, 15, 59)) == (1, 5, False)  # 23:59 the same Shanghai day: already
    assert at(utc(2026, 3, 1, 16, 0)) == (2, 5, True)  # 2026-03-02 00:00 Shanghai: a new day (the same UTC day)
    assert at(utc(2026, 3, 3, 2)) == (3, 15, True)  # the third day in a row: 5 + 10
    assert at(utc(2026, 3, 5, 2)) == (1, 5, True)  # 03-04 missed: the streak starts again
    assert list(PointsLot.objects.order_by("id").values_list("points", flat=True)) == [5, 5, 15, 5]
    assert CheckIn.objects.count() == 4
    assert queries.balance(shop.enterprise_id, c, now=utc(2026, 3, 5, 3)) == 30
    assert Event.objects.filter(name="check_in", customer_id=c).count() == 4
    ledger_matches_lots(shop)
    calendar = queries.check_in_calendar(enterprise_id=shop.enterprise_id, customer_id=c, now=utc(2026, 3, 5, 3))
    assert (calendar.checked_in_today, calendar.streak, calendar.next_points, calendar.month) == (True, 1, 5,
                                                                                               "2026-03")
    assert calendar.days == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 5)]
    # the next day, before checking in: yesterday's streak is still alive; day 2 of it pays 5
    tomorrow = queries.check_in_calendar(enterprise_id=shop.enterprise_id, customer_id=c, now=utc(2026, 3, 6, 3))
    assert (tomorrow.checked_in_today, tomorrow.streak, tomorrow.next_points) == (False, 1, 5)


def test_seventh_day_bonus(org: Org) -> None:
    shop = build_shop(org)
    setup_check_in(shop)
    start = utc(2026, 5, 1, 2)
    rows = [services.check_in(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk,
                              now=start + timedelta(days=i))[0] for i in range(8)]
    assert [r.points for r in rows] == [5, 5, 15, 5, 5, 5, 55, 5]
    assert rows[-1].streak == 8


def test_closed_without_rules_and_rules_are_hq_only_and_validated(org: Org) -> None:
    shop = build_shop(org)
    with pytest.raises(Conflict) as closed:
        services.check_in(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk)
    assert closed.value.code == "check_in_closed"
    with pytest.raises(PermissionDenied):
        services.configure_check_in(scope=scope_for_staff(org.n1_staff), is_active=True, daily_points=5, bonuses=())
    with pytest.raises(ValidationFailed) as twice:
        services.configure_check_in(scope=shop.hq, is_active=True, daily_points=5, bonuses=(
            services.StreakBonus(3, 10), services.StreakBonus(3, 20)))
    assert twice.value.field == "streak_bonuses[1].day"
    with pytest.raises(ValidationFailed) as day_one:
        services.configure_check_in(scope=shop.hq, is_active=True, daily_points=5, bonuses=(
            services.StreakBonus(1, 10),))
    assert day_one.value.field == "streak_bonuses[0].day"
    assert not AuditEntry.objects.filter(action="checkin.configure").exists()
    setup_check_in(shop)
    assert AuditEntry.objects.filter(action="checkin.configure").count() == 1


def test_storefront_check_in_once_a_day(org: Org) -> None:
    shop = build_shop(org)
    setup_check_in(shop)
    now = timezone.now()
    StorefrontSession.objects.create(enterprise_id=shop.enterprise_id, customer_id=shop.customer.pk, app_id="wxmall",
                                     openid="o_check_in", token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                     created_at=now, expires_at=now + timedelta(days=1))
    phone = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    first = phone.post("/api/storefront/check-in")
    again = phone.post("/api/storefront/check-in")
    assert (first.status_code, again.status_code) == (201, 200), first.content
    assert (first.json()["points"], first.json()["first"], again.json()["first"]) == (5, True, False)
    assert first.json()["balance"] == again.json()["balance"] == 5
    entries = JournalEntry.objects.count()
    assert phone.post("/api/storefront/check-in").status_code == 200 and JournalEntry.objects.count() == entries
    calendar = phone.get("/api/storefront/check-in").json()
    assert (calendar["checked_in_today"], calendar["streak"], len(calendar["days"])) == (True, 1, 1)
    bad = phone.get("/api/storefront/check-in?month=2026-13")
    assert (bad.status_code, bad.json()["field"]) == (422, "month")
    assert Client().post("/api/storefront/check-in").status_code == 401
