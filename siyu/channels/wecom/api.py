"""WeCom over REST (/api/channels/wecom/...): channel codes and their stats, welcome messages, customer sync, tag
sync, groups, inheritance and the outbox. Thin: validate the shape, call one service or query, render."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from siyu.api.auth import actor_of, scope_of
from siyu.channels.wecom import queries, services
from siyu.channels.wecom.schemas import (
    CallPage,
    CodeDetailOut,
    CodeIn,
    CodeOut,
    CodePage,
    CodePatchIn,
    GroupDetailOut,
    GroupPage,
    StatsOut,
    SyncRunOut,
    TransferDetailOut,
    TransferIn,
    TransferOut,
    TransferPage,
    WelcomeIn,
)
from siyu.core.errors import PermissionDenied
from siyu.core.pagination import Page
from siyu.org.schemas import ErrorOut, PageQuery
from siyu.org.scope import Scope

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


def _page(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "page": page.page, "page_size": page.page_size,
            "pages": page.pages}


def _manager(request: HttpRequest) -> Scope:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied("managers and HQ manage channel codes and inheritance")
    return scope


def _hq(request: HttpRequest) -> Scope:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied("for HQ only")
    return scope


def _code_detail(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_code(scope, code_id)
    return {
        **{f: getattr(code, f) for f in CodeOut.model_fields},
        "staff": [m.staff for m in code.members.all()],
        "tag_ids": [t.pk for t in code.tags.all()],
    }


@router.get("/codes", response={200: CodePage, **ERRORS}, summary="Channel codes the caller may see")
def list_codes(request: HttpRequest, q: Query[PageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.code_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


@router.post("/codes", response={201: CodeDetailOut, **WRITE_ERRORS}, summary="Create a channel code (渠道活码)")
def create_code(request: HttpRequest, payload: CodeIn) -> Status[Any]:
    scope = _manager(request)
    code = services.create_channel_code(
        scope=scope,
        account_id=payload.account_id,
        name=payload.name,
        staff_ids=payload.staff_ids,
        store_id=payload.store_id,
        assign_mode=payload.assign_mode,
        daily_cap=payload.daily_cap,
        tag_ids=payload.tag_ids,
        welcome_text=payload.welcome_text,
        welcome_attachments=[a.as_platform() for a in payload.welcome_attachments],
        state=payload.state,
        skip_verify=payload.skip_verify,
        actor=actor_of(request),
    )
    return Status(201, _code_detail(scope, code.pk))


@router.get("/codes/{int:code_id}", response={200: CodeDetailOut, **ERRORS}, summary="A channel code")
def get_code(request: HttpRequest, code_id: int) -> dict[str, Any]:
    return _code_detail(scope_of(request), code_id)


@router.patch("/codes/{int:code_id}", response={200: CodeDetailOut, **WRITE_ERRORS}, summary="Edit a channel code")
def patch_code(request: HttpRequest, code_id: int, payload: CodePatchIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_code(scope, code_id)
    attachments = payload.welcome_attachments
    services.update_channel_code(
        scope=scope,
        code_id=code_id,
        name=payload.name,
        tag_ids=payload.tag_ids,
        welcome_text=payload.welcome_text,
        welcome_attachments=[a.as_platform() for a in attachments] if attachments is not None else None,
        actor=actor_of(request),
    )
    return _code_detail(scope, code_id)


@router.post("/codes/{int:code_id}/disable", response={200: CodeDetailOut, **WRITE_ERRORS}, summary="Disable")
def disable_code(request: HttpRequest, code_id: int) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_code(scope, code_id)
    services.disable_channel_code(scope=scope, code_id=code_id, actor=actor_of(request))
    return _code_detail(scope, code_id)


@router.get("/codes/{int:code_id}/stats", response={200: StatsOut, **ERRORS}, summary="Scans, adds, deletes by day")
def code_stats(request: HttpRequest, code_id: int, days: int = 30) -> dict[str, Any]:
    stats = queries.code_stats(scope_of(request), code_id, days=max(1, min(days, 366)))
    return {
        "scans": stats.scans, "adds": stats.adds, "deletes": stats.deletes, "net": stats.net,
        "days": [{"day": d.day, "scans": d.scans, "adds": d.adds, "deletes": d.deletes, "net": d.net}
                 for d in stats.days],
    }


@router.put("/accounts/{int:account_id}/welcome", response={200: WelcomeIn, **WRITE_ERRORS},
            summary="The default welcome message")
def put_welcome(request: HttpRequest, account_id: int, payload: WelcomeIn) -> dict[str, Any]:
    row = services.set_default_welcome(
        scope=_hq(request), account_id=account_id, text=payload.text,
        attachments=[a.as_platform() for a in payload.attachments], actor=actor_of(request),
    )
    return {"text": row.text, "attachments": row.attachments}


@router.post("/accounts/{int:account_id}/sync", response={202: SyncRunOut, **WRITE_ERRORS},
             summary="Full customer sync (batch/get_by_user), run by the worker")
def start_sync(request: HttpRequest, account_id: int) -> Status[Any]:
    return Status(202, services.start_sync(scope=_hq(request), account_id=account_id))


@router.get("/sync/{int:run_id}", response={200: SyncRunOut, **ERRORS}, summary="A sync run's progress")
def get_sync(request: HttpRequest, run_id: int) -> Any:
    return queries.get_sync_run(scope_of(request), run_id)


@router.post("/accounts/{int:account_id}/tags/sync", response={200: dict[str, int], **WRITE_ERRORS},
             summary="Two-way tag sync: definitions both ways, then customers' tags to WeCom")
def sync_tags(request: HttpRequest, account_id: int) -> dict[str, int]:
    return services.sync_tags(scope=_hq(request), account_id=account_id)


@router.post("/accounts/{int:account_id}/groups/sync", response={200: dict[str, int], **WRITE_ERRORS},
             summary="Import every customer group (groupchat/list + get)")
def sync_groups(request: HttpRequest, account_id: int) -> dict[str, int]:
    return {"groups": services.sync_groups(scope=_hq(request), account_id=account_id)}


@router.get("/groups", response={200: GroupPage, **ERRORS}, summary="Customer groups the caller may see")
def list_groups(request: HttpRequest, q: Query[PageQuery], search: str = "") -> dict[str, Any]:
    return _page(queries.group_list(scope_of(request), page=q.page, page_size=q.page_size, q=search))


@router.get("/groups/{int:group_id}", response={200: GroupDetailOut, **ERRORS},
            summary="A group: members, who left, joins and quits by day")
def get_group(request: HttpRequest, group_id: int, days: int = 30) -> dict[str, Any]:
    scope = scope_of(request)
    group = queries.get_group(scope, group_id)
    return {
        **{f: getattr(group, f) for f in ("id", "chat_id", "name", "owner_userid", "owner_id", "status",
                                          "member_count", "platform_created_at")},
        "members": queries.group_members(scope, group_id, current=True),
        "left": queries.group_members(scope, group_id, current=False),
        "activity": queries.group_activity(scope, group_id, days=max(1, min(days, 366))),
    }


@router.post("/transfers", response={201: TransferOut, **WRITE_ERRORS},
             summary="Customer inheritance (离职继承 / 在职继承)")
def start_transfer(request: HttpRequest, payload: TransferIn) -> Status[Any]:
    job = services.start_transfer(
        scope=_manager(request), account_id=payload.account_id, kind=payload.kind, handover_id=payload.handover_id,
        takeover_id=payload.takeover_id, customer_ids=payload.customer_ids, message=payload.message,
        actor=actor_of(request),
    )
    return Status(201, job)


@router.get("/transfers", response={200: TransferPage, **ERRORS}, summary="Inheritances")
def list_transfers(request: HttpRequest, q: Query[PageQuery]) -> dict[str, Any]:
    return _page(queries.transfer_jobs(scope_of(request), page=q.page, page_size=q.page_size))


@router.get("/transfers/{int:job_id}", response={200: TransferDetailOut, **ERRORS},
            summary="An inheritance with its per-customer results")
def get_transfer(request: HttpRequest, job_id: int, status: str = "") -> dict[str, Any]:
    scope = scope_of(request)
    job = queries.get_transfer(scope, job_id)
    return {
        **{f: getattr(job, f) for f in TransferOut.model_fields},
        "items": queries.transfer_items(scope, job_id, status=status),
    }


@router.get("/outbox", response={200: CallPage, **ERRORS}, summary="Outbound WeCom calls and their state (HQ)")
def list_outbox(request: HttpRequest, q: Query[PageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.outbox(scope_of(request), status=status, page=q.page, page_size=q.page_size))
