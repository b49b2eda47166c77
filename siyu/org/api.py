"""Regions, stores and staff as the caller's scope sees them; API tokens for integrations (HQ only)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile

from siyu.api.auth import actor_of, scope_of
from siyu.core import audit
from siyu.core import queries as core_queries
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.org import editing, queries, services, sheets
from siyu.org.schemas import (
    AuditPage,
    AuditQuery,
    DepartmentMapIn,
    DepartmentOut,
    DepartmentPage,
    ErrorOut,
    LeftIn,
    OrgPageQuery,
    PasswordIn,
    RegionIn,
    RegionPage,
    RegionQuery,
    RegionSaved,
    SheetOut,
    StaffIn,
    StaffOut,
    StaffPage,
    StaffQuery,
    StoreIn,
    StorePage,
    StoreQuery,
    StoreSaved,
    TokenIn,
    TokenInfoOut,
    TokenOut,
    TokenPage,
)

router = Router()

ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _page(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


@router.get("/regions", response={200: RegionPage, **ERRORS}, summary="Regions the caller may see (q: name or code)")
def list_regions(request: HttpRequest, params: Query[RegionQuery]) -> dict[str, Any]:
    qs = queries.search_regions(scope_of(request), params.q)
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.post("/regions", response={201: RegionSaved, **ERRORS}, summary="Create a region (HQ admin)")
def create_region(request: HttpRequest, payload: RegionIn) -> Status[Any]:
    data = editing.RegionInput(name=payload.name, code=payload.code)
    return Status(201, editing.create_region(scope=scope_of(request), data=data, actor=actor_of(request)))


@router.patch("/regions/{int:region_id}", response={200: RegionSaved, **ERRORS}, summary="Edit a region (HQ admin)")
def update_region(request: HttpRequest, region_id: int, payload: RegionIn) -> Any:
    data = editing.RegionInput(name=payload.name, code=payload.code)
    return editing.update_region(scope=scope_of(request), region_id=region_id, data=data, actor=actor_of(request))


@router.get("/stores", response={200: StorePage, **ERRORS},
            summary="Stores the caller may see (q: name, code, city or address; state: opening state)")
def list_stores(request: HttpRequest, params: Query[StoreQuery]) -> dict[str, Any]:
    if params.state and params.state not in queries.OpeningStates.values:
        raise ValidationFailed(
            _("state is one of %(join)s") % {"join": ', '.join(queries.OpeningStates.values)},
            field="state",
            code="unknown_state",
        )
    qs = queries.search_stores(scope_of(request), params.q, region_id=params.region_id, state=params.state)
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


def _store_input(payload: StoreIn) -> editing.StoreInput:
    return editing.StoreInput(name=payload.name, code=payload.code, region_id=payload.region_id, city=payload.city,
                              address=payload.address, opening_state=payload.opening_state,
                              opened_on=payload.opened_on)


@router.post("/stores", response={201: StoreSaved, **ERRORS}, summary="Create a store (HQ admin)")
def create_store(request: HttpRequest, payload: StoreIn) -> Status[Any]:
    store = editing.create_store(scope=scope_of(request), data=_store_input(payload), actor=actor_of(request))
    return Status(201, store)


@router.patch("/stores/{int:store_id}", response={200: StoreSaved, **ERRORS},
              summary="Edit a store: code, city, address, region, opening state (HQ admin)")
def update_store(request: HttpRequest, store_id: int, payload: StoreIn) -> Any:
    return editing.update_store(scope=scope_of(request), store_id=store_id, data=_store_input(payload),
                                actor=actor_of(request))


@router.get("/staff", response={200: StaffPage, **ERRORS},
            summary="Staff the caller may see (q: name, userid or mobile; store_id, role, active)")
def list_staff(request: HttpRequest, params: Query[StaffQuery]) -> dict[str, Any]:
    if params.role and params.role not in queries.Roles.values:
        raise ValidationFailed(_("role is one of %(join)s") % {"join": ', '.join(queries.Roles.values)}, field="role",
                               code="unknown_role")
    qs = queries.search_staff(scope_of(request), params.q, store_id=params.store_id, role=params.role,
                              active=params.active)
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


def _staff_input(payload: StaffIn) -> editing.StaffInput:
    return editing.StaffInput(name=payload.name, role=payload.role, wecom_userid=payload.wecom_userid,
                              mobile=payload.mobile, store_id=payload.store_id, region_id=payload.region_id)


@router.post("/staff", response={201: StaffOut, **ERRORS},
             summary="Add a staff member (HQ admin; a manager adds store staff to their own team)")
def create_staff(request: HttpRequest, payload: StaffIn) -> Status[Any]:
    staff = editing.create_staff(scope=scope_of(request), data=_staff_input(payload), actor=actor_of(request))
    return Status(201, staff)


@router.patch("/staff/{int:staff_id}", response={200: StaffOut, **ERRORS},
              summary="Edit a staff member or change their role (HQ admin; managers: their team's store staff)")
def update_staff(request: HttpRequest, staff_id: int, payload: StaffIn) -> Any:
    return editing.update_staff(scope=scope_of(request), staff_id=staff_id, data=_staff_input(payload),
                                actor=actor_of(request))


@router.post("/staff/{int:staff_id}/left", response={200: StaffOut, **ERRORS},
             summary="Mark a staff member as left (HQ admin): sign-in stops, inheritance offers their customers")
def mark_left(request: HttpRequest, staff_id: int, payload: LeftIn) -> Any:
    return editing.mark_staff_left(scope=scope_of(request), staff_id=staff_id, reason=payload.reason,
                                   actor=actor_of(request))


@router.post("/staff/{int:staff_id}/password", response={200: StaffOut, **ERRORS},
             summary="Set or reset a staff member's console sign-in name and password (HQ admin)")
def set_password(request: HttpRequest, staff_id: int, payload: PasswordIn) -> Any:
    return editing.set_staff_password(scope=scope_of(request), staff_id=staff_id, username=payload.username,
                                      password=payload.password, actor=actor_of(request))


def _sheet(sheet: Any) -> dict[str, Any]:
    report = sheet.report or {}
    counts = {key: int(report.get(key, 0)) for key in ("rows", "errors", "create", "update", "unchanged")}
    return {"id": sheet.pk, "filename": sheet.filename, "applied_at": sheet.applied_at,
            "items": report.get("items", []), **counts}


@router.post("/sheets", response={201: SheetOut, **ERRORS},
             summary="Upload an organisation sheet (.xlsx or CSV; HQ admin): checked, not applied; per-row report")
def upload_sheet(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    if file.size is not None and file.size > sheets.MAX_BYTES:
        raise ValidationFailed(_("the file is larger than 5 MB"), field="file", code="file_too_large")
    sheet = sheets.preview_sheet(scope=scope_of(request), filename=file.name or "sheet", content=file.read(),
                                 actor=actor_of(request))
    return Status(201, _sheet(sheet))


@router.get("/sheets/{int:sheet_id}", response={200: SheetOut, **ERRORS}, summary="An uploaded sheet's report")
def get_sheet(request: HttpRequest, sheet_id: int) -> dict[str, Any]:
    return _sheet(sheets.get_sheet(scope_of(request), sheet_id))


@router.post("/sheets/{int:sheet_id}/apply", response={200: SheetOut, **ERRORS},
             summary="Apply an uploaded sheet's valid rows (HQ admin); applying again changes nothing")
def apply_sheet(request: HttpRequest, sheet_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    sheets.apply_sheet(scope=scope, sheet_id=sheet_id, actor=actor_of(request))
    return _sheet(sheets.get_sheet(scope, sheet_id))


@router.get("/departments", response={200: DepartmentPage, **ERRORS},
            summary="WeCom departments seen by address-book syncs, with their mapping (HQ admin)")
def list_departments(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.department_links(scope_of(request))
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.patch("/departments/{int:link_id}", response={200: DepartmentOut, **ERRORS},
              summary="Map a WeCom department to a store or a region (HQ admin); kept across syncs")
def map_department(request: HttpRequest, link_id: int, payload: DepartmentMapIn) -> Any:
    return editing.map_department(scope=scope_of(request), link_id=link_id, store_id=payload.store_id,
                                  region_id=payload.region_id, actor=actor_of(request))


@router.post(
    "/tokens",
    response={201: TokenOut, **ERRORS},
    summary="Create an API token for a staff member (HQ admin); the secret is returned once",
)
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ admins create API tokens"))
    staff = queries.get_staff(scope, payload.staff_id)
    token, secret = services.create_api_token(staff=staff, name=payload.name, actor=actor_of(request))
    return Status(
        201,
        {
            "id": token.pk,
            "name": token.name,
            "prefix": token.prefix,
            "staff_id": token.staff_id,
            "created_at": token.created_at,
            "secret": secret,
        },
    )


@router.get("/tokens", response={200: TokenPage, **ERRORS}, summary="API tokens of the enterprise (HQ admin)")
def list_tokens(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.api_tokens(scope_of(request))
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.get("/audit", response={200: AuditPage, **ERRORS},
            summary="The audit log (HQ): who changed what, newest first; each entry's action is its code and its "
                    "message is in the caller's language")
def audit_log(request: HttpRequest, params: Query[AuditQuery]) -> dict[str, Any]:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("the audit log is for HQ"))
    page = core_queries.audit_entries(
        enterprise_id=scope.enterprise_id, page=params.page, page_size=params.page_size, q=params.q,
        action=params.action, target_type=params.target_type, target_id=params.target_id)
    items = [{"id": e.pk, "created_at": e.created_at, "actor": e.actor_label, "action": e.action,
              "target_type": e.target_type, "target_id": e.target_id, "message_id": e.message,
              "params": e.params if isinstance(e.params, dict) else {}, "message": audit.summary_of(e)}
             for e in page.items]
    return {**_page(page), "items": items}


@router.delete(
    "/tokens/{int:token_id}",
    response={200: TokenInfoOut, **ERRORS},
    summary="Revoke an API token (HQ admin); requests with it are refused from now on",
)
def revoke_token(request: HttpRequest, token_id: int) -> Any:
    scope = scope_of(request)
    token = queries.get_api_token(scope, token_id)
    services.revoke_api_token(token_id=token.pk, actor=actor_of(request))
    return queries.get_api_token(scope, token_id)
