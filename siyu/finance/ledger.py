"""Posting to the double-entry ledger: the one way journal entries are written.

An entry is a set of legs; each leg debits one account and credits another with the same positive amount, so an
entry balances by construction and the database refuses a leg that would not (siyu.finance.models). The entry's
idempotency key comes from the business fact (`payment:<out_trade_no>`, `refund:<out_refund_no>`, ...): posting the
same fact twice returns the first entry, and the same key with different legs is a Conflict, never a second posting.

The posting rules (what each fact debits and credits):

    payment          Dr platform_clearing      Cr customer_prepaid          money in at WeChat Pay, owed to the customer
    offline payment  Dr offline_receipts       Cr customer_prepaid          cash or transfer recorded by HQ
    refund           Dr customer_prepaid       Cr platform_clearing         money back to the customer
    platform fee     Dr fees                   Cr platform_clearing
    coupon subsidy   Dr promotions_expense     Cr store_receivable          HQ funds the store's coupon discount
    commission       Dr commission_expense     Cr staff_commission_payable  (a refund reverses it)
    settlement       Dr customer_prepaid       Cr sales_revenue             a sale is earned (goods delivered)
                     Dr sales_revenue          Cr store_receivable          the store's share of it
    points           Dr points_expense         Cr points_liability          (the loyalty issue posts these)

A correction is a reversing entry (`reverse_entry`): every leg swapped, keyed `reversal:<entry id>`, so an entry is
reversed at most once and the original stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.finance.models import Account, EntryKind, JournalEntry, LedgerTransfer
from siyu.org.scope import Scope

MAX_LEGS = 100
MAX_FEN = 10**15


@dataclass(frozen=True)
class Leg:
    debit: str
    credit: str
    amount_fen: int
    store_id: int | None = None
    staff_id: int | None = None


def _check_legs(legs: Sequence[Leg]) -> list[Leg]:
    kept = []
    for index, leg in enumerate(legs):
        field = f"legs[{index}]"
        if leg.debit not in Account.values or leg.credit not in Account.values:
            raise ValidationFailed(_("unknown account"), field=f"{field}.account", index=index, code="unknown_account")
        if leg.debit == leg.credit:
            raise ValidationFailed(_("a leg moves money between two accounts"), field=field, index=index,
                                   code="same_account")
        if not isinstance(leg.amount_fen, int) or isinstance(leg.amount_fen, bool) or leg.amount_fen < 0 \
                or leg.amount_fen > MAX_FEN:
            raise ValidationFailed(_("amounts are whole fen, not negative"), field=f"{field}.amount_fen", index=index,
                                   code="invalid_amount")
        if leg.amount_fen:
            kept.append(leg)
    if len(kept) > MAX_LEGS:
        raise ValidationFailed(_("at most %(MAX_LEGS)s legs") % {"MAX_LEGS": MAX_LEGS}, field="legs", code="too_many")
    return kept


def _same_legs(entry: JournalEntry, legs: Sequence[Leg], currency: str) -> bool:
    stored = sorted(entry.transfers.values_list("debit_account", "credit_account", "amount_fen", "store_id",
                                                "staff_id"), key=repr)
    asked = sorted(((x.debit, x.credit, x.amount_fen, x.store_id, x.staff_id) for x in legs), key=repr)
    return entry.currency == currency and stored == asked


def post_entry(
    *, enterprise_id: int, kind: str, key: str, currency: str, legs: Sequence[Leg], memo: str = "",
    order_id: int | None = None, posted_at: datetime | None = None, actor: Actor = None,
    reverses: JournalEntry | None = None,
) -> JournalEntry | None:
    """Post one entry once per key. Zero-amount legs are dropped; an entry with nothing left posts nothing (None)."""
    if kind not in EntryKind.values:
        raise ValidationFailed(_("unknown entry kind"), field="kind", code="unknown_entry_kind")
    if not key or len(key) > 128:
        raise ValidationFailed(_("the key is 1-128 characters"), field="key", code="required")
    if len(currency) != 3 or not currency.isupper() or not currency.isascii():
        raise ValidationFailed(_("currency is an ISO 4217 code"), field="currency", code="currency_format")
    kept = _check_legs(legs)
    if not kept:
        return None
    moment = posted_at or timezone.now()
    # Insert first: a key is nearly always new, and the unique (enterprise, key) constraint finds the repeat (in its
    # own savepoint, so the caller's transaction goes on), one statement cheaper than looking before every posting.
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                enterprise_id=enterprise_id, kind=kind, idempotency_key=key, currency=currency,
                memo=memo[:200], order_id=order_id, posted_at=moment, created_by=audit.user_of(actor),
                reverses=reverses,
            )
            LedgerTransfer.objects.bulk_create([
                LedgerTransfer(entry=entry, enterprise_id=enterprise_id, debit_account=leg.debit,
                               credit_account=leg.credit, amount_fen=leg.amount_fen, currency=currency,
                               store_id=leg.store_id, staff_id=leg.staff_id, posted_at=moment)
                for leg in kept
            ])
            return entry
    except IntegrityError:
        existing = JournalEntry.objects.filter(enterprise_id=enterprise_id, idempotency_key=key).first()
        if existing is None:
            raise
    if not _same_legs(existing, kept, currency):
        raise Conflict(_("this key was posted with other amounts"), field="key", code="key_reused")
    return existing


@dataclass(frozen=True)
class EntrySpec:
    """One entry for `post_entries`: what `post_entry` takes, as a value."""

    kind: str
    key: str
    legs: Sequence[Leg]
    memo: str = ""


def post_entries(*, enterprise_id: int, currency: str, order_id: int | None, posted_at: datetime,
                 specs: Sequence[EntrySpec]) -> list[JournalEntry | None]:
    """Several entries of one fact at once (one INSERT of the entries, one of their transfers, one savepoint), each
    exactly as `post_entry` would post it; when any key was posted before, every one goes through `post_entry`
    (which returns the first posting or refuses a key reused with other amounts). The result follows `specs`."""
    checked = []
    for spec in specs:
        if spec.kind not in EntryKind.values:
            raise ValidationFailed(_("unknown entry kind"), field="kind", code="unknown_entry_kind")
        if not spec.key or len(spec.key) > 128:
            raise ValidationFailed(_("the key is 1-128 characters"), field="key", code="required")
        checked.append(_check_legs(spec.legs))
    if len(currency) != 3 or not currency.isupper() or not currency.isascii():
        raise ValidationFailed(_("currency is an ISO 4217 code"), field="currency", code="currency_format")
    todo = [(spec, legs) for spec, legs in zip(specs, checked, strict=True) if legs]
    try:
        with transaction.atomic():
            entries = JournalEntry.objects.bulk_create([
                JournalEntry(enterprise_id=enterprise_id, kind=spec.kind, idempotency_key=spec.key,
                             currency=currency, memo=spec.memo[:200], order_id=order_id, posted_at=posted_at)
                for spec, _legs in todo])
            LedgerTransfer.objects.bulk_create([
                LedgerTransfer(entry=entry, enterprise_id=enterprise_id, debit_account=leg.debit,
                               credit_account=leg.credit, amount_fen=leg.amount_fen, currency=currency,
                               store_id=leg.store_id, staff_id=leg.staff_id, posted_at=posted_at)
                for entry, (_spec, legs) in zip(entries, todo, strict=True) for leg in legs])
    except IntegrityError:
        return [post_entry(enterprise_id=enterprise_id, kind=spec.kind, key=spec.key, currency=currency,
                           legs=spec.legs, memo=spec.memo, order_id=order_id, posted_at=posted_at)
                for spec in specs]
    made = {entry.idempotency_key: entry for entry in entries}
    return [made.get(spec.key) if legs else None for spec, legs in zip(specs, checked, strict=True)]


# ---------------------------------------------------------------------------------------------------------------
# Posting rules


@dataclass(frozen=True)
class Fact:
    """Where a posting comes from: the enterprise, the order (if any) and its attribution, the currency."""

    enterprise_id: int
    currency: str
    order_id: int | None = None
    store_id: int | None = None
    staff_id: int | None = None


def post_payment(fact: Fact, *, key: str, amount_fen: int, at: datetime, offline: bool = False,
                 actor: Actor = None) -> JournalEntry | None:
    debit = Account.OFFLINE_RECEIPTS if offline else Account.PLATFORM_CLEARING
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.OFFLINE_PAYMENT if offline else
                      EntryKind.PAYMENT, key=key, currency=fact.currency, order_id=fact.order_id, posted_at=at,
                      actor=actor, legs=[Leg(debit, Account.CUSTOMER_PREPAID, amount_fen, fact.store_id,
                                             fact.staff_id)])


def post_refund(fact: Fact, *, key: str, amount_fen: int, at: datetime, actor: Actor = None) -> JournalEntry | None:
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.REFUND, key=key, currency=fact.currency,
                      order_id=fact.order_id, posted_at=at, actor=actor,
                      legs=[Leg(Account.CUSTOMER_PREPAID, Account.PLATFORM_CLEARING, amount_fen, fact.store_id,
                                fact.staff_id)])


def post_fee(fact: Fact, *, key: str, amount_fen: int, at: datetime) -> JournalEntry | None:
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.FEE, key=key, currency=fact.currency,
                      order_id=fact.order_id, posted_at=at,
                      legs=[Leg(Account.FEES, Account.PLATFORM_CLEARING, amount_fen, fact.store_id)])


def post_coupon_subsidy(fact: Fact, *, key: str, amount_fen: int, at: datetime) -> JournalEntry | None:
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.COUPON_SUBSIDY, key=key,
                      currency=fact.currency, order_id=fact.order_id, posted_at=at,
                      legs=[Leg(Account.PROMOTIONS_EXPENSE, Account.STORE_RECEIVABLE, amount_fen, fact.store_id)])


def post_commission(fact: Fact, *, key: str, amount_fen: int, at: datetime, reverse: bool = False
                    ) -> JournalEntry | None:
    """A staff member's commission on a sale (reverse=True: given back because the sale was refunded)."""
    debit, credit = Account.COMMISSION_EXPENSE, Account.STAFF_COMMISSION_PAYABLE
    if reverse:
        debit, credit = credit, debit
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.COMMISSION, key=key, currency=fact.currency,
                      order_id=fact.order_id, posted_at=at,
                      legs=[Leg(debit, credit, amount_fen, fact.store_id, fact.staff_id)])


def post_settlement(fact: Fact, *, key: str, sales_fen: int, store_share_fen: int, at: datetime
                    ) -> JournalEntry | None:
    """A sale is earned (prepaid -> revenue) and the store's share of it becomes its receivable."""
    if not 0 <= store_share_fen <= sales_fen:
        raise ValidationFailed(_("the store's share is between 0 and the sales"), field="store_share_fen",
                               code="store_share_range")
    return post_entry(enterprise_id=fact.enterprise_id, kind=EntryKind.SETTLEMENT, key=key, currency=fact.currency,
                      order_id=fact.order_id, posted_at=at,
                      legs=[Leg(Account.CUSTOMER_PREPAID, Account.SALES_REVENUE, sales_fen, fact.store_id),
                            Leg(Account.SALES_REVENUE, Account.STORE_RECEIVABLE, store_share_fen, fact.store_id)])


# ---------------------------------------------------------------------------------------------------------------
# Corrections


def require_finance(scope: Scope) -> None:
    """The books are HQ's (the finance roles): region and store roles neither read nor correct them."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ finance may see or correct the books"))


def reverse_entry(*, scope: Scope, entry_id: int, reason: str, actor: Actor = None,
                  now: datetime | None = None) -> JournalEntry:
    """Post the entry's reversal (every leg swapped). Reversing again returns the same reversal; a reversal itself
    cannot be reversed (post the right entry instead)."""
    require_finance(scope)
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
    original = JournalEntry.objects.filter(pk=entry_id, enterprise_id=scope.enterprise_id).first()
    if original is None:
        raise NotFound(_("entry %(entry_id)s not found") % {"entry_id": entry_id}, field="entry_id")
    if original.reverses_id is not None:
        raise Conflict(_("a reversal cannot be reversed: post the right entry instead"), field="entry_id",
                       code="is_reversal")
    done = JournalEntry.objects.filter(reverses_id=original.pk).first()
    if done is not None:
        return done
    legs = [Leg(t.credit_account, t.debit_account, t.amount_fen, t.store_id, t.staff_id)
            for t in original.transfers.all()]
    with transaction.atomic():
        reversal = post_entry(enterprise_id=scope.enterprise_id, kind=EntryKind.REVERSAL,
                              key=f"reversal:{original.pk}", currency=original.currency, legs=legs,
                              memo=text, order_id=original.order_id, posted_at=now, actor=actor, reverses=original)
        assert reversal is not None
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="ledger.reverse",
                     target_type="journal_entry", target_id=original.pk, summary=text)
    return reversal
