"""Reading the books: trial balance, account statements, entries. HQ finance only (`ledger.require_finance`).

Balances are derived from the transfers with two grouped sums (debits per account, credits per account), never
stored and never summed in Python row by row. An account's balance is shown on its normal side: debits minus credits
for assets and expenses, credits minus debits for liabilities and revenue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.finance.ledger import require_finance
from siyu.finance.models import ACCOUNT_TYPES, Account, AccountType, JournalEntry, LedgerTransfer, PayMerchant
from siyu.org.scope import Scope

DEBIT_NORMAL = (AccountType.ASSET, AccountType.EXPENSE)


def normal_balance(account: str, debit_fen: int, credit_fen: int) -> int:
    return debit_fen - credit_fen if ACCOUNT_TYPES[account] in DEBIT_NORMAL else credit_fen - debit_fen


@dataclass(frozen=True)
class TrialRow:
    account: str
    label: str
    type: str
    currency: str
    debit_fen: int
    credit_fen: int
    balance_fen: int


@dataclass(frozen=True)
class TrialBalance:
    rows: list[TrialRow]
    as_of: datetime | None
    debit_total_fen: dict[str, int]
    credit_total_fen: dict[str, int]

    @property
    def balanced(self) -> bool:
        return self.debit_total_fen == self.credit_total_fen


def _check_account(account: str) -> None:
    if account not in Account.values:
        raise NotFound(_("no account %(account)s") % {"account": repr(account)}, field="account")


def trial_balance(scope: Scope, *, as_of: datetime | None = None, currency: str = "") -> TrialBalance:
    require_finance(scope)
    qs = LedgerTransfer.objects.filter(enterprise_id=scope.enterprise_id)
    if as_of is not None:
        qs = qs.filter(posted_at__lt=as_of)  # as_of: the instant the books are read at
    if currency:
        qs = qs.filter(currency=currency)
    sums: dict[tuple[str, str], list[int]] = {}
    for side, column in ((0, "debit_account"), (1, "credit_account")):
        for row in qs.values(column, "currency").annotate(total=Sum("amount_fen")).order_by():
            sums.setdefault((row[column], row["currency"]), [0, 0])[side] = int(row["total"])
    labels = dict(Account.choices)
    rows = []
    debit_total: dict[str, int] = {}
    credit_total: dict[str, int] = {}
    for account in Account.values:
        for (acc, cur), (debit, credit) in sorted(sums.items()):
            if acc != account:
                continue
            rows.append(TrialRow(account, str(labels[account]), ACCOUNT_TYPES[account], cur, debit, credit,
                                 normal_balance(account, debit, credit)))
            debit_total[cur] = debit_total.get(cur, 0) + debit
            credit_total[cur] = credit_total.get(cur, 0) + credit
    return TrialBalance(rows=rows, as_of=as_of, debit_total_fen=debit_total, credit_total_fen=credit_total)


def balance(scope: Scope, account: str, *, currency: str, before: Q | None = None, store_id: int | None = None,
            staff_id: int | None = None) -> int:
    """One account's balance (normal side), optionally of one store's or staff member's transfers."""
    require_finance(scope)
    _check_account(account)
    qs = LedgerTransfer.objects.filter(enterprise_id=scope.enterprise_id, currency=currency)
    if before is not None:
        qs = qs.filter(before)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if staff_id is not None:
        qs = qs.filter(staff_id=staff_id)
    sums = qs.aggregate(debit=Coalesce(Sum("amount_fen", filter=Q(debit_account=account)), 0),
                        credit=Coalesce(Sum("amount_fen", filter=Q(credit_account=account)), 0))
    return normal_balance(account, int(sums["debit"]), int(sums["credit"]))


@dataclass(frozen=True)
class StatementLine:
    transfer_id: int
    entry_id: int
    kind: str
    key: str
    memo: str
    order_id: int | None
    posted_at: datetime
    counter_account: str
    debit_fen: int
    credit_fen: int
    balance_fen: int
    store_id: int | None
    staff_id: int | None


@dataclass(frozen=True)
class Statement:
    account: str
    label: str
    currency: str
    opening_fen: int
    closing_fen: int
    lines: list[StatementLine]
    total: int
    page: int
    pages: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def account_statement(
    scope: Scope, account: str, *, currency: str = "CNY", start: datetime | None = None,
    end: datetime | None = None, page: int = 1, page_size: int = 50,
) -> Statement:
    """The account's transfers in time order with a running balance; the opening balance is everything before
    `start` (and before the page's first line), so every page's running balance is right on its own."""
    require_finance(scope)
    _check_account(account)
    if start is not None and end is not None and end < start:
        raise ValidationFailed(_("the end is before the start"), field="end", code="end_before_start")
    touching = Q(debit_account=account) | Q(credit_account=account)
    qs = LedgerTransfer.objects.filter(touching, enterprise_id=scope.enterprise_id, currency=currency)
    if start is not None:
        qs = qs.filter(posted_at__gte=start)
    if end is not None:
        qs = qs.filter(posted_at__lt=end)
    qs = qs.select_related("entry").order_by("posted_at", "id")
    result = paginate(qs, page=page, page_size=page_size)
    items = list(result.items)
    opening = balance(scope, account, currency=currency, before=Q(posted_at__lt=start)) if start is not None else 0
    if items:
        first = items[0]
        earlier = Q(posted_at__lt=first.posted_at) | Q(posted_at=first.posted_at, pk__lt=first.pk)
        running = balance(scope, account, currency=currency, before=earlier)
    else:
        running = opening
    lines = []
    for t in items:
        debit = t.amount_fen if t.debit_account == account else 0
        credit = t.amount_fen if t.credit_account == account else 0
        running += normal_balance(account, debit, credit)
        lines.append(StatementLine(t.pk, t.entry_id, t.entry.kind, t.entry.idempotency_key, t.entry.memo,
                                   t.entry.order_id, t.posted_at,
                                   t.credit_account if debit else t.debit_account, debit, credit, running,
                                   t.store_id, t.staff_id))
    end_q = Q(posted_at__lt=end) if end is not None else Q()
    closing = balance(scope, account, currency=currency, before=end_q)
    return Statement(account=account, label=str(dict(Account.choices)[account]), currency=currency,
                     opening_fen=opening, closing_fen=closing, lines=lines, total=result.total,
                     page=result.page, pages=result.pages)


def entries(scope: Scope, *, kind: str = "", order_id: int | None = None, page: int = 1,
            page_size: int = 50) -> Page[JournalEntry]:
    require_finance(scope)
    qs = JournalEntry.objects.filter(enterprise_id=scope.enterprise_id).prefetch_related("transfers")
    if kind:
        qs = qs.filter(kind=kind)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return paginate(qs.order_by("-posted_at", "-id"), page=page, page_size=page_size)


def get_entry(scope: Scope, entry_id: int) -> JournalEntry:
    require_finance(scope)
    entry = JournalEntry.objects.filter(pk=entry_id, enterprise_id=scope.enterprise_id).prefetch_related(
        "transfers").first()
    if entry is None:
        raise NotFound(_("entry %(entry_id)s not found") % {"entry_id": entry_id}, field="entry_id")
    return entry


def merchants(scope: Scope) -> list[PayMerchant]:
    """The enterprise's WeChat Pay merchants (HQ finance). Read their sealed keys through the model, never show them."""
    require_finance(scope)
    return list(PayMerchant.objects.filter(enterprise_id=scope.enterprise_id).order_by("id"))


def get_merchant(scope: Scope, merchant_id: int) -> PayMerchant:
    require_finance(scope)
    found = PayMerchant.objects.filter(enterprise_id=scope.enterprise_id, pk=merchant_id).first()
    if found is None:
        raise NotFound(_("merchant %(merchant_id)s not found") % {"merchant_id": merchant_id}, field="merchant_id")
    return found


PRODUCTION_PAY_HOST = "https://api.mch.weixin.qq.com"


def sandbox_cashier_url(*, enterprise_id: int, out_trade_no: str, return_url: str) -> str:
    """Where a browser outside WeChat pays when the brand's merchant account points at the WeChat Pay simulator (the
    demo, tests): its payment sheet. Empty for a real merchant account: there only WeChat's own sheet can pay."""
    merchant = PayMerchant.objects.filter(enterprise_id=enterprise_id, is_active=True).order_by("id").first()
    if merchant is None or merchant.base_url.rstrip("/").startswith(PRODUCTION_PAY_HOST):
        return ""
    query = urlencode({"mchid": merchant.mch_id, "out_trade_no": out_trade_no, "return": return_url})
    return f"{merchant.base_url.rstrip('/')}/sim/cashier?{query}"
