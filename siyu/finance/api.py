"""Finance API, mounted at /api/finance: the books (trial balance, account statements, journal entries, reversing
an entry). HQ finance only; every amount is integer fen with its currency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.core.money import CURRENCY_PATTERN
from siyu.finance import ledger, queries, services
from siyu.orders import queries as order_queries
from siyu.org.schemas import ErrorOut
from siyu.storefront.api import CUSTOMER, shopper_of

router = Router()
TAGS = ["finance"]
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class TrialRowOut(Schema):
    account: str
    label: str
    type: str
    currency: str
    debit_fen: int
    credit_fen: int
    balance_fen: int


class TrialBalanceOut(Schema):
    as_of: datetime | None
    rows: list[TrialRowOut]
    debit_total_fen: dict[str, int]
    credit_total_fen: dict[str, int]
    balanced: bool


class TrialQuery(Schema):
    as_of: datetime | None = None
    currency: str = Field(default="", pattern=r"^([A-Z]{3})?$")


class StatementQuery(Schema):
    account: str = Field(default="platform_clearing", max_length=40)
    currency: str = Field(default="CNY", pattern=CURRENCY_PATTERN)
    start: datetime | None = None
    end: datetime | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class StatementLineOut(Schema):
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


class StatementOut(Schema):
    account: str
    label: str
    currency: str
    opening_fen: int
    closing_fen: int
    lines: list[StatementLineOut]
    total: int
    page: int
    pages: int


class TransferOut(Schema):
    debit_account: str
    credit_account: str
    amount_fen: int
    currency: str
    store_id: int | None
    staff_id: int | None


class EntryOut(Schema):
    id: int
    kind: str
    idempotency_key: str
    currency: str
    memo: str
    order_id: int | None
    reverses_id: int | None
    posted_at: datetime
    transfers: list[TransferOut]


class EntryPage(Schema):
    items: list[EntryOut]
    total: int
    page: int
    pages: int


class EntryQuery(Schema):
    kind: str = Field(default="", max_length=20)
    order_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class ReverseIn(Input):
    reason: str = Field(max_length=200)


def _entry(entry: Any) -> dict[str, Any]:
    return {"id": entry.pk, "kind": entry.kind, "idempotency_key": entry.idempotency_key, "currency": entry.currency,
            "memo": entry.memo, "order_id": entry.order_id, "reverses_id": entry.reverses_id,
            "posted_at": entry.posted_at, "transfers": list(entry.transfers.all())}


@router.get("/trial-balance", response={200: TrialBalanceOut, **ERRORS}, tags=TAGS,
            summary="Trial balance: debits, credits and balance per account and currency (HQ finance)")
def trial_balance(request: HttpRequest, q: Query[TrialQuery]) -> Any:
    tb = queries.trial_balance(scope_of(request), as_of=q.as_of, currency=q.currency)
    return {"as_of": tb.as_of, "rows": tb.rows, "debit_total_fen": tb.debit_total_fen,
            "credit_total_fen": tb.credit_total_fen, "balanced": tb.balanced}


@router.get("/statement", response={200: StatementOut, **ERRORS}, tags=TAGS,
            summary="An account's transfers with a running balance (HQ finance)")
def statement(request: HttpRequest, q: Query[StatementQuery]) -> Any:
    return queries.account_statement(scope_of(request), q.account, currency=q.currency, start=q.start,
                                     end=q.end, page=q.page, page_size=q.page_size)


@router.get("/entries", response={200: EntryPage, **ERRORS}, tags=TAGS, summary="Journal entries (HQ finance)")
def entries(request: HttpRequest, q: Query[EntryQuery]) -> Any:
    page = queries.entries(scope_of(request), kind=q.kind, order_id=q.order_id, page=q.page, page_size=q.page_size)
    return {"items": [_entry(e) for e in page.items], "total": page.total, "page": page.page, "pages": page.pages}


@router.get("/entries/{entry_id}", response={200: EntryOut, **ERRORS}, tags=TAGS, summary="One journal entry")
def entry(request: HttpRequest, entry_id: int) -> Any:
    return _entry(queries.get_entry(scope_of(request), entry_id))


@router.post("/entries/{entry_id}/reverse", response={200: EntryOut, **WRITE_ERRORS}, tags=TAGS,
             summary="Correct an entry by posting its reversal (once; audited, with the reason)")
def reverse(request: HttpRequest, entry_id: int, payload: ReverseIn) -> Any:
    scope = scope_of(request)
    reversal = ledger.reverse_entry(scope=scope, entry_id=entry_id, reason=payload.reason, actor=actor_of(request))
    return _entry(queries.get_entry(scope, reversal.pk))


# ---------------------------------------------------------------------------------------------------------------
# Payments


storefront_router = Router()


class RequestPaymentOut(Schema):
    appId: str  # noqa: N815 - wx.requestPayment's own names
    timeStamp: str  # noqa: N815
    nonceStr: str  # noqa: N815
    package: str
    signType: str  # noqa: N815
    paySign: str  # noqa: N815


class PaymentStartOut(Schema):
    payment_id: int
    out_trade_no: str
    amount_fen: int
    currency: str
    request_payment: RequestPaymentOut


class SyncOut(Schema):
    outcome: str
    code: str
    detail: str


@storefront_router.post("/storefront/orders/{order_id}/pay", auth=CUSTOMER,
                        response={200: PaymentStartOut, **WRITE_ERRORS, 502: ErrorOut}, tags=["storefront"],
                        summary="Pay an order with WeChat Pay: the wx.requestPayment parameters for its next payment "
                                "(full, presale deposit or balance). Asking again reuses the same payment")
def storefront_pay(request: HttpRequest, order_id: int) -> Any:
    shopper = shopper_of(request)
    started = services.start_payment(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                     order_id=order_id, openid=order_queries.session_openid(shopper.session_id))
    return {"payment_id": started.payment_id, "out_trade_no": started.out_trade_no,
            "amount_fen": started.amount_fen, "currency": started.currency, "request_payment": started.params}


@router.post("/payments/{payment_id}/sync", response={200: SyncOut, **WRITE_ERRORS, 502: ErrorOut}, tags=TAGS,
             summary="Ask WeChat Pay about a payment whose notify never came, and apply the answer (HQ finance)")
def payment_sync(request: HttpRequest, payment_id: int) -> Any:
    applied = services.sync_payment_for(scope=scope_of(request), payment_id=payment_id)
    return {"outcome": applied.outcome, "code": applied.code, "detail": applied.detail}


class RefundOut(Schema):
    id: int
    after_sale_id: int
    out_refund_no: str
    amount_fen: int
    currency: str
    status: str
    refund_id: str


@router.post("/after-sales/{after_sale_id}/refund", response={200: RefundOut, **WRITE_ERRORS, 502: ErrorOut},
             tags=TAGS, summary="Pay an approved after-sale back through WeChat Pay (HQ finance). Asking again repeats "
                                "the same refund; the refund notify completes it")
def after_sale_refund(request: HttpRequest, after_sale_id: int) -> Any:
    return services.start_refund(scope=scope_of(request), after_sale_id=after_sale_id, actor=actor_of(request))


class LineRefundIn(Input):
    line_id: int = Field(ge=1, le=2**63 - 1)
    quantity: int = Field(ge=0, le=1_000_000, description="units given back (0: money only, with amount_fen)")
    amount_fen: int | None = Field(default=None, ge=1, le=10**12,
                                   description="less than those units' share: a partial amount")


class OrderRefundIn(Input):
    lines: list[LineRefundIn] = Field(min_length=1, max_length=100)
    reason: str = Field(max_length=200)


@router.post("/orders/{order_id}/refund", response={200: RefundOut, **WRITE_ERRORS, 502: ErrorOut}, tags=TAGS,
             summary="Refund order lines (or part of a line's amount) through WeChat Pay without a customer's request "
                     "(HQ finance; audited with the reason). The same request again, before it completes, repeats "
                     "the same refund; the refund notify completes it")
def order_refund(request: HttpRequest, order_id: int, payload: OrderRefundIn) -> Any:
    lines = [services.LineRefund(line_id=x.line_id, quantity=x.quantity, amount_fen=x.amount_fen)
             for x in payload.lines]
    return services.refund_lines(scope=scope_of(request), order_id=order_id, lines=lines, reason=payload.reason,
                                 actor=actor_of(request))
