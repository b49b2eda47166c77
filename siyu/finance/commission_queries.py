"""Monthly statements of sales and commission per store and per staff member, and what a store's month settles.

Months are Shanghai calendar months ([the 1st 00:00 +08:00, the next 1st) as UTC instants). Every figure is a grouped
sum in SQL over the accrual rows (`SaleAccrual`) or, for what a store is owed, over the ledger's transfers to and from
store receivable; nothing is summed row by row in Python.

Scopes (siyu.org.scope): HQ sees every store and staff member; a region manager the stores of their region and
their staff; a store manager their store and its staff; store staff only their own staff statement (store
statements are for managers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import ProductRole
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import day_bounds
from siyu.finance.commission_models import (
    AccrualKind,
    CommissionRule,
    RuleBasis,
    RuleTarget,
    SaleAccrual,
    StoreSettlement,
)
from siyu.finance.models import Account, LedgerTransfer
from siyu.orders.models import Order, OrderLine
from siyu.org import queries as org_queries
from siyu.org.scope import Scope


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a Shanghai calendar month."""
    first = first_of_month(month)
    return day_bounds(first)[0], day_bounds(next_month(first))[0]


def parse_month(raw: str, *, field: str = "month") -> date:
    text = (raw or "").strip()
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError(text)
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise ValidationFailed(_("a month is YYYY-MM"), field=field, code="invalid_month") from exc


# ---------------------------------------------------------------------------------------------------------------
# Rules

RULE_TARGETS = RuleTarget.choices
RULE_BASES = RuleBasis.choices
PRODUCT_ROLES = ProductRole.choices
PERCENT = RuleBasis.PERCENT
FIXED = RuleBasis.FIXED


def rules(scope: Scope, *, include_deleted: bool = False) -> QuerySet[CommissionRule]:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ finance sees commission rules"))
    qs = CommissionRule.objects.filter(enterprise_id=scope.enterprise_id)
    return qs if include_deleted else qs.filter(is_active=True)


def get_rule(scope: Scope, rule_id: int) -> CommissionRule:
    rule = rules(scope, include_deleted=True).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("commission rule %(rule_id)s not found") % {"rule_id": rule_id}, field="rule_id")
    return rule


# ---------------------------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class StatementRow:
    """One store's or one staff member's month: sales and refunds (fen, refunds negative), commission accrued on
    sales and given back on refunds (negative), and their nets."""

    id: int | None
    name: str
    store_id: int | None
    currency: str
    orders: int
    sales_fen: int
    refunds_fen: int
    net_sales_fen: int
    commission_fen: int
    commission_back_fen: int
    net_commission_fen: int
    receivable_fen: int | None = None
    settled_fen: int | None = None


_SUMS = {
    "orders": Count("order_id", distinct=True, filter=Q(kind=AccrualKind.SALE)),
    "sales": Coalesce(Sum("sales_fen", filter=Q(kind=AccrualKind.SALE)), 0),
    "refunds": Coalesce(Sum("sales_fen", filter=Q(kind=AccrualKind.REFUND)), 0),
    "commission": Coalesce(Sum("commission_fen", filter=Q(kind=AccrualKind.SALE)), 0),
    "back": Coalesce(Sum("commission_fen", filter=Q(kind=AccrualKind.REFUND)), 0),
}


def _month_rows(scope: Scope, month: date) -> QuerySet[SaleAccrual]:
    start, end = month_bounds(month)
    return SaleAccrual.objects.filter(enterprise_id=scope.enterprise_id, posted_at__gte=start, posted_at__lt=end)


def _row(ident: int | None, name: str, store_id: int | None, r: Mapping[str, Any], **extra: int | None
         ) -> StatementRow:
    sales, refunds, commission, back = int(r["sales"]), int(r["refunds"]), int(r["commission"]), int(r["back"])
    return StatementRow(id=ident, name=name, store_id=store_id, currency=str(r["currency"]), orders=int(r["orders"]),
                        sales_fen=sales, refunds_fen=refunds, net_sales_fen=sales + refunds,
                        commission_fen=commission, commission_back_fen=back, net_commission_fen=commission + back,
                        **extra)


def store_statements(scope: Scope, month: date, *, store_id: int | None = None) -> list[StatementRow]:
    """One row per visible store (and currency) that sold or refunded in the month, with what its receivable moved
    in the month (from the ledger) and what its settlement paid, if it was settled."""
    if not scope.is_manager:
        raise PermissionDenied(_("store statements are for managers and HQ"))
    stores = org_queries.stores(scope)
    if store_id is not None:
        stores = stores.filter(pk=org_queries.get_store(scope, store_id).pk)
    names = dict(stores.values_list("pk", "name"))
    first = first_of_month(month)
    grouped = (_month_rows(scope, first).filter(store_id__in=list(names)).values("store_id", "currency")
               .annotate(**_SUMS).order_by("store_id", "currency"))
    owed = receivable_moves(scope.enterprise_id, first, store_ids=list(names))
    settled: dict[tuple[int | None, str], int] = {
        (s.store_id, s.currency): s.amount_fen
        for s in StoreSettlement.objects.filter(enterprise_id=scope.enterprise_id, month=first,
                                                store_id__in=list(names))}
    out = [_row(r["store_id"], names.get(int(r["store_id"] or 0), ""), r["store_id"], r,
                receivable_fen=owed.get((r["store_id"], r["currency"]), 0),
                settled_fen=settled.get((r["store_id"], r["currency"])))
           for r in grouped]
    seen = {(x.store_id, x.currency) for x in out}
    for (sid, currency), amount in sorted(owed.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        if (sid, currency) not in seen:  # receivable moved without a sale (a coupon subsidy): still owed
            zero = {"currency": currency, "orders": 0, "sales": 0, "refunds": 0, "commission": 0, "back": 0}
            out.append(_row(sid, names.get(sid or 0, ""), sid, zero, receivable_fen=amount,
                            settled_fen=settled.get((sid, currency))))
    return out


def staff_statements(scope: Scope, month: date, *, staff_id: int | None = None) -> list[StatementRow]:
    """One row per visible staff member (and currency) with sales or commission in the month. Store staff see their
    own row only."""
    staff = org_queries.staff(scope)
    if staff_id is not None:
        staff = staff.filter(pk=org_queries.get_staff(scope, staff_id).pk)
    people: dict[int, tuple[str, int | None]] = {
        pk: (name, store) for pk, name, store in staff.values_list("pk", "name", "store_id")}
    grouped = (_month_rows(scope, first_of_month(month)).filter(staff_id__in=list(people))
               .values("staff_id", "currency").annotate(**_SUMS).order_by("staff_id", "currency"))
    out = []
    for r in grouped:
        name, store_id = people.get(int(r["staff_id"] or 0), ("", None))
        out.append(_row(r["staff_id"], name, store_id, r))
    return out


def _lines(scope: Scope, month: date, *, staff_id: int | None, store_id: int | None) -> QuerySet[SaleAccrual]:
    qs = _month_rows(scope, first_of_month(month))
    if staff_id is not None:
        qs = qs.filter(staff_id=org_queries.get_staff(scope, staff_id).pk)
    elif store_id is not None:
        if not scope.is_manager:
            raise PermissionDenied(_("store statements are for managers and HQ"))
        qs = qs.filter(store_id=org_queries.get_store(scope, store_id).pk)
    elif not scope.is_hq:
        qs = qs.filter(staff_id__in=org_queries.visible_staff_ids(scope))
    return qs.order_by("posted_at", "id")


def statement_lines(scope: Scope, month: date, *, staff_id: int | None = None, store_id: int | None = None,
                    page: int = 1, page_size: int = 50) -> Page[SaleAccrual]:
    """The accrual rows behind a statement row (drill-down), in time order."""
    return paginate(_lines(scope, month, staff_id=staff_id, store_id=store_id), page=page, page_size=page_size)


@dataclass(frozen=True)
class LineDetail:
    """One accrual row with what it is about, for people: the order's number, the line's name, the rule's name."""

    accrual: SaleAccrual
    order_no: str
    line_name: str
    rule_name: str


def line_details(enterprise_id: int, accruals: list[SaleAccrual]) -> list[LineDetail]:
    """Names for a page (or a chunk) of accrual rows: three queries, whatever the number of rows."""
    orders = dict(Order.objects.filter(enterprise_id=enterprise_id, pk__in={a.order_id for a in accruals})
                  .values_list("pk", "order_no"))
    lines = dict(OrderLine.objects.filter(order__enterprise_id=enterprise_id,
                                          pk__in={a.order_line_id for a in accruals}).values_list("pk", "name"))
    rules = dict(CommissionRule.objects.filter(enterprise_id=enterprise_id,
                                               pk__in={a.rule_id for a in accruals if a.rule_id})
                 .values_list("pk", "name"))
    return [LineDetail(a, orders.get(a.order_id, ""), lines.get(a.order_line_id, ""),
                       rules.get(a.rule_id, "") if a.rule_id else "") for a in accruals]


MAX_EXPORT_LINES = 200_000


def statement_line_chunks(scope: Scope, month: date, *, staff_id: int | None = None, store_id: int | None = None,
                          chunk: int = 2000) -> Iterator[list[LineDetail]]:
    """Every line of one statement (or of all visible staff), in time order, in chunks with their names (keyset
    pages on (posted_at, id), so a long statement is never held whole). Refused above MAX_EXPORT_LINES."""
    qs = _lines(scope, month, staff_id=staff_id, store_id=store_id)
    if qs.count() > MAX_EXPORT_LINES:
        raise ValidationFailed(_("a statement export holds at most %(limit)s lines: pick one store or staff member")
                               % {"limit": f"{MAX_EXPORT_LINES:,}"}, field="staff", code="too_many")
    after: tuple[datetime, int] | None = None
    while True:
        page = qs if after is None else qs.filter(Q(posted_at__gt=after[0]) | Q(posted_at=after[0], id__gt=after[1]))
        rows = list(page[:chunk])
        if not rows:
            return
        yield line_details(scope.enterprise_id, rows)
        after = (rows[-1].posted_at, rows[-1].pk)


# ---------------------------------------------------------------------------------------------------------------
# What a store's month settles (from the ledger)


def receivable_moves(enterprise_id: int, month: date, *, store_ids: list[int] | None = None
                     ) -> dict[tuple[int | None, str], int]:
    """Per (store, currency): credits minus debits to store receivable posted in the month, leaving out the
    settlements themselves (they pay it out)."""
    start, end = month_bounds(month)
    # A settlement is the only posting between store receivable and the bank.
    paid_out = (Q(debit_account=Account.STORE_RECEIVABLE, credit_account=Account.BANK)
                | Q(debit_account=Account.BANK, credit_account=Account.STORE_RECEIVABLE))
    qs = (LedgerTransfer.objects.filter(enterprise_id=enterprise_id, posted_at__gte=start, posted_at__lt=end)
          .filter(Q(debit_account=Account.STORE_RECEIVABLE) | Q(credit_account=Account.STORE_RECEIVABLE))
          .exclude(paid_out))
    if store_ids is not None:
        qs = qs.filter(store_id__in=store_ids)
    grouped = qs.values("store_id", "currency").annotate(
        credit=Coalesce(Sum("amount_fen", filter=Q(credit_account=Account.STORE_RECEIVABLE)), 0),
        debit=Coalesce(Sum("amount_fen", filter=Q(debit_account=Account.STORE_RECEIVABLE)), 0)).order_by()
    return {(r["store_id"], r["currency"]): int(r["credit"]) - int(r["debit"]) for r in grouped}


@dataclass(frozen=True)
class MonthFigures:
    sales_fen: int
    refunds_fen: int
    receivable_fen: int


def store_month_figures(enterprise_id: int, store_id: int, month: date, currency: str) -> MonthFigures:
    start, end = month_bounds(month)
    sums = SaleAccrual.objects.filter(enterprise_id=enterprise_id, store_id=store_id, currency=currency,
                                      posted_at__gte=start, posted_at__lt=end).aggregate(
        sales=Coalesce(Sum("sales_fen", filter=Q(kind=AccrualKind.SALE)), 0),
        refunds=Coalesce(Sum("sales_fen", filter=Q(kind=AccrualKind.REFUND)), 0))
    owed = receivable_moves(enterprise_id, month, store_ids=[store_id]).get((store_id, currency), 0)
    return MonthFigures(sales_fen=int(sums["sales"]), refunds_fen=int(sums["refunds"]), receivable_fen=owed)


def settlements(scope: Scope, month: date) -> QuerySet[StoreSettlement]:
    if not scope.is_manager:
        raise PermissionDenied(_("settlements are for managers and HQ"))
    return StoreSettlement.objects.filter(enterprise_id=scope.enterprise_id, month=first_of_month(month),
                                          store_id__in=org_queries.stores(scope).values("pk"))
