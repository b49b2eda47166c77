"""Orders API, mounted at /api/ (the mall's `/storefront/...` endpoints are siyu.storefront.api):

- `/admin/...` for staff (integration token or console session, scoped): order list and detail, ship, pick up,
  complete, cancel, after-sales, presales and their demand, platform order imports.

Amounts are integer fen with the currency beside them. Bad input is a 4xx with a code and the failing field; nothing
is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.api import sheet_imports
from siyu.api.auth import actor_of, scope_of
from siyu.core.errors import PermissionDenied
from siyu.customers import privacy
from siyu.orders import offline_payments, queries
from siyu.orders.schemas import AfterSaleOut, Input, OrderDetailOut, OrderPage, order_data, order_detail_data
from siyu.orders.services import after_sale, history_import, history_job, imports, presale, states

router = Router()
ADMIN = ["orders admin"]


# ---------------------------------------------------------------------------------------------------------------
# Admin (staff)


class ShipIn(Input):
    carrier: str = Field(default="", max_length=32)
    tracking_no: str = Field(default="", max_length=64)


class PaidIn(Input):
    payment_ref: str = Field(default="", max_length=64)
    reason: str = Field(max_length=200, description="how the money came in outside WeChat Pay (cash, transfer...)")


class RejectIn(Input):
    reason: str = Field(max_length=200)


class ReturnedIn(Input):
    tracking_no: str = Field(default="", max_length=64)


class RefundDoneIn(Input):
    refund_ref: str = Field(max_length=64)


class AfterSalePage(Schema):
    items: list[AfterSaleOut]
    total: int
    page: int
    pages: int


class PresaleIn(Input):
    name: str = Field(max_length=64)
    sku_id: int
    price_fen: int
    deposit_fen: int
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int = 5
    is_active: bool = True


class PresaleOut(Schema):
    id: int
    name: str
    sku_id: int
    price_fen: int
    deposit_fen: int
    currency: str
    deposit_starts_at: datetime
    deposit_ends_at: datetime
    balance_starts_at: datetime
    balance_ends_at: datetime
    per_customer_limit: int
    is_active: bool


class DemandOut(Schema):
    presale_id: int
    name: str
    sku_id: int
    deposit_pending_orders: int
    deposit_pending_units: int
    deposits_paid_orders: int
    deposits_paid_units: int
    balances_paid_orders: int
    balances_paid_units: int
    deposits_fen: int
    balances_fen: int
    cancelled_units: int


class ImportOut(Schema):
    id: int
    platform: str
    filename: str
    status: str
    total_rows: int
    processed_rows: int
    imported: int
    duplicates: int
    matched: int
    created_customers: int
    unmatched: int
    errors: int
    error_message: str


class AdminOrderFilter(Schema):
    status: str = ""
    store_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    customer: str = Field(default="", max_length=64)
    customer_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    source: str = ""
    platform: str = ""
    staff_id: int | None = None
    q: str = Field(default="", max_length=64)
    page: int = 1
    page_size: int = 20


@router.get("/admin/orders", response=OrderPage, tags=ADMIN, summary="Orders you may see, filtered")
def admin_orders(request: HttpRequest, flt: Query[AdminOrderFilter]) -> dict[str, Any]:
    scope = scope_of(request)
    data = flt.model_dump()
    page, page_size = data.pop("page"), data.pop("page_size")
    result = queries.search_orders(scope, queries.OrderFilter(**data), page=page, page_size=page_size)
    return {"items": [order_data(o) for o in result.items], "total": result.total, "page": result.page,
            "pages": result.pages}


@router.get("/admin/orders/{order_id}", response=OrderDetailOut, tags=ADMIN,
            summary="One order (the delivery phone masked for store staff)")
def admin_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    return _admin_order(request, order_id)


def _admin_order(request: HttpRequest, order_id: int) -> dict[str, Any]:
    """The staff view of an order: the delivery address's phone as the caller may see it (siyu.customers.privacy)."""
    scope = scope_of(request)
    data = order_detail_data(queries.get_order(scope, order_id))
    if data["address"].get("phone"):
        data["address"] = {**data["address"], "phone": privacy.phone_for(scope, data["address"]["phone"])}
    return data


@router.post("/admin/orders/{order_id}/ship", response=OrderDetailOut, tags=ADMIN, summary="Ship a paid order")
def admin_ship(request: HttpRequest, order_id: int, payload: ShipIn) -> dict[str, Any]:
    states.ship_order(scope=scope_of(request), order_id=order_id, carrier=payload.carrier,
                        tracking_no=payload.tracking_no, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/pickup", response=OrderDetailOut, tags=ADMIN,
             summary="Hand a pickup order over at the store")
def admin_pickup(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.mark_picked_up(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/complete", response=OrderDetailOut, tags=ADMIN,
             summary="Complete a shipped or picked-up order")
def admin_complete(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.complete_order(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/cancel", response=OrderDetailOut, tags=ADMIN,
             summary="Cancel an unpaid order (stock and coupon come back)")
def admin_cancel(request: HttpRequest, order_id: int) -> dict[str, Any]:
    states.cancel_by_staff(scope=scope_of(request), order_id=order_id, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.post("/admin/orders/{order_id}/mark-paid", response=OrderDetailOut, tags=ADMIN,
             summary="HQ only: record an offline payment (cash, bank transfer) with its reason; audited and posted "
                     "to the ledger. Mall payments go through WeChat Pay")
def admin_mark_paid(request: HttpRequest, order_id: int, payload: PaidIn) -> dict[str, Any]:
    offline_payments.record(scope=scope_of(request), order_id=order_id, reason=payload.reason,
                            payment_ref=payload.payment_ref, actor=actor_of(request))
    return _admin_order(request, order_id)


@router.get("/admin/after-sales", response=AfterSalePage, tags=ADMIN, summary="Refund and return requests")
def admin_after_sales(request: HttpRequest, status: str = "", page: int = 1, page_size: int = 20) -> dict[str, Any]:
    result = queries.after_sales(scope_of(request), status=status[:20], page=page, page_size=page_size)
    return {"items": result.items, "total": result.total, "page": result.page, "pages": result.pages}


@router.post("/admin/after-sales/{after_sale_id}/approve", response=AfterSaleOut, tags=ADMIN,
             summary="Approve a refund request (managers)")
def admin_approve(request: HttpRequest, after_sale_id: int) -> Any:
    return after_sale.approve_refund(scope=scope_of(request), after_sale_id=after_sale_id, actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/reject", response=AfterSaleOut, tags=ADMIN,
             summary="Reject a refund request, saying why (managers)")
def admin_reject(request: HttpRequest, after_sale_id: int, payload: RejectIn) -> Any:
    return after_sale.reject_refund(scope=scope_of(request), after_sale_id=after_sale_id, reason=payload.reason,
                                  actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/returned", response=AfterSaleOut, tags=ADMIN,
             summary="The returned goods arrived (back into stock)")
def admin_returned(request: HttpRequest, after_sale_id: int, payload: ReturnedIn) -> Any:
    return after_sale.mark_returned(scope=scope_of(request), after_sale_id=after_sale_id,
                                  tracking_no=payload.tracking_no, actor=actor_of(request))


@router.post("/admin/after-sales/{after_sale_id}/refund", response=AfterSaleOut, tags=ADMIN,
             summary="HQ ONLY, until the payments module exists: record that the money went back")
def admin_refund(request: HttpRequest, after_sale_id: int, payload: RefundDoneIn) -> Any:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ records refunds by hand"))
    queries.get_after_sale(scope, after_sale_id)
    return after_sale.complete_refund(after_sale_id=after_sale_id, refunded_at=timezone.now(),
                                    refund_ref=payload.refund_ref, enterprise_id=scope.enterprise_id,
                                    actor=actor_of(request))


@router.get("/admin/presales", response=list[PresaleOut], tags=ADMIN, summary="Presales")
def admin_presales(request: HttpRequest) -> list[Any]:
    return list(queries.presales(scope_of(request)))


@router.post("/admin/presales", response={201: PresaleOut}, tags=ADMIN, summary="Create a presale (HQ)")
def admin_presale_create(request: HttpRequest, payload: PresaleIn) -> Status[Any]:
    made = presale.create_presale(scope=scope_of(request), data=presale.PresaleInput(**payload.model_dump()),
                                  actor=actor_of(request))
    return Status(201, made)


@router.get("/admin/presales/demand", response=list[DemandOut], tags=ADMIN,
            summary="Presale demand for buying: deposits and balances paid, units per SKU")
def admin_presale_demand(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"presale_id": r.presale.pk, "name": r.presale.name, "sku_id": r.presale.sku_id,
         **{k: getattr(r, k) for k in DemandOut.model_fields if k not in ("presale_id", "name", "sku_id")}}
        for r in queries.presale_demand(scope_of(request))
    ]


@router.post("/admin/order-imports", response={201: ImportOut}, tags=ADMIN,
             summary="Import a platform order export (CSV, multipart: platform + file); returns the report")
def admin_import(request: HttpRequest, platform: Form[str], file: File[UploadedFile]) -> Status[Any]:
    imp = imports.import_platform_orders(scope=scope_of(request), platform=platform, content=file.read(),
                                          filename=file.name or "", actor=actor_of(request))
    return Status(201, imp)


class HistoryErrorOut(Schema):
    row: int
    message: str


class HistoryImportOut(Schema):
    rows: int
    orders: int
    duplicates: int
    matched: int
    created_customers: int
    without_customer: int
    errors: list[HistoryErrorOut]


@router.post("/admin/order-history", response={201: HistoryImportOut}, tags=ADMIN,
             summary="Import POS / offline order history (CSV, one row per line item); idempotent by store + POS no")
def admin_order_history(request: HttpRequest, file: File[UploadedFile]) -> Status[Any]:
    result = history_import.import_order_history(scope=scope_of(request), content=file.read(),
                                                 filename=file.name or "", actor=actor_of(request))
    body = {**result.__dict__, "errors": [{"row": row, "message": message} for row, message in result.errors]}
    return Status(201, body)


@router.get("/admin/order-imports/{import_id}", response=ImportOut, tags=ADMIN, summary="An import's progress")
def admin_import_status(request: HttpRequest, import_id: int) -> Any:
    return queries.get_platform_import(scope_of(request), import_id)


@router.get("/admin/order-imports/{import_id}/unmatched.csv", tags=ADMIN,
            summary="The import's rows to follow up (new customers, unmatched buyers, errors) as CSV")
def admin_import_report(request: HttpRequest, import_id: int) -> HttpResponse:
    import csv
    import io

    scope = scope_of(request)
    rows = queries.import_report_rows(scope, import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "outcome", "platform", "order_no", "buyer_id", "buyer_nick", "phone", "amount_fen",
                     "customer_id", "message"])
    for r in rows.iterator(chunk_size=1000):
        writer.writerow([r.row_number, r.outcome, r.platform, r.order_no, r.buyer_id, r.buyer_nick,
                         privacy.phone_for(scope, r.phone),
                         r.amount_fen, r.customer_id or "", r.message])
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{import_id}-report.csv"'
    return response


# ---------------------------------------------------------------------------------------------------------------
# POS order history as a background job (HQ only), as the console runs it: upload an Excel or CSV sheet, read and set
# the mapping, preview, dry run, start, poll, read the report. Mounted at /api/admin/order-history-imports.

history_router = Router()
HISTORY_TAGS = ["order history import"]


class HistoryJobOut(Schema):
    id: int
    filename: str
    file_format: str
    encoding: str
    status: str
    header: list[str]
    mapping: dict[str, str]
    fields: list[str]
    total_rows: int
    processed_rows: int
    checkpoint_row: int
    receipts: int
    orders_created: int
    duplicates: int
    matched: int
    created_customers: int
    without_customer: int
    error_rows: int
    error_message: str
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_fields(obj: Any) -> list[str]:
        return list(history_job.FIELDS)


class HistoryDryRunOut(Schema):
    total_rows: int
    receipts: int
    error_rows: int
    already_imported: int


sheet_imports.add_routes(history_router, sheet_imports.Routes(
    upload=history_job.upload_history_file, imports=history_job.imports, get=history_job.get_import,
    set_mapping=history_job.set_mapping, preview=history_job.preview, dry_run=history_job.dry_run,
    start=history_job.start_history_import, error_report=history_job.error_report,
    out=HistoryJobOut, dry_run_out=HistoryDryRunOut, tags=HISTORY_TAGS, id_name="history_id", module=__name__,
    names={"upload": "history_upload", "list": "history_list", "detail": "history_detail",
           "mapping": "history_mapping", "preview": "history_preview", "dry_run": "history_dry_run",
           "start": "history_start", "errors": "history_errors"},
    summaries={
        "upload": "Upload an order history sheet (xlsx or CSV in UTF-8/GBK); the same file again returns its first "
                  "import",
        "list": "The enterprise's order history imports, newest first",
        "detail": "An import: mapping, status, progress and counts",
        "mapping": "Set the column mapping (before the import starts)",
        "preview": "The first rows as the mapping reads them, with each row's problems",
        "dry_run": "Check every row, count the receipts imported before, rebuild the report; nothing else is "
                   "written",
        "start": "Queue the import (a failed one continues from its checkpoint)",
        "errors": "The rows refused, in sheet order (at most 1,000 from `offset`)",
    }))
