"""Commissions and settlement API, mounted at /api/finance beside the books: commission rules (HQ), monthly
statements per store and per staff member (scoped: staff see their own, store managers their store, HQ all), their
Excel export, and store settlements (HQ). Amounts are integer fen with their currency; months are YYYY-MM in
Shanghai time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.core.money import CURRENCY_PATTERN
from siyu.core.timeutil import local_day, now
from siyu.finance import commission_export, commission_queries, commissions
from siyu.org.schemas import ErrorOut

router = Router()
TAGS = ["finance"]
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    target: str = Field(max_length=10, description="product, category or role")
    basis: str = Field(max_length=10, description="percent (rate_bp) or fixed (fixed_fen per unit)")
    product_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    category_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    product_role: str = Field(default="", max_length=10, description="traffic, profit or image")
    rate_bp: int = Field(default=0, ge=0, le=10_000, description="basis points of the line's paid amount")
    fixed_fen: int = Field(default=0, ge=0, le=10**9, description="fen per unit")
    valid_from: date
    valid_until: date | None = None
    currency: str = Field(default="CNY", pattern=CURRENCY_PATTERN)

    def as_input(self) -> commissions.RuleInput:
        return commissions.RuleInput(**self.model_dump())


class RuleOut(Schema):
    id: int
    name: str
    target: str
    basis: str
    product_id: int | None
    category_id: int | None
    product_role: str
    rate_bp: int
    fixed_fen: int
    currency: str
    valid_from: date
    valid_until: date | None
    is_active: bool
    updated_at: datetime


class RuleQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    include_deleted: bool = False


class MonthQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(default="", pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
                       description="YYYY-MM (Shanghai); the current month when left out")


class LinesQuery(MonthQuery):
    staff_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    store_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class StatementRowOut(Schema):
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


class StatementOut(Schema):
    month: str
    rows: list[StatementRowOut]


class AccrualOut(Schema):
    id: int
    kind: str
    order_id: int
    order_line_id: int
    store_id: int | None
    staff_id: int | None
    source: str
    rule_id: int | None
    quantity: int
    sales_fen: int
    commission_fen: int
    currency: str
    posted_at: datetime


class AccrualPage(Schema):
    items: list[AccrualOut]
    total: int
    page: int
    pages: int


class SettleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    store_id: int = Field(ge=1, le=2**63 - 1)
    month: str = Field(pattern=MONTH)
    currency: str = Field(default="CNY", pattern=CURRENCY_PATTERN)


class SettlementOut(Schema):
    id: int
    store_id: int
    month: date
    currency: str
    sales_fen: int
    refunds_fen: int
    amount_fen: int
    entry_id: int | None
    settled_at: datetime


def _month(raw: str) -> date:
    if not raw:
        return commission_queries.first_of_month(local_day(now()))
    return commission_queries.parse_month(raw)


@router.get("/commission-rules", response={200: list[RuleOut], **ERRORS}, tags=TAGS,
            summary="Commission rules (HQ finance)")
def rule_list(request: HttpRequest, q: Query[RuleQuery]) -> Any:
    return list(commission_queries.rules(scope_of(request), include_deleted=q.include_deleted).order_by("-id")[:500])


@router.post("/commission-rules", response={201: RuleOut, **WRITE_ERRORS}, tags=TAGS,
             summary="Add a commission rule: per product, category or product role; percent or fixed per unit")
def rule_create(request: HttpRequest, payload: RuleIn) -> Any:
    return Status(201, commissions.create_rule(scope=scope_of(request), data=payload.as_input(),
                                               actor=actor_of(request)))


@router.get("/commission-rules/{commission_rule_id}", response={200: RuleOut, **ERRORS}, tags=TAGS,
            summary="One rule")
def rule_get(request: HttpRequest, commission_rule_id: int) -> Any:
    return commission_queries.get_rule(scope_of(request), commission_rule_id)


@router.put("/commission-rules/{commission_rule_id}", response={200: RuleOut, **WRITE_ERRORS},
            tags=TAGS,
            summary="Change a rule (orders paid from now on; accrued commission stays as posted)")
def rule_update(request: HttpRequest, commission_rule_id: int, payload: RuleIn) -> Any:
    return commissions.update_rule(scope=scope_of(request), rule_id=commission_rule_id,
                                   data=payload.as_input(), actor=actor_of(request))


@router.delete("/commission-rules/{commission_rule_id}", response={200: RuleOut, **WRITE_ERRORS},
               tags=TAGS,
               summary="Retire a rule (kept for the commissions that name it)")
def rule_delete(request: HttpRequest, commission_rule_id: int) -> Any:
    return commissions.delete_rule(scope=scope_of(request), rule_id=commission_rule_id, actor=actor_of(request))


@router.get("/statements/stores", response={200: StatementOut, **ERRORS}, tags=TAGS,
            summary="Each visible store's month: sales, refunds, commission, receivable, settlement (managers, HQ)")
def store_statements(request: HttpRequest, q: Query[MonthQuery]) -> Any:
    rows = commission_queries.store_statements(scope_of(request), _month(q.month))
    return {"month": q.month or f"{_month(''):%Y-%m}", "rows": rows}


@router.get("/statements/staff", response={200: StatementOut, **ERRORS}, tags=TAGS,
            summary="Each visible staff member's month (store staff: their own)")
def staff_statements(request: HttpRequest, q: Query[MonthQuery]) -> Any:
    rows = commission_queries.staff_statements(scope_of(request), _month(q.month))
    return {"month": q.month or f"{_month(''):%Y-%m}", "rows": rows}


@router.get("/statements/lines", response={200: AccrualPage, **ERRORS}, tags=TAGS,
            summary="The sales and refunds behind a statement (one staff member, one store, or all visible)")
def statement_lines(request: HttpRequest, q: Query[LinesQuery]) -> Any:
    page = commission_queries.statement_lines(scope_of(request), _month(q.month), staff_id=q.staff_id,
                                              store_id=q.store_id, page=q.page, page_size=q.page_size)
    return {"items": page.items, "total": page.total, "page": page.page, "pages": page.pages}


@router.get("/statements/export", response={200: None, **ERRORS}, tags=TAGS,
            summary="The month's statements as an Excel workbook (what the caller may see)")
def statements_export(request: HttpRequest, q: Query[MonthQuery]) -> Any:
    return xlsx_response(scope_of(request), _month(q.month))


def xlsx_response(scope: Any, month: date) -> HttpResponse:
    stores = commission_queries.store_statements(scope, month) if scope.is_manager else None
    staff = commission_queries.staff_statements(scope, month)
    body = commission_export.xlsx_bytes(month, stores=stores, staff=staff)
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="statements-{month:%Y-%m}.xlsx"'
    return response


@router.get("/settlements", response={200: list[SettlementOut], **ERRORS}, tags=TAGS,
            summary="Store settlements of a month (managers see their stores')")
def settlement_list(request: HttpRequest, q: Query[MonthQuery]) -> Any:
    return list(commission_queries.settlements(scope_of(request), _month(q.month)))


@router.post("/settlements", response={200: SettlementOut, **WRITE_ERRORS}, tags=TAGS,
             summary="Settle a store's month: its receivable for the month is paid out (once; HQ finance)")
def settle(request: HttpRequest, payload: SettleIn) -> Any:
    return commissions.settle_store_month(scope=scope_of(request), store_id=payload.store_id,
                                          month=_month(payload.month), currency=payload.currency,
                                          actor=actor_of(request))
