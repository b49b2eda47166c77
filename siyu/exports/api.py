"""Exports over the API: start one (202, then poll), read its status, download the file when done. Only the
requester (the token's or the session's staff member) sees an export."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest
from django.utils.translation import get_language
from ninja import Field, Router, Schema, Status

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import KEY_HEADER_DOC, create_once
from siyu.exports import queries, services

router = Router()


class ExportIn(Schema):
    kind: Literal["customers", "orders"]
    format: Literal["xlsx", "csv"] = "xlsx"
    filters: dict[str, str | int | None] = Field(default_factory=dict, description=(
        "customers: q, store_id, staff_id, tag_id, channel, relationship_status; orders: status, store_id, "
        "date_from, date_to (YYYY-MM-DD, Shanghai days), customer, customer_id, source, platform, staff_id, q"))
    idempotency_key: str = ""


class ExportOut(Schema):
    id: int
    kind: str
    format: str
    status: str
    filters: dict[str, Any]
    total_rows: int
    done_rows: int
    percent: int
    file_size: int
    error: str
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None

    @staticmethod
    def resolve_format(obj: Any) -> str:
        return str(obj.file_format)

    @staticmethod
    def resolve_download_url(obj: Any) -> str | None:
        return f"/api/exports/{obj.pk}/download" if obj.status == queries.Statuses.DONE else None


def _owner(request: HttpRequest) -> str:
    return f"user:{actor_of(request).pk}"


@router.post("", response={202: ExportOut}, openapi_extra=KEY_HEADER_DOC,
             summary="Start an export of customers or orders (the filter, in the caller's scope) as Excel or CSV")
def start(request: HttpRequest, payload: ExportIn) -> Status[Any]:
    scope, actor = scope_of(request), actor_of(request)

    def create(key: str) -> int:
        return services.start_export(scope=scope, actor=actor, kind=payload.kind, file_format=payload.format,
                                     filters=dict(payload.filters), language=get_language() or "zh-hans",
                                     idempotency_key=key).pk

    return create_once(request, action="exports.start", owner=_owner(request), payload=payload, create=create,
                       render=lambda export_id: queries.get_export(scope, actor, export_id), status=202)


@router.get("", response=list[ExportOut], summary="The caller's exports, newest first (at most 50)")
def list_exports(request: HttpRequest) -> Any:
    return list(queries.exports(scope_of(request), actor_of(request))[:50])


@router.get("/{export_id}", response=ExportOut, summary="An export's status and progress")
def detail(request: HttpRequest, export_id: int) -> Any:
    return queries.get_export(scope_of(request), actor_of(request), export_id)


@router.get("/{export_id}/download", summary="The finished file (404 until it is done)")
def download(request: HttpRequest, export_id: int) -> FileResponse:
    scope, actor = scope_of(request), actor_of(request)
    job, path = queries.download(scope, actor, export_id)
    content_type = "text/csv; charset=utf-8" if job.file_format == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return FileResponse(path.open("rb"), as_attachment=True, filename=queries.download_name(job),
                        content_type=content_type)
