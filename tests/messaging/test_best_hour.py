"""Best hour (issue 28): each delivery is due at the next occurrence of its customer's most frequent event hour in
Asia/Shanghai over the last 90 days (a tie to the earlier hour), past quiet hours; without history, the campaign's
time. Expected due times are written out by hand (the campaign is planned at 10:00 Shanghai on 2026-12-20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siyu.customers.models import Customer, Event
from siyu.messaging.models import Delivery
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import MORNING, Accounts, Clock
from tests.messaging.helpers import make_customer
from tests.messaging.kit import sms_campaign

_n = [0]


def _events(org: Org, customer: Customer, *shanghai: tuple[int, int, int]) -> None:
    """Events at (days before 2026-12-20, hour, minute), Shanghai time."""
    for days_before, hour, minute in shanghai:
        _n[0] += 1
        at = datetime(2026, 12, 20, hour, minute, tzinfo=UTC) - timedelta(hours=8, days=days_before)
        Event.objects.create(enterprise=org.enterprise, customer=customer, name="page_view", occurred_at=at,
                             idempotency_key=f"bh{_n[0]}")


def test_each_delivery_is_due_at_its_customers_usual_hour(org: Org, hq: Scope, accounts: Accounts,
                                                          clock: Clock) -> None:
    evening, early, nine, none, tie, old = (make_customer(org, phone=True, sms_consent=True) for _ in range(6))
    _events(org, evening, (1, 20, 5), (2, 20, 40), (3, 20, 59), (4, 8, 30))  # 20h three times
    _events(org, early, (1, 7, 10), (2, 7, 20))  # 7h: tomorrow 07:00 is quiet (21-9): 09:00
    _events(org, nine, (1, 9, 0), (5, 9, 30))  # 9h already passed today: tomorrow 09:00
    _events(org, tie, (1, 15, 0), (2, 15, 0), (3, 11, 0), (4, 11, 59))  # 11h and 15h tie: 11h
    _events(org, old, (120, 22, 0), (121, 22, 0))  # older than 90 days: no history
    _events(org, nine, (0, 23, 0), (0, 23, 10), (0, 23, 20))  # later today than the plan: not history
    campaign = sms_campaign(hq, accounts, [c.pk for c in (evening, early, nine, none, tie, old)], "hi",
                            best_hour=True, launch=False)
    due = dict(Delivery.objects.filter(campaign=campaign).values_list("customer_id", "due_at"))
    assert due == {
        evening.pk: datetime(2026, 12, 20, 12, 0, tzinfo=UTC),  # 20:00 Shanghai today
        early.pk: datetime(2026, 12, 21, 1, 0, tzinfo=UTC),  # 09:00 Shanghai tomorrow
        nine.pk: datetime(2026, 12, 21, 1, 0, tzinfo=UTC),
        none.pk: MORNING,
        tie.pk: datetime(2026, 12, 20, 3, 0, tzinfo=UTC),  # 11:00 Shanghai today
        old.pk: MORNING,
    }
