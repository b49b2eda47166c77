"""Posting several entries of one fact at once: the same entries and transfers as one by one, and a key posted
before makes every entry go through `post_entry` (the first posting returned, other amounts refused)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu.core.errors import Conflict
from siyu.finance import ledger
from siyu.finance.models import Account, EntryKind, JournalEntry, LedgerTransfer
from tests.conftest import Org

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 5, 3, tzinfo=UTC)


def _specs(sales: int, commission: int) -> list[ledger.EntrySpec]:
    return [
        ledger.EntrySpec(EntryKind.SETTLEMENT, "store-sale:order-7", [
            ledger.Leg(Account.CUSTOMER_PREPAID, Account.SALES_REVENUE, sales, 1, 2),
            ledger.Leg(Account.SALES_REVENUE, Account.STORE_RECEIVABLE, sales, 1, 2)], "sale"),
        ledger.EntrySpec(EntryKind.COMMISSION, "commission:order-7", [
            ledger.Leg(Account.COMMISSION_EXPENSE, Account.STAFF_COMMISSION_PAYABLE, commission, 1, 2)]),
        ledger.EntrySpec(EntryKind.FEE, "nothing:order-7", [ledger.Leg(Account.FEES, Account.PLATFORM_CLEARING, 0)]),
    ]


def test_entries_posted_together_once(org: Org) -> None:
    ent = org.enterprise.pk
    first = ledger.post_entries(enterprise_id=ent, currency="CNY", order_id=7, posted_at=AT, specs=_specs(900, 90))
    assert [e.kind if e else None for e in first] == ["settlement", "commission", None]
    legs = sorted(LedgerTransfer.objects.values_list("entry__idempotency_key", "debit_account", "credit_account",
                                                     "amount_fen", "store_id", "staff_id"))
    assert legs == sorted([("store-sale:order-7", "customer_prepaid", "sales_revenue", 900, 1, 2),
                           ("store-sale:order-7", "sales_revenue", "store_receivable", 900, 1, 2),
                           ("commission:order-7", "commission_expense", "staff_commission_payable", 90, 1, 2)])
    again = ledger.post_entries(enterprise_id=ent, currency="CNY", order_id=7, posted_at=AT, specs=_specs(900, 90))
    assert [e.pk if e else None for e in again] == [e.pk if e else None for e in first]
    assert JournalEntry.objects.count() == 2 and LedgerTransfer.objects.count() == 3
    with pytest.raises(Conflict):
        ledger.post_entries(enterprise_id=ent, currency="CNY", order_id=7, posted_at=AT, specs=_specs(900, 91))
    assert JournalEntry.objects.count() == 2 and LedgerTransfer.objects.count() == 3
