"""Reconciliation API, mounted at /api/finance/reconciliation: the days (runs) with their counts, running a day,
a run's differences by kind, resolving one with a reason. HQ finance only; amounts in integer fen."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.finance.reconciliation import queries, services
from siyu.org.schemas import ErrorOut

router = Router()
TAGS = ["finance"]
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class RunOut(Schema):
    id: int
    merchant_id: int
    mch_id: str
    bill_date: date
    status: str
    generation: int
    attempts: int
    hash_value: str
    payment_rows: int
    refund_rows: int
    summary_count: int
    order_total_fen: int
    settle_total_fen: int
    refund_total_fen: int
    fee_total_milli: int
    matched_count: int
    missing_ours_count: int
    missing_theirs_count: int
    amount_mismatch_count: int
    status_mismatch_count: int
    open_count: int
    error_code: str
    error_detail: str
    started_at: datetime | None
    finished_at: datetime | None


class RunPage(Schema):
    items: list[RunOut]
    total: int
    page: int
    pages: int


class RunQuery(Schema):
    merchant_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    start: date | None = None
    end: date | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=31, ge=1, le=200)


class RunIn(Schema):
    model_config = ConfigDict(extra="forbid")
    merchant_id: int = Field(ge=1, le=2**63 - 1)
    bill_date: date


class DifferenceOut(Schema):
    id: int
    run_id: int
    kind: str
    subject: str
    out_trade_no: str
    out_refund_no: str
    transaction_id: str
    payment_id: int | None
    refund_id: int | None
    bill_line: int | None
    bill_fen: int | None
    our_fen: int | None
    bill_currency: str
    our_currency: str
    bill_status: str
    our_status: str
    bill_time: str
    product: str
    resolved_at: datetime | None
    resolution: str


class DifferencePage(Schema):
    items: list[DifferenceOut]
    total: int
    page: int
    pages: int


class DifferenceQuery(Schema):
    kind: str = Field(default="", max_length=20)
    state: str = Field(default="all", max_length=10)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class ResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=200)


def _run(run: Any) -> dict[str, Any]:
    fields = {name: getattr(run, name) for name in RunOut.model_fields if hasattr(run, name)}
    return {**fields, "mch_id": run.merchant.mch_id, "open_count": getattr(run, "open_count", 0)}


@router.get("/runs", response={200: RunPage, **ERRORS}, tags=TAGS,
            summary="Reconciled days (one run per merchant and day) with their counts per kind (HQ finance)")
def runs(request: HttpRequest, q: Query[RunQuery]) -> Any:
    page = queries.runs(scope_of(request), merchant_id=q.merchant_id, start=q.start, end=q.end, page=q.page,
                        page_size=q.page_size)
    return {"items": [_run(r) for r in page.items], "total": page.total, "page": page.page, "pages": page.pages}


@router.post("/runs", response={200: RunOut, **WRITE_ERRORS, 502: ErrorOut}, tags=TAGS,
             summary="Reconcile (or re-run) a merchant's day now: download the trade bill, check its SHA1 and "
                     "summary, match it. Re-running replaces the day's results (HQ finance, audited)")
def run_day(request: HttpRequest, payload: RunIn) -> Any:
    scope = scope_of(request)
    run = services.reconcile_for(scope=scope, merchant_id=payload.merchant_id, bill_date=payload.bill_date,
                                 actor=actor_of(request))
    return _run(queries.get_run(scope, run.pk))


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS}, tags=TAGS, summary="One reconciled day")
def run_detail(request: HttpRequest, run_id: int) -> Any:
    return _run(queries.get_run(scope_of(request), run_id))


@router.get("/runs/{run_id}/differences", response={200: DifferencePage, **ERRORS}, tags=TAGS,
            summary="A day's differences, by kind (missing_ours, missing_theirs, amount_mismatch, status_mismatch) "
                    "and state (open, resolved, all)")
def differences(request: HttpRequest, run_id: int, q: Query[DifferenceQuery]) -> Any:
    page = queries.differences(scope_of(request), run_id, kind=q.kind, state=q.state, page=q.page,
                               page_size=q.page_size)
    return {"items": page.items, "total": page.total, "page": page.page, "pages": page.pages}


@router.post("/differences/{difference_id}/resolve", response={200: DifferenceOut, **WRITE_ERRORS}, tags=TAGS,
             summary="Resolve a difference with the reason (once; audited; kept when the day is run again)")
def resolve(request: HttpRequest, difference_id: int, payload: ResolveIn) -> Any:
    return services.resolve_difference(scope=scope_of(request), difference_id=difference_id, reason=payload.reason,
                                       actor=actor_of(request))
