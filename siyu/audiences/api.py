"""Segments over REST: create, update, preview a rule's count, page through members, export, snapshot, history.

Thin: shapes in, one query or service, out. Counts and members are the caller's own customers only, and every
answer computed on the analytics copy says how fresh it is (`fresh_as_of`). A bad rule is a 422 whose `field` is the
JSON path of the bad node inside the body (`rule.root.conditions[1].window.last_days`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from siyu.api.auth import actor_of, scope_of
from siyu.audiences import export, queries, services
from siyu.audiences.context import owner_scope
from siyu.audiences.rules import rule_json_schema
from siyu.audiences.schemas import (
    ExportQuery,
    MemberPageOut,
    MembersQuery,
    PreviewIn,
    PreviewOut,
    SegmentDetailOut,
    SegmentIn,
    SegmentOut,
    SegmentPatchIn,
    SnapshotOut,
    StintOut,
)
from siyu.core import audit
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers.privacy import phone_for
from siyu.org import queries as org_queries
from siyu.org.schemas import ErrorOut
from siyu.org.scope import Scope

router = Router()

ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut,
                                     503: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


@contextmanager
def rule_field(prefix: str = "rule") -> Iterator[None]:
    """A rule error's JSON path ($.root...) as the body field it sits in (rule.root...)."""
    try:
        yield
    except ValidationFailed as exc:
        if exc.field and exc.field.startswith("$"):
            exc.field = prefix + exc.field[1:]
        raise


def _out(scope: Scope, segment: Any) -> dict[str, Any]:
    data = {f: getattr(segment, f) for f in ("id", "name", "description", "kind", "rule", "region_id", "store_id",
                                             "revision", "built_revision", "built_at", "snapshot_at", "member_count",
                                             "created_at", "updated_at")}
    data["can_edit"] = queries.can_edit(scope, segment)
    return data


def _member(scope: Scope, customer: Any) -> dict[str, Any]:
    return {"id": customer.pk, "name": customer.name, "phone": phone_for(scope, customer.phone),
            "gender": customer.gender, "region": customer.region, "home_store_id": customer.home_store_id}


def _owner_for_preview(scope: Scope, region_id: int | None, store_id: int | None) -> Scope | None:
    if store_id is not None:
        store = org_queries.stores(scope).filter(pk=store_id).first()
        if store is None:
            raise NotFound(f"store {store_id} not found", field="store_id")
        return owner_scope(scope.enterprise_id, store.region_id, store.pk)
    if region_id is not None:
        if not org_queries.regions(scope).filter(pk=region_id).exists():
            raise NotFound(f"region {region_id} not found", field="region_id")
        return owner_scope(scope.enterprise_id, region_id, None)
    return None


@router.get("/schema", response={200: dict, **ERRORS}, summary="The JSON Schema of the segment rule language (v1)")
def schema(request: HttpRequest) -> dict[str, Any]:
    scope_of(request)
    return rule_json_schema()


@router.get("/segments", response={200: list[SegmentOut], **ERRORS}, summary="Segments the caller may see")
def list_segments(request: HttpRequest) -> list[dict[str, Any]]:
    scope = scope_of(request)
    return [_out(scope, s) for s in queries.segments(scope)[:500]]


@router.post("/segments/preview", response={200: PreviewOut, **ERRORS},
             summary="Live size and a sample of a rule being edited (the caller's customers only)")
def preview(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
    scope = scope_of(request)
    owner = _owner_for_preview(scope, payload.region_id, payload.store_id)
    with rule_field():
        page = queries.preview_members(scope, payload.rule, owner=owner, limit=payload.sample)
    return {"count": page.total, "fresh_as_of": page.as_of, "elapsed_ms": 0.0,
            "sample": [_member(scope, c) for c in page.items]}


@router.post("/segments", response={201: SegmentOut, **WRITE_ERRORS}, summary="Create a segment (HQ and managers)")
def create_segment(request: HttpRequest, payload: SegmentIn) -> Status[Any]:
    scope = scope_of(request)
    queries.check_can_create(scope)
    members: list[int] = []
    with rule_field():
        if payload.kind == "static":
            owner = _owner_for_preview(scope, payload.region_id, payload.store_id)
            members = queries.rule_member_ids(scope, payload.rule, owner=owner)
        segment = services.create_segment(
            scope=scope, name=payload.name, description=payload.description, kind=payload.kind, rule=payload.rule,
            region_id=payload.region_id, store_id=payload.store_id, members=members, actor=actor_of(request))
    return Status(201, _out(scope, segment))


@router.get("/segments/{int:segment_id}", response={200: SegmentDetailOut, **ERRORS},
            summary="A segment and its live count (the caller's customers)")
def get_segment(request: HttpRequest, segment_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    count = queries.segment_count(scope, segment)
    return {**_out(scope, segment), "count": count.count, "fresh_as_of": count.as_of}


@router.patch("/segments/{int:segment_id}", response={200: SegmentOut, **WRITE_ERRORS}, summary="Change a segment")
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentPatchIn) -> dict[str, Any]:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    with rule_field():
        segment = services.update_segment(scope=scope, segment=segment, name=payload.name,
                                          description=payload.description, rule=payload.rule,
                                          actor=actor_of(request))
    return _out(scope, segment)


@router.delete("/segments/{int:segment_id}", response={204: None, **WRITE_ERRORS}, summary="Delete a segment")
def delete_segment(request: HttpRequest, segment_id: int) -> Status[None]:
    scope = scope_of(request)
    services.delete_segment(scope=scope, segment=queries.get_segment(scope, segment_id), actor=actor_of(request))
    return Status(204, None)


@router.get("/segments/{int:segment_id}/members", response={200: MemberPageOut, **ERRORS},
            summary="Members, newest first (the caller's customers)")
def members(request: HttpRequest, segment_id: int, params: Query[MembersQuery]) -> dict[str, Any]:
    scope = scope_of(request)
    page = queries.segment_members(scope, queries.get_segment(scope, segment_id), page=params.page,
                                   page_size=params.page_size)
    return {"items": [_member(scope, c) for c in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size, "pages": page.pages, "fresh_as_of": page.as_of}


@router.get("/segments/{int:segment_id}/export", response={200: None, **ERRORS},
            summary="Members as CSV or Excel (HQ and managers; audited)")
def export_members(request: HttpRequest, segment_id: int, params: Query[ExportQuery]) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    if not scope.is_manager:
        raise PermissionDenied("exports are for HQ and managers")
    audit.record(actor=actor_of(request), action="segment.export", target_type="segment", target_id=segment.pk,
                 summary=f"exported {segment.name} ({params.format})")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    rows = queries.export_members(scope, segment)
    if params.format == "xlsx":
        response = HttpResponse(
            export.xlsx_bytes(scope, rows, title=segment.name),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-{stamp}.xlsx"'
        return response
    streamed = StreamingHttpResponse(export.csv_lines(scope, rows), content_type="text/csv; charset=utf-8")
    streamed["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-{stamp}.csv"'
    return streamed  # type: ignore[return-value]


@router.post("/segments/{int:segment_id}/snapshot", response={200: SnapshotOut, **WRITE_ERRORS},
             summary="Freeze a static segment's members again")
def snapshot(request: HttpRequest, segment_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    queries.check_can_edit(scope, segment)
    with rule_field():
        members = queries.rule_member_ids(scope, segment.rule, owner=queries.owner_of(segment))
    moved = services.refreeze_segment(scope=scope, segment=segment, members=members, actor=actor_of(request))
    return {"members": len(members), "moved": moved}


@router.get("/segments/{int:segment_id}/history", response={200: list[StintOut], **ERRORS},
            summary="The latest joins and leaves (the caller's customers)")
def history(request: HttpRequest, segment_id: int) -> list[dict[str, Any]]:
    scope = scope_of(request)
    stints = queries.membership_history(scope, queries.get_segment(scope, segment_id))
    return [{"customer_id": s.customer_id, "customer_name": s.customer.name, "entered_at": s.entered_at,
             "left_at": s.left_at} for s in stints]

