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
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from ninja import Query, Router, Status

from siyu.api.auth import actor_of, scope_of
from siyu.audiences import export, queries, services, tag_rules
from siyu.audiences.context import owner_scope
from siyu.audiences.rules import rule_json_schema
from siyu.audiences.schemas import (
    CustomerScoreOut,
    ExportQuery,
    LifecycleRulesIn,
    LifecycleRulesOut,
    MemberPageOut,
    MembersQuery,
    PreviewIn,
    PreviewOut,
    RfmOverviewOut,
    RfmRunOut,
    SegmentDetailOut,
    SegmentIn,
    SegmentOut,
    SegmentPatchIn,
    SnapshotOut,
    StintOut,
    SuperUserOut,
    TagRuleIn,
    TagRuleOut,
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
            raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
        return owner_scope(scope.enterprise_id, store.region_id, store.pk)
    if region_id is not None:
        if not org_queries.regions(scope).filter(pk=region_id).exists():
            raise NotFound(_("region %(region_id)s not found") % {"region_id": region_id}, field="region_id")
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
        raise PermissionDenied(_("exports are for HQ and managers"))
    audit.record(enterprise_id=scope.enterprise_id, actor=actor_of(request), action="segment.export",
                 target_type="segment", target_id=segment.pk,
                 summary=audit.text(
                     N_("exported %(segment)s (%(format)s)"), segment=segment.name,
                     format=params.format))
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



# ---------------------------------------------------------------------------------------------------------------
# RFM, lifecycle, super users, rule tags


def _run_out(run: Any) -> dict[str, Any] | None:
    if run is None:
        return None
    return {f: getattr(run, f) for f in ("id", "as_of", "status", "trigger", "window_days", "customers", "buyers",
                                         "edges", "cells", "stages", "movement", "stage_movement", "seconds")}


@router.get("/rfm", response={200: RfmOverviewOut, **ERRORS},
            summary="The latest RFM run and the distribution of cells and stages over the caller's customers")
def rfm_overview(request: HttpRequest) -> dict[str, Any]:
    overview = queries.rfm_overview(scope_of(request))
    return {"run": _run_out(overview.run), "cells": dict(overview.cells), "stages": dict(overview.stages),
            "fresh_as_of": overview.as_of}


@router.post("/rfm/runs", response={202: RfmRunOut, **WRITE_ERRORS}, summary="Run RFM and lifecycle now (HQ)")
def request_rfm_run(request: HttpRequest) -> Status[Any]:
    run = services.request_rfm_run(scope=scope_of(request), actor=actor_of(request))
    return Status(202, _run_out(run))


@router.get("/customers/{int:customer_id}/scores", response={200: CustomerScoreOut, **ERRORS},
            summary="A customer's RFM scores and cell, lifecycle stage, super-user score and segments")
def customer_scores(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    score = queries.customer_score(scope, customer_id)
    segments = [{"segment_id": m.segment_id, "name": m.segment.name, "entered_at": m.entered_at}
                for m in queries.customer_segments(scope, customer_id)]
    if score is None:
        return {"customer_id": customer_id, "r": 0, "f": 0, "m": 0, "cell": "", "stage": "", "stage_since": None,
                "recency_days": None, "frequency": 0, "monetary_fen": 0, "super_score": 0.0, "segments": segments}
    return {"customer_id": customer_id, "segments": segments,
            **{f: getattr(score, f) for f in ("r", "f", "m", "cell", "stage", "stage_since", "recency_days",
                                              "frequency", "monetary_fen", "super_score")}}


@router.get("/super-users", response={200: list[SuperUserOut], **ERRORS},
            summary="The caller's customers with the highest super-user scores, explained")
def super_users(request: HttpRequest, limit: int = 50) -> list[dict[str, Any]]:
    if not 1 <= limit <= 500:
        raise ValidationFailed(_("limit is 1-500"), field="limit", code="limit_range")
    people = queries.super_users(scope_of(request), limit=limit)
    return [{"customer_id": p.customer.pk, "name": p.customer.name, "score": p.score,
             "explanation": {"orders": p.frequency, "spend_fen": p.monetary_fen, "recency_days": p.recency_days,
                             "cell": p.cell, "stage": p.stage}} for p in people]


@router.get("/lifecycle/rules", response={200: LifecycleRulesOut, **ERRORS}, summary="Lifecycle thresholds")
def get_lifecycle_rules(request: HttpRequest) -> dict[str, Any]:
    rules = queries.lifecycle_rules(scope_of(request))
    return _rules_out(rules)


def _rules_out(rules: Any) -> dict[str, Any]:
    from siyu.audiences.rfm import DEFAULT_WEIGHTS

    return {**{f: getattr(rules, f) for f in services.LIFECYCLE_FIELDS},
            "super_weights": {**DEFAULT_WEIGHTS, **(rules.super_weights or {})}}


@router.put("/lifecycle/rules", response={200: LifecycleRulesOut, **WRITE_ERRORS},
            summary="Change lifecycle thresholds and super-user weights (HQ)")
def put_lifecycle_rules(request: HttpRequest, payload: LifecycleRulesIn) -> dict[str, Any]:
    values = {k: v for k, v in payload.model_dump(exclude={"super_weights"}).items() if v is not None}
    rules = services.update_lifecycle_rules(scope=scope_of(request), values=values,
                                            super_weights=payload.super_weights, actor=actor_of(request))
    return _rules_out(rules)


def _tag_rule_out(rule: Any) -> dict[str, Any]:
    return {"id": rule.pk, "tag_id": rule.tag_id, "tag": rule.tag.name, "kind": rule.kind,
            "segment_id": rule.segment_id, "event_name": rule.event_name, "event_where": rule.event_where,
            "expire_days": rule.expire_days, "applied_at": rule.applied_at}


@router.get("/tag-rules", response={200: list[TagRuleOut], **ERRORS}, summary="Rule tags")
def list_tag_rules(request: HttpRequest) -> list[dict[str, Any]]:
    return [_tag_rule_out(r) for r in tag_rules.tag_rules(scope_of(request))]


@router.post("/tag-rules", response={201: TagRuleOut, **WRITE_ERRORS}, summary="Make a tag a rule tag (HQ)")
def create_tag_rule(request: HttpRequest, payload: TagRuleIn) -> Status[Any]:
    with rule_field("event"):
        rule = tag_rules.create_tag_rule(scope=scope_of(request), tag_id=payload.tag_id, kind=payload.kind,
                                         segment_id=payload.segment_id, event_name=payload.event_name,
                                         event_where=payload.event_where, expire_days=payload.expire_days,
                                         actor=actor_of(request))
    return Status(201, _tag_rule_out(rule))


@router.delete("/tag-rules/{int:rule_id}", response={204: None, **WRITE_ERRORS}, summary="Remove a tag's rule (HQ)")
def delete_tag_rule(request: HttpRequest, rule_id: int) -> Status[None]:
    scope = scope_of(request)
    found = next((r for r in tag_rules.tag_rules(scope) if r.pk == rule_id), None)
    if found is None:
        raise NotFound(_("tag rule %(rule_id)s not found") % {"rule_id": rule_id}, field="rule_id")
    tag_rules.delete_tag_rule(scope=scope, tag_rule=found, actor=actor_of(request))
    return Status(204, None)
