"""`siyu consistency`: facts that must hold across tables, checked set-based (one aggregate query each).

Run it after restoring a backup, after an upgrade, or from monitoring. Each check counts the rows that break a fact
and names up to a few of them; an empty report means the database is consistent as far as these facts go:
- every journal entry has transfers, and every transfer stays within its entry's enterprise (the books balance by
  construction: a transfer debits and credits one positive amount, which database constraints hold);
- every paid WeChat Pay payment is posted to the ledger (`payment:<out_trade_no>`);
- every order that was paid has its `order_paid` event in the customer's timeline;
- no order has been paid more than its amount.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.fields import CharField
from django.db.models.functions import Cast, Concat

SAMPLE = 5


@dataclass(frozen=True)
class Finding:
    check: str
    count: int
    sample: list[int] = field(default_factory=list)


def _finding(check: str, qs: QuerySet[Any]) -> Finding | None:
    count = qs.count()
    if not count:
        return None
    return Finding(check, count, list(qs.order_by("pk").values_list("pk", flat=True)[:SAMPLE]))


def _key(prefix: str, ref: str) -> Concat:
    return Concat(Value(prefix), Cast(OuterRef(ref), output_field=CharField()), output_field=CharField())


def run() -> list[Finding]:
    from siyu.customers.models import Event
    from siyu.finance.models import JournalEntry, LedgerTransfer, Payment, PaymentStatus
    from siyu.orders.models import Order

    checks = {
        "journal_entry_without_transfers": JournalEntry.objects.filter(
            ~Exists(LedgerTransfer.objects.filter(entry=OuterRef("pk")))),
        "transfer_outside_its_entry_enterprise": LedgerTransfer.objects.exclude(
            enterprise_id=F("entry__enterprise_id")),
        "paid_payment_not_posted": Payment.objects.filter(status=PaymentStatus.PAID).filter(
            ~Exists(JournalEntry.objects.filter(enterprise_id=OuterRef("enterprise_id"),
                                                idempotency_key=Concat(Value("payment:"), OuterRef("out_trade_no"),
                                                                       output_field=CharField())))),
        "paid_order_without_paid_event": Order.objects.filter(paid_at__isnull=False, customer__isnull=False).filter(
            ~Exists(Event.objects.filter(enterprise_id=OuterRef("enterprise_id"), customer_id=OuterRef("customer_id"),
                                         name="order_paid", idempotency_key=_key("order_paid:", "pk")))),
        "order_paid_above_amount": Order.objects.filter(Q(paid_fen__gt=F("amount_fen"))),
    }
    return [finding for name, qs in checks.items() if (finding := _finding(name, qs)) is not None]
