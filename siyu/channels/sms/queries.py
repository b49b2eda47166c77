"""Reads of SMS messages, always scoped: HQ sees every message; managers and staff the messages to customers they
may see (a message to a number with no customer is HQ's alone)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, QuerySet

from siyu.channels.sms.models import SmsMessage, SmsReply, SmsStatus
from siyu.customers import queries as customer_queries
from siyu.customers.privacy import phone_for
from siyu.org.scope import Scope

STATUS_CHOICES = list(SmsStatus.choices)


def messages(scope: Scope, *, status: str = "") -> QuerySet[SmsMessage]:
    qs = SmsMessage.objects.filter(enterprise_id=scope.enterprise_id)
    if not scope.is_hq:
        qs = qs.filter(customer__in=customer_queries.customers(scope))
    if status in SmsStatus.values:
        qs = qs.filter(status=status)
    return qs.select_related("customer").order_by("-created_at", "-pk")


def status_counts(scope: Scope) -> dict[str, int]:
    counts = {value: 0 for value in SmsStatus.values}
    rows = messages(scope).order_by().values("status").annotate(n=Count("pk"))
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def replies(scope: Scope) -> QuerySet[SmsReply]:
    """Replies are HQ's: a reply is tied to a number, not to a customer a staff member follows."""
    if not scope.is_hq:
        return SmsReply.objects.none()
    return SmsReply.objects.filter(enterprise_id=scope.enterprise_id).order_by("-received_at", "-pk")


def rows(scope: Scope, items: Iterable[SmsMessage]) -> list[dict[str, Any]]:
    """A page of messages as the console shows them: the phone masked for store staff."""
    return [
        {"phone": phone_for(scope, m.phone), "customer": m.customer, "purpose": m.get_purpose_display(),
         "status": m.status, "status_label": m.get_status_display(), "error": m.error, "created_at": m.created_at,
         "reported_at": m.reported_at}
        for m in items
    ]
