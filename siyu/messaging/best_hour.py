"""The schedule option "at each customer's usual active hour": each delivery's due time is the next occurrence of
the hour (Asia/Shanghai) at which most of the customer's events of the last LOOKBACK_DAYS happened (messages,
orders, visits: the event log holds them all; a tie goes to the earlier hour), then moved past quiet hours like any
send. A customer without history keeps the campaign's own time.

Set-based: there are only 24 hours, so their due times are computed here and one UPDATE gives every delivery of the
campaign the due time of its customer's modal hour (a correlated GROUP BY over the customer's events, served by the
(customer, occurred_at) index)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Case, Count, F, OuterRef, Subquery, Value, When
from django.db.models.functions import ExtractHour

from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Event
from siyu.messaging.models import Campaign, ContactPolicy, Delivery, DeliveryStatus
from siyu.messaging.planning import due_time

LOOKBACK_DAYS = 90


def hour_due_times(start: datetime, policy: ContactPolicy) -> dict[int, datetime]:
    """For each hour of the day: its next start at or after `start` (Shanghai), past the quiet hours."""
    local = start.astimezone(SHANGHAI)
    out = {}
    for hour in range(24):
        candidate = datetime.combine(local.date(), time(hour), tzinfo=SHANGHAI)
        if candidate < local:
            candidate += timedelta(days=1)
        out[hour] = due_time(candidate, policy).astimezone(start.tzinfo)
    return out


def modal_hour(start: datetime) -> Subquery:
    """The delivery's customer's most frequent event hour in Shanghai over the lookback (NULL without events)."""
    events = Event.objects.filter(customer_id=OuterRef("customer_id"), occurred_at__lt=start,
                                  occurred_at__gte=start - timedelta(days=LOOKBACK_DAYS))
    hours = (events.order_by().annotate(hr=ExtractHour("occurred_at", tzinfo=SHANGHAI)).values("hr")
             .annotate(n=Count("id")).order_by("-n", "hr").values("hr")[:1])
    return Subquery(hours)


def apply(campaign: Campaign, policy: ContactPolicy, start: datetime) -> int:
    """Set the due time of the campaign's planned (and waiting) deliveries from their customers' usual hour."""
    due = hour_due_times(start, policy)
    rows = Delivery.objects.filter(campaign=campaign, status__in=[DeliveryStatus.PLANNED, DeliveryStatus.WAITING])
    return rows.annotate(best=modal_hour(start)).update(
        due_at=Case(*[When(best=hour, then=Value(moment)) for hour, moment in due.items()], default=F("due_at")))
