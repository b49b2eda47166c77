"""Customers, tags and the event log over REST. Thin: validate the shape, call one service or query, render.

Every read and write goes through the caller's Scope: a customer outside it is a 404, exactly like one that does not
exist, so ids outside the caller's reach reveal nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema, Status

from siyu.api import sheet_imports
from siyu.api.auth import actor_of, scope_of
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.pagination import Page
from siyu.customers import consent, member_import, personal_data, personal_pdf, queries, services
from siyu.customers import events as event_types
from siyu.customers.member_sheet import FIELDS
from siyu.customers.schemas import (
    BulkTagIn,
    BulkTagOut,
    ConsentIn,
    ConsentsOut,
    CustomerCreateIn,
    CustomerListQuery,
    CustomerOut,
    CustomerPage,
    CustomerPatchIn,
    EraseIn,
    ErasureOut,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventPage,
    EventTypeOut,
    IdentityIn,
    IdentityOut,
    MergeIn,
    MergeOut,
    MergePreviewOut,
    MergePreviewQuery,
    ProfileOut,
    TagDeleteOut,
    TagGroupDeleteOut,
    TagGroupIn,
    TagGroupOut,
    TagGroupPatchIn,
    TagIn,
    TagOut,
    TagPatchIn,
    TimelineQuery,
)
from siyu.org import queries as org_queries
from siyu.org.schemas import ErrorOut
from siyu.org.scope import Scope

router = Router()

ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


def _page(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


def _check_store(scope: Scope, store_id: int | None, field: str) -> None:
    """A scoped caller may only place customers in stores it can see (HQ may use any store of the enterprise)."""
    if store_id is None or scope.is_hq:
        return
    if not org_queries.stores(scope).filter(id=store_id).exists():
        raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field=field)


def _get_customer(scope: Scope, customer_id: int, field: str) -> Any:
    try:
        return queries.get_customer(scope, customer_id)
    except NotFound as exc:
        exc.field = field
        raise


def _visible(scope: Scope) -> Iterable[int] | None:
    """Who a refusal may name: HQ sees the whole enterprise (None), everyone else their scope's customers."""
    return None if scope.is_hq else queries.visible_customer_ids(scope)


def _identity(item: IdentityIn) -> services.IdentityInput:
    return services.IdentityInput(kind=str(item.kind), value=item.value, account=item.account)


# ---------------------------------------------------------------------------------------------------------------
# Customers


@router.get("/customers", response={200: CustomerPage, **ERRORS}, summary="Search the customers the caller may see")
def list_customers(request: HttpRequest, filters: Query[CustomerListQuery]) -> dict[str, Any]:
    flt = queries.CustomerFilter(
        q=filters.q,
        store_id=filters.store_id,
        staff_id=filters.staff_id,
        tag_id=filters.tag_id,
        channel=str(filters.channel or ""),
        relationship_status=str(filters.relationship_status or ""),
    )
    return _page(queries.search(scope_of(request), flt, page=filters.page, page_size=filters.page_size))


@router.post("/customers", response={201: CustomerOut, **WRITE_ERRORS}, summary="Create a customer")
def create_customer(request: HttpRequest, payload: CustomerCreateIn) -> Status[Any]:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("store staff gain customers through their channels, not by creating them"))
    home_store_id = payload.home_store_id
    if home_store_id is None and len(scope.store_ids) == 1:
        home_store_id = next(iter(scope.store_ids))
    if home_store_id is None and not scope.is_hq:
        # without a home store in the caller's reach the new customer would be invisible to its creator
        raise ValidationFailed(_("choose the customer's home store"), field="home_store_id", code="required")
    _check_store(scope, home_store_id, "home_store_id")
    customer = services.create_customer(
        enterprise_id=scope.enterprise_id,
        name=payload.name,
        phone=payload.phone,
        gender=str(payload.gender),
        birthday=payload.birthday,
        region=payload.region,
        created_source=str(payload.created_source),
        home_store_id=home_store_id,
        identities=[_identity(item) for item in payload.identities],
        actor=actor_of(request),
        visible_customers=_visible(scope),
    )
    return Status(201, customer)


@router.get("/customers/{int:customer_id}", response={200: ProfileOut, **ERRORS}, summary="A customer's profile")
def get_customer(request: HttpRequest, customer_id: int) -> Any:
    return queries.profile(scope_of(request), customer_id)


@router.patch("/customers/{int:customer_id}", response={200: CustomerOut, **WRITE_ERRORS}, summary="Update a profile")
def update_customer(request: HttpRequest, customer_id: int, payload: CustomerPatchIn) -> Any:
    scope = scope_of(request)
    customer = queries.get_customer(scope, customer_id)
    changes = payload.model_dump(exclude_unset=True)
    if "home_store_id" in changes:
        _check_store(scope, changes["home_store_id"], "home_store_id")
    return services.update_customer(
        customer=customer, changes=changes, actor=actor_of(request), visible_customers=_visible(scope)
    )


@router.post(
    "/customers/{int:customer_id}/identities",
    response={201: IdentityOut, **WRITE_ERRORS},
    summary="Attach an identity (409 identity_taken when another customer has it)",
)
def attach_identity(request: HttpRequest, customer_id: int, payload: IdentityIn) -> Status[Any]:
    scope = scope_of(request)
    customer = queries.get_customer(scope, customer_id)
    identity = services.attach_identity(
        customer=customer, identity=_identity(payload), actor=actor_of(request), visible_customers=_visible(scope)
    )
    return Status(201, identity)


@router.post(
    "/customers/merge",
    response={200: MergeOut, **WRITE_ERRORS},
    summary="Merge one customer into another (HQ, region and store managers; 409 merge_conflict for two people)",
)
def merge_customers(request: HttpRequest, payload: MergeIn) -> Any:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("only HQ and managers may merge customers"))
    if payload.force and not scope.is_hq:
        raise PermissionDenied(_("only HQ may force a merge of conflicting customers"), field="force")
    survivor = _get_customer(scope, payload.survivor_id, "survivor_id")
    absorbed = _get_customer(scope, payload.absorbed_id, "absorbed_id")
    return services.merge_customers(
        survivor=survivor, absorbed=absorbed, reason="manual", actor=actor_of(request), force=payload.force,
        force_reason=payload.force_reason,
    )


@router.get(
    "/customers/{int:customer_id}/merge-preview",
    response={200: MergePreviewOut, **ERRORS},
    summary="What merging `other` into this customer would keep, drop and refuse; writes nothing",
)
def merge_preview(request: HttpRequest, customer_id: int, params: Query[MergePreviewQuery]) -> Any:
    return queries.merge_preview(scope_of(request), customer_id, params.other)


@router.get(
    "/customers/{int:customer_id}/timeline",
    response={200: EventPage, **ERRORS},
    summary="A customer's events, newest first",
)
def timeline(request: HttpRequest, customer_id: int, params: Query[TimelineQuery]) -> dict[str, Any]:
    page = queries.timeline(
        scope_of(request), customer_id, page=params.page, page_size=params.page_size, name=params.name
    )
    return _page(page)


# ---------------------------------------------------------------------------------------------------------------
# Tags


@router.get(
    "/tag-groups",
    response={200: list[TagGroupOut], **ERRORS},
    tags=["tags"],
    summary="Tag groups, tags and their counts",
)
def list_tag_groups(request: HttpRequest) -> Any:
    return queries.tag_library(scope_of(request))


@router.post(
    "/tag-groups", response={201: TagGroupOut, **WRITE_ERRORS}, tags=["tags"], summary="Create a tag group (HQ)"
)
def create_tag_group(request: HttpRequest, payload: TagGroupIn) -> Status[Any]:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("the tag library is managed by HQ"))
    group = services.create_tag_group(
        enterprise_id=scope.enterprise_id, name=payload.name, exclusive=payload.exclusive, actor=actor_of(request)
    )
    return Status(201, group)


@router.post(
    "/tag-groups/{int:group_id}/tags",
    response={201: TagOut, **WRITE_ERRORS},
    tags=["tags"],
    summary="Add a tag to a group (HQ)",
)
def create_tag(request: HttpRequest, group_id: int, payload: TagIn) -> Status[Any]:
    scope = scope_of(request)
    group = queries.get_tag_group(scope, group_id)
    if not scope.is_hq:
        raise PermissionDenied(_("the tag library is managed by HQ"))
    tag = services.create_tag(
        group=group, name=payload.name, kind=str(payload.kind), rule=payload.rule, actor=actor_of(request)
    )
    return Status(201, tag)


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("the tag library is managed by HQ"))


def _get_tag(scope: Scope, tag_id: int) -> Any:
    tag = queries.tags(scope).filter(pk=tag_id).first()
    if tag is None:
        raise NotFound(_("tag %(tag_id)s not found") % {"tag_id": tag_id}, field="tag_id")
    return tag


@router.patch(
    "/tag-groups/{int:group_id}",
    response={200: TagGroupOut, **WRITE_ERRORS},
    tags=["tags"],
    summary="Rename a tag group (HQ; 409 duplicate when the enterprise has a group of that name)",
)
def rename_tag_group(request: HttpRequest, group_id: int, payload: TagGroupPatchIn) -> Any:
    scope = scope_of(request)
    _require_hq(scope)
    group = queries.get_tag_group(scope, group_id)
    return services.rename_tag_group(group=group, name=payload.name, actor=actor_of(request))


@router.delete(
    "/tag-groups/{int:group_id}",
    response={200: TagGroupDeleteOut, **WRITE_ERRORS},
    tags=["tags"],
    summary="Delete a tag group with its tags, removing them from every customer (HQ)",
)
def delete_tag_group(request: HttpRequest, group_id: int) -> dict[str, int]:
    scope = scope_of(request)
    _require_hq(scope)
    group = queries.get_tag_group(scope, group_id)
    tags = queries.tags(scope).filter(group_id=group.pk).count()
    removed = services.delete_tag_group(group=group, actor=actor_of(request))
    return {"id": group_id, "tags_deleted": tags, "customer_tags_removed": removed}


@router.patch(
    "/tags/{int:tag_id}",
    response={200: TagOut, **WRITE_ERRORS},
    tags=["tags"],
    summary="Rename a tag (HQ; 409 duplicate when its group has a tag of that name)",
)
def rename_tag(request: HttpRequest, tag_id: int, payload: TagPatchIn) -> Any:
    scope = scope_of(request)
    _require_hq(scope)
    tag = _get_tag(scope, tag_id)
    return services.rename_tag(tag=tag, name=payload.name, actor=actor_of(request))


@router.delete(
    "/tags/{int:tag_id}",
    response={200: TagDeleteOut, **WRITE_ERRORS},
    tags=["tags"],
    summary="Delete a tag, removing it from every customer who carries it (HQ)",
)
def delete_tag(request: HttpRequest, tag_id: int) -> dict[str, int]:
    scope = scope_of(request)
    _require_hq(scope)
    untagged = services.delete_tag(tag=_get_tag(scope, tag_id), actor=actor_of(request))
    return {"id": tag_id, "customers_untagged": untagged}


@router.post("/tags/bulk-tag", response={200: BulkTagOut, **WRITE_ERRORS}, tags=["tags"], summary="Tag many customers")
def bulk_tag(request: HttpRequest, payload: BulkTagIn) -> dict[str, int]:
    scope = scope_of(request)
    changed = services.tag_customers(
        enterprise_id=scope.enterprise_id,
        customer_ids=payload.customer_ids,
        tag_ids=payload.tag_ids,
        visible_customers=queries.visible_customer_ids(scope),
        actor=actor_of(request),
    )
    return {"changed": changed}


@router.post(
    "/tags/bulk-untag", response={200: BulkTagOut, **WRITE_ERRORS}, tags=["tags"], summary="Untag many customers"
)
def bulk_untag(request: HttpRequest, payload: BulkTagIn) -> dict[str, int]:
    scope = scope_of(request)
    changed = services.untag_customers(
        enterprise_id=scope.enterprise_id,
        customer_ids=payload.customer_ids,
        tag_ids=payload.tag_ids,
        visible_customers=queries.visible_customer_ids(scope),
        actor=actor_of(request),
    )
    return {"changed": changed}


# ---------------------------------------------------------------------------------------------------------------
# Events


def _event(item: EventIn) -> services.EventInput:
    return services.EventInput(
        name=item.name,
        occurred_at=item.occurred_at,
        idempotency_key=item.idempotency_key,
        customer_id=item.customer_id,
        identity=_identity(item.identity) if item.identity is not None else None,
        channel=item.channel,
        store_id=item.store_id,
        staff_id=item.staff_id,
        campaign=item.campaign,
        properties=item.properties,
    )


@router.post(
    "/events/batch",
    response={200: EventBatchOut, **WRITE_ERRORS},
    tags=["events"],
    summary="Ingest events: all or nothing, idempotent by idempotency_key",
)
def ingest_events(request: HttpRequest, payload: EventBatchIn) -> Any:
    scope = scope_of(request)
    return services.ingest_events(
        enterprise_id=scope.enterprise_id,
        batch=[_event(item) for item in payload.events],
        visible_customers=None if scope.is_hq else queries.visible_customer_ids(scope),
    )


@router.get(
    "/event-types", response={200: list[EventTypeOut], **ERRORS}, tags=["events"], summary="Registered event types"
)
def list_event_types(request: HttpRequest) -> list[dict[str, Any]]:
    scope_of(request)
    out = []
    for name in event_types.registered_names():
        schema = event_types.schema_for(name)
        out.append({"name": name, "properties_schema": schema.model_json_schema() if schema is not None else {}})
    return out


# ---------------------------------------------------------------------------------------------------------------
# Member import (HQ only): upload a sheet, read the suggested mapping, change it, preview, dry run, start the
# background job, poll its progress, read the report. Mounted at /api/admin/member-imports.

member_imports_router = Router()
MEMBER_IMPORT_TAGS = ["member import"]


class MemberImportOut(Schema):
    id: int
    filename: str
    file_format: str
    encoding: str
    status: str
    header: list[str]
    mapping: dict[str, str]
    fields: list[str]
    total_rows: int
    valid_rows: int
    processed_rows: int
    checkpoint_row: int
    created_customers: int
    merged_customers: int
    errors: int
    error_message: str
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_fields(obj: Any) -> list[str]:
        return list(FIELDS)


class DryRunOut(Schema):
    total_rows: int
    valid_rows: int
    error_rows: int


sheet_imports.add_routes(member_imports_router, sheet_imports.Routes(
    upload=member_import.upload_member_file, imports=member_import.imports, get=member_import.get_import,
    set_mapping=member_import.set_mapping, preview=member_import.preview, dry_run=member_import.dry_run,
    start=member_import.start_member_import, error_report=member_import.error_report,
    out=MemberImportOut, dry_run_out=DryRunOut, tags=MEMBER_IMPORT_TAGS, id_name="member_import_id", module=__name__,
    names={"upload": "upload", "list": "list_imports", "detail": "detail", "mapping": "put_mapping",
           "preview": "preview", "dry_run": "dry_run", "start": "start", "errors": "errors"},
    summaries={
        "upload": "Upload a member sheet (xlsx or CSV in UTF-8/GBK); the same file again returns its first import",
        "list": "The enterprise's member imports, newest first",
        "detail": "An import: mapping, status, progress",
        "mapping": "Set the column mapping",
        "preview": "The first rows as the mapping reads them, with each row's problems",
        "dry_run": "Check every row and rebuild the report; nothing else is written",
        "start": "Queue the import (a failed one continues from its checkpoint)",
        "errors": "The rows refused, in sheet order (at most 1,000 from `offset`)",
    }))


# ---------------------------------------------------------------------------------------------------------------
# Personal data (PIPL): consent per marketing channel, the customer's data export, erasure


def _consents_out(customer_id: int) -> dict[str, Any]:
    return {"states": consent.states(customer_id), "history": consent.history(customer_id)}


@router.get(
    "/customers/{int:customer_id}/consents",
    response={200: ConsentsOut, **ERRORS},
    summary="The customer's marketing consent per channel, and every record behind it",
)
def get_consents(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    customer = queries.get_customer(scope_of(request), customer_id)
    return _consents_out(customer.pk)


@router.post(
    "/customers/{int:customer_id}/consents",
    response={201: ConsentsOut, 200: ConsentsOut, **WRITE_ERRORS},
    summary="Record a grant or a withdrawal (Idempotency-Key: a repeat records nothing more)",
)
def record_consent(request: HttpRequest, customer_id: int, payload: ConsentIn) -> Status[dict[str, Any]]:
    key = request.headers.get("Idempotency-Key", "") or payload.idempotency_key
    _row, created = consent.record(
        scope=scope_of(request), customer_id=customer_id, channel=payload.channel, granted=payload.granted,
        method=payload.method, text=payload.text, text_version=payload.text_version, evidence=payload.evidence,
        recorded_at=payload.recorded_at, idempotency_key=key[:128], actor=actor_of(request),
    )
    return Status(201 if created else 200, _consents_out(customer_id))


@router.get(
    "/customers/{int:customer_id}/personal-data",
    response={200: dict[str, Any], **ERRORS},
    summary="Everything Siyu holds on the customer, as JSON (HQ and managers; audited). `?format=pdf` for a PDF",
)
def personal_data_export(request: HttpRequest, customer_id: int, format: str = "json") -> Any:  # noqa: A002
    if format not in ("json", "pdf"):
        raise ValidationFailed(_("format is json or pdf"), field="format", code="invalid_choice")
    data = personal_data.export(scope=scope_of(request), customer_id=customer_id, actor=actor_of(request))
    if format == "pdf":
        response = HttpResponse(personal_pdf.render(data), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="customer-{customer_id}-personal-data.pdf"'
        return response
    return data


@router.post(
    "/customers/{int:customer_id}/erase",
    response={200: ErasureOut, **WRITE_ERRORS},
    summary="Erase the customer's personal data (HQ; `confirm` repeats the id; once; audited)",
)
def erase_customer(request: HttpRequest, customer_id: int, payload: EraseIn) -> dict[str, Any]:
    erasure = personal_data.erase(scope=scope_of(request), customer_id=customer_id, reason=payload.reason,
                                  confirm=payload.confirm, actor=actor_of(request))
    return {"customer_id": erasure.customer_id, "erased_at": erasure.erased_at, "counts": erasure.counts}
