"""WeCom over REST (/api/channels/wecom/...): channel codes and their stats, welcome messages, customer sync, tag
sync, groups, inheritance, mass sends and moments, and the outbox. Thin: validate the shape, call one service or
query, render."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Status

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import KEY_HEADER_DOC, create_once
from siyu.channels.wecom import (
    auto_pull,
    channel_codes,
    code_controls,
    errcodes,
    group_codes,
    group_inheritance,
    group_sheets,
    group_sop,
    group_tags,
    group_welcome,
    inheritance,
    keyword_groups,
    mass_sends,
    moments,
    queries,
    sync,
    sync_jobs,
    tag_groups,
    welcome,
)
from siyu.channels.wecom.schemas import (
    CallPage,
    CodeControlsIn,
    CodeControlsOut,
    CodeDetailOut,
    CodeIn,
    CodeOut,
    CodePage,
    CodePatchIn,
    DuplicateMemberPage,
    GroupAnalyticsOut,
    GroupCodeGroupsIn,
    GroupCodeIn,
    GroupCodeOut,
    GroupCodePage,
    GroupCodeStatsOut,
    GroupConversionOut,
    GroupDetailOut,
    GroupPage,
    GroupRouteIn,
    GroupRouteOut,
    GroupRoutesIn,
    GroupSchedulesIn,
    GroupSchedulesOut,
    GroupSopIn,
    GroupSopOut,
    GroupSopPage,
    GroupSopPatch,
    GroupSopRunDetailOut,
    GroupSopRunPage,
    GroupTagIn,
    GroupTagOut,
    GroupTagsIn,
    GroupTransferIn,
    GroupTransferOut,
    GroupWelcomeIn,
    GroupWelcomeOut,
    GroupWelcomePage,
    GroupWelcomePatch,
    KeywordGroupIn,
    KeywordGroupOut,
    KeywordGroupPage,
    KeywordGroupPatch,
    StatsOut,
    SyncJobOut,
    SyncRunOut,
    TagGroupIn,
    TagGroupOut,
    TagGroupPage,
    TransferDetailOut,
    TransferIn,
    TransferItemOut,
    TransferItemPage,
    TransferOut,
    TransferPage,
    WecomMassSendDetailOut,
    WecomMassSendIn,
    WecomMassSendOut,
    WecomMassSendPage,
    WecomMassSendRecipientOut,
    WecomMassSendRecipientPage,
    WecomMomentDetailOut,
    WecomMomentIn,
    WecomMomentPage,
    WelcomeBindingIn,
    WelcomeBindingOut,
    WelcomeIn,
)
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.pagination import Page
from siyu.org.schemas import ErrorOut, OrgPageQuery
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
        raise PermissionDenied(_("managers and HQ manage channel codes and inheritance"))
    return scope


def _hq(request: HttpRequest) -> Scope:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("for HQ only"))
    return scope


def _code_detail(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_code(scope, code_id)
    return {
        **{f: getattr(code, f) for f in CodeOut.model_fields},
        "staff": [m.staff for m in code.members.all()],
        "tag_ids": [t.pk for t in code.tags.all()],
    }


@router.get("/codes", response={200: CodePage, **ERRORS}, summary="Channel codes the caller may see")
def list_codes(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.code_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


def _owner(scope: Scope) -> str:
    """Whose Idempotency-Keys these are: one operator's keys never meet another's."""
    return f"e{scope.enterprise_id}:s{scope.staff_id}"


@router.post("/codes", response={201: CodeDetailOut, **WRITE_ERRORS},
             openapi_extra=KEY_HEADER_DOC,
             summary="Create a channel code (渠道活码; its contact way is created on WeCom). Needs an Idempotency-Key")
def create_code(request: HttpRequest, payload: CodeIn) -> Status[Any]:
    scope = _manager(request)
    return create_once(request, action="wecom.code", owner=_owner(scope), payload=payload,
                       create=lambda _key: _create_code(request, scope, payload),
                       render=lambda code_id: _code_detail(scope, code_id))


def _create_code(request: HttpRequest, scope: Scope, payload: CodeIn) -> int:
    code = channel_codes.create_channel_code(
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
    return code.pk


@router.get("/codes/{int:code_id}", response={200: CodeDetailOut, **ERRORS}, summary="A channel code")
def get_code(request: HttpRequest, code_id: int) -> dict[str, Any]:
    return _code_detail(scope_of(request), code_id)


@router.patch("/codes/{int:code_id}", response={200: CodeDetailOut, **WRITE_ERRORS}, summary="Edit a channel code")
def patch_code(request: HttpRequest, code_id: int, payload: CodePatchIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_code(scope, code_id)
    attachments = payload.welcome_attachments
    channel_codes.update_channel_code(
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
    channel_codes.disable_channel_code(scope=scope, code_id=code_id, actor=actor_of(request))
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
    row = welcome.set_default_welcome(
        scope=_hq(request), account_id=account_id, text=payload.text,
        attachments=[a.as_platform() for a in payload.attachments], actor=actor_of(request),
    )
    return {"text": row.text, "attachments": row.attachments}


@router.post("/accounts/{int:account_id}/sync", response={202: SyncRunOut, **WRITE_ERRORS},
             summary="Full customer sync (batch/get_by_user), run by the worker")
def start_sync(request: HttpRequest, account_id: int) -> Status[Any]:
    return Status(202, sync.start_sync(scope=_hq(request), account_id=account_id))


@router.get("/sync/{int:run_id}", response={200: SyncRunOut, **ERRORS}, summary="A sync run's progress")
def get_sync(request: HttpRequest, run_id: int) -> Any:
    return queries.get_sync_run(scope_of(request), run_id)


def _sync_job(request: HttpRequest, account_id: int, kind: str) -> Status[Any]:
    job = sync_jobs.start_sync_job(scope=_hq(request), account_id=account_id, kind=kind, actor=actor_of(request))
    return Status(202, job)


@router.post("/accounts/{int:account_id}/tags/sync", response={202: SyncJobOut, **WRITE_ERRORS},
             summary="Two-way tag sync (definitions both ways, then customers' tags to WeCom), run by the worker; "
                     "an open tag sync of the account is returned instead of a second one")
def sync_tags(request: HttpRequest, account_id: int) -> Status[Any]:
    return _sync_job(request, account_id, "tags")


@router.post("/accounts/{int:account_id}/groups/sync", response={202: SyncJobOut, **WRITE_ERRORS},
             summary="Import every customer group (groupchat/list + get), run by the worker")
def sync_groups(request: HttpRequest, account_id: int) -> Status[Any]:
    return _sync_job(request, account_id, "groups")


@router.post("/accounts/{int:account_id}/directory/sync", response={202: SyncJobOut, **WRITE_ERRORS},
             summary="Import the address book (departments, kept with their store/region mapping, and members; "
                     "members gone from WeCom are marked as left), run by the worker")
def sync_directory(request: HttpRequest, account_id: int) -> Status[Any]:
    return _sync_job(request, account_id, "directory")


@router.get("/sync-jobs/{int:sync_job_id}", response={200: SyncJobOut, **ERRORS},
            summary="An address-book, tag or group sync: status, then its figures (result) or its error")
def get_sync_job(request: HttpRequest, sync_job_id: int) -> Any:
    return queries.get_sync_job(scope_of(request), sync_job_id)


@router.get("/groups", response={200: GroupPage, **ERRORS}, summary="Customer groups the caller may see")
def list_groups(
    request: HttpRequest, q: Query[OrgPageQuery], search: str = "", owner_id: int | None = None,
    tag_id: int | None = None,
) -> dict[str, Any]:
    return _page(queries.group_list(scope_of(request), page=q.page, page_size=q.page_size, q=search,
                                    owner_id=owner_id, tag_id=tag_id))


@router.get("/groups/duplicates", response={200: DuplicateMemberPage, **ERRORS},
            summary="Customers in more than one of the caller's groups (most groups first)")
def duplicate_members(request: HttpRequest, q: Query[OrgPageQuery]) -> dict[str, Any]:
    found = queries.duplicate_members(scope_of(request), page=q.page, page_size=q.page_size)
    return {"items": [vars(d) for d in found.items], "total": found.total, "page": found.page,
            "page_size": found.page_size, "pages": found.pages}


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
             openapi_extra=KEY_HEADER_DOC,
             summary="Customer inheritance (离职继承 / 在职继承). Needs an Idempotency-Key")
def start_transfer(request: HttpRequest, payload: TransferIn) -> Status[Any]:
    scope = _manager(request)

    def start(_key: str) -> int:
        return inheritance.start_transfer(
            scope=scope, account_id=payload.account_id, kind=payload.kind, handover_id=payload.handover_id,
            takeover_id=payload.takeover_id, customer_ids=payload.customer_ids, message=payload.message,
            actor=actor_of(request),
        ).pk

    return create_once(request, action="wecom.transfer", owner=_owner(scope), payload=payload, create=start,
                       render=lambda job_id: queries.get_transfer(scope, job_id))


@router.get("/transfers", response={200: TransferPage, **ERRORS}, summary="Inheritances")
def list_transfers(request: HttpRequest, q: Query[OrgPageQuery]) -> dict[str, Any]:
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


@router.get("/transfers/{int:job_id}/items", response={200: TransferItemPage, **ERRORS},
            summary="An inheritance's customers, a page at a time, with counts per result and each errcode's meaning")
def list_transfer_items(
    request: HttpRequest, job_id: int, q: Query[OrgPageQuery], status: str = ""
) -> dict[str, Any]:
    scope = scope_of(request)
    page = queries.transfer_items_page(scope, job_id, status=status, page=q.page, page_size=q.page_size)
    items = [{**{f: getattr(i, f) for f in TransferItemOut.model_fields}, "reason": errcodes.describe(i.errcode)}
             for i in page.items]
    return {**_page(page), "items": items, "counts": queries.transfer_item_counts(scope, job_id)}


@router.get("/outbox", response={200: CallPage, **ERRORS}, summary="Outbound WeCom calls and their state (HQ)")
def list_outbox(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.outbox(scope_of(request), status=status, page=q.page, page_size=q.page_size))


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈)


def _mass_send_detail(scope: Scope, mass_send_id: int, status: str = "") -> dict[str, Any]:
    mass_send = queries.get_mass_send(scope, mass_send_id)
    return {
        **{f: getattr(mass_send, f) for f in WecomMassSendOut.model_fields},
        "customer_ids": mass_send.customer_ids,
        "tag_ids": [t.pk for t in mass_send.tags.all()],
        "group_ids": [g.pk for g in mass_send.groups.all()],
        "senders": queries.mass_send_senders(scope, mass_send_id),
        "recipients": queries.mass_send_recipients(scope, mass_send_id, status=status),
    }


@router.get("/mass-sends/{int:mass_send_id}/recipients", response={200: WecomMassSendRecipientPage, **ERRORS},
            summary="A mass send's recipients in scope, a page at a time, with counts per result")
def list_mass_send_recipients(
    request: HttpRequest, mass_send_id: int, q: Query[OrgPageQuery], status: str = ""
) -> dict[str, Any]:
    scope = scope_of(request)
    page = queries.mass_send_recipients_page(scope, mass_send_id, status=status, page=q.page, page_size=q.page_size)
    items = [
        {**{f: getattr(r, f) for f in WecomMassSendRecipientOut.model_fields},
         "reason_text": errcodes.describe_text(r.reason)}
        for r in page.items
    ]
    return {**_page(page), "items": items, "counts": queries.mass_send_recipient_counts(scope, mass_send_id)}


@router.post("/mass-sends", response={201: WecomMassSendDetailOut, **WRITE_ERRORS},
             openapi_extra=KEY_HEADER_DOC,
             summary="Create a mass send (群发) to customers or customer groups; a draft unless submit is true. "
                     "Needs an Idempotency-Key")
def create_mass_send(request: HttpRequest, payload: WecomMassSendIn) -> Status[Any]:
    scope = scope_of(request)

    def create(_key: str) -> int:
        mass_send = mass_sends.create_mass_send(
            scope=scope, account_id=payload.account_id, kind=payload.kind, sender_ids=payload.sender_ids,
            name=payload.name, customer_ids=payload.customer_ids, tag_ids=payload.tag_ids,
            group_ids=payload.group_ids, text=payload.text, attachments=[a.as_platform() for a in payload.attachments],
            submit=payload.submit, actor=actor_of(request),
        )
        return mass_send.pk

    return create_once(request, action="wecom.mass_send", owner=_owner(scope), payload=payload, create=create,
                       render=lambda mass_send_id: _mass_send_detail(scope, mass_send_id))


@router.get("/mass-sends", response={200: WecomMassSendPage, **ERRORS},
            summary="Mass sends the caller may see, with sent / unsent counts")
def list_mass_sends(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.mass_send_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


@router.get("/mass-sends/{int:mass_send_id}", response={200: WecomMassSendDetailOut, **ERRORS},
            summary="A mass send with its senders and per-recipient results (first 1000; filter by status)")
def get_mass_send(request: HttpRequest, mass_send_id: int, status: str = "") -> dict[str, Any]:
    return _mass_send_detail(scope_of(request), mass_send_id, status)


@router.post("/mass-sends/{int:mass_send_id}/submit", response={200: WecomMassSendDetailOut, **WRITE_ERRORS},
             summary="Submit a draft: resolve recipients and queue add_msg_template per sender")
def submit_mass_send(request: HttpRequest, mass_send_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_mass_send(scope, mass_send_id)
    mass_sends.submit_mass_send(scope=scope, mass_send_id=mass_send_id, actor=actor_of(request))
    return _mass_send_detail(scope, mass_send_id)


@router.post("/mass-sends/{int:mass_send_id}/refresh", response={200: WecomMassSendDetailOut, **WRITE_ERRORS},
             summary="Poll WeCom now for the senders' and recipients' results")
def refresh_mass_send(request: HttpRequest, mass_send_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_mass_send(scope, mass_send_id)
    mass_sends.refresh_mass_send(scope=scope, mass_send_id=mass_send_id)
    return _mass_send_detail(scope, mass_send_id)


def _moment_detail(scope: Scope, task_id: int) -> dict[str, Any]:
    task = queries.get_moment(scope, task_id)
    return {
        **{f: getattr(task, f) for f in WecomMomentDetailOut.model_fields if f not in ("staff", "tag_ids")},
        "staff": list(task.staff.all()),
        "tag_ids": [t.pk for t in task.tags.all()],
    }


@router.post("/moments", response={201: WecomMomentDetailOut, **WRITE_ERRORS},
             openapi_extra=KEY_HEADER_DOC,
             summary="Create a moment task (朋友圈); a draft unless submit is true. Needs an Idempotency-Key")
def create_moment(request: HttpRequest, payload: WecomMomentIn) -> Status[Any]:
    scope = scope_of(request)

    def create(_key: str) -> int:
        task = moments.create_moment_task(
            scope=scope, account_id=payload.account_id, text=payload.text,
            attachments=[a.as_platform() for a in payload.attachments], staff_ids=payload.staff_ids,
            tag_ids=payload.tag_ids, submit=payload.submit, actor=actor_of(request),
        )
        return task.pk

    return create_once(request, action="wecom.moment", owner=_owner(scope), payload=payload, create=create,
                       render=lambda task_id: _moment_detail(scope, task_id))


@router.get("/moments", response={200: WecomMomentPage, **ERRORS}, summary="Moment tasks the caller may see")
def list_moments(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.moment_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


@router.get("/moments/{int:task_id}", response={200: WecomMomentDetailOut, **ERRORS}, summary="A moment task")
def get_moment(request: HttpRequest, task_id: int) -> dict[str, Any]:
    return _moment_detail(scope_of(request), task_id)


@router.post("/moments/{int:task_id}/submit", response={200: WecomMomentDetailOut, **WRITE_ERRORS},
             summary="Submit a draft (or a task WeCom rejected) through add_moment_task")
def submit_moment(request: HttpRequest, task_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_moment(scope, task_id)
    moments.submit_moment_task(scope=scope, task_id=task_id, actor=actor_of(request))
    return _moment_detail(scope, task_id)


@router.post("/moments/{int:task_id}/refresh", response={200: WecomMomentDetailOut, **WRITE_ERRORS},
             summary="Poll get_moment_task_result now")
def refresh_moment(request: HttpRequest, task_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_moment(scope, task_id)
    moments.refresh_moment_task(scope=scope, task_id=task_id)
    return _moment_detail(scope, task_id)


# ---------------------------------------------------------------------------------------------------------------
# Group codes (群活码)


def _group_code(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_group_code(scope, code_id)
    return {f: getattr(code, f) for f in GroupCodeOut.model_fields}


@router.get("/group-codes", response={200: GroupCodePage, **ERRORS}, summary="Group codes the caller may see")
def list_group_codes(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.group_code_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


@router.post("/group-codes", response={201: GroupCodeOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="Create a group code (群活码) over an ordered set of groups of one corp. Needs an Idempotency-Key")
def create_group_code(request: HttpRequest, payload: GroupCodeIn) -> Status[Any]:
    scope = _manager(request)
    return create_once(request, action="wecom.group_code", owner=_owner(scope), payload=payload,
                       create=lambda _key: group_codes.create_group_code(
                           scope=scope, account_id=payload.account_id, name=payload.name,
                           group_ids=payload.group_ids, cap=payload.cap, store_id=payload.store_id,
                           state=payload.state, actor=actor_of(request)).pk,
                       render=lambda code_id: _group_code(scope, code_id))


@router.get("/group-codes/{int:group_code_id}", response={200: GroupCodeOut, **ERRORS}, summary="A group code")
def get_group_code(request: HttpRequest, group_code_id: int) -> dict[str, Any]:
    return _group_code(scope_of(request), group_code_id)


@router.post("/group-codes/{int:group_code_id}/groups", response={200: GroupCodeOut, **WRITE_ERRORS},
             summary="Append groups to a group code (after its 'create a group' notice); it rolls onto them")
def add_group_code_groups(request: HttpRequest, group_code_id: int, payload: GroupCodeGroupsIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_group_code(scope, group_code_id)
    group_codes.add_groups(scope=scope, code_id=group_code_id, group_ids=payload.group_ids, actor=actor_of(request))
    return _group_code(scope, group_code_id)


@router.post("/group-codes/{int:group_code_id}/disable", response={200: GroupCodeOut, **WRITE_ERRORS},
             summary="Disable a group code (its join way is deleted; its groups are free again)")
def disable_group_code(request: HttpRequest, group_code_id: int) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_group_code(scope, group_code_id)
    group_codes.disable_group_code(scope=scope, code_id=group_code_id, actor=actor_of(request))
    return _group_code(scope, group_code_id)


@router.get("/group-codes/{int:group_code_id}/stats", response={200: GroupCodeStatsOut, **ERRORS},
            summary="Scans, joins, quits and net by day, and per group")
def group_code_stats(request: HttpRequest, group_code_id: int, days: int = 30) -> dict[str, Any]:
    stats = queries.group_code_stats(scope_of(request), group_code_id, days=max(1, min(days, 366)))
    return {
        "scans": stats.scans, "joins": stats.joins, "quits": stats.quits, "net": stats.net,
        "groups": [vars(g) for g in stats.groups],
        "days": [{"day": d.day, "scans": d.scans, "joins": d.joins, "quits": d.quits, "net": d.net}
                 for d in stats.days],
        "open_notices": [{"message": n.message, "staff_id": n.staff_id, "created_at": n.created_at}
                         for n in stats.open_notices],
    }


def _schedules(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_group_code(scope, code_id)
    stats = queries.group_code_stats(scope, code_id, days=1)
    return {
        "code_id": code.pk, "cap": code.cap, "timed": code.timed, "active_chat_ids": code.active_chat_ids,
        "groups": [{"group_id": g.group_id, "chat_id": g.chat_id, "name": g.name, "members": g.members,
                    "cap": g.own_cap, "effective_cap": g.cap, "hours": list(g.hours), "in_hours": g.in_hours,
                    "current": g.current, "full": g.full} for g in stats.groups],
    }


@router.get("/group-codes/{int:group_code_id}/schedules", response={200: GroupSchedulesOut, **ERRORS},
            summary="A group code's groups with their own caps and hours, and which are open now")
def get_group_code_schedules(request: HttpRequest, group_code_id: int) -> dict[str, Any]:
    return _schedules(scope_of(request), group_code_id)


@router.put("/group-codes/{int:group_code_id}/schedules", response={200: GroupSchedulesOut, **WRITE_ERRORS},
            summary="Replace a group code's per-group caps and hours (a group not listed: the code's cap, always)")
def put_group_code_schedules(request: HttpRequest, group_code_id: int, payload: GroupSchedulesIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_group_code(scope, group_code_id)
    group_codes.set_group_schedules(
        scope=scope, code_id=group_code_id, actor=actor_of(request),
        groups=[group_codes.GroupScheduleIn(group_id=g.group_id, cap=g.cap, hours=[w.model_dump() for w in g.hours])
                for g in payload.groups],
    )
    return _schedules(scope, group_code_id)


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates (入群欢迎语素材)


def _welcome(scope: Scope, welcome_id: int) -> dict[str, Any]:
    found = queries.get_group_welcome(scope, welcome_id)
    return {f: getattr(found, f) for f in GroupWelcomeOut.model_fields}


def _attachment(raw: Any) -> dict[str, Any] | None:
    return raw.model_dump(exclude_none=True) if raw is not None else None


def _welcome_attachment(scope: Scope, account_id: int, payload: Any) -> dict[str, Any] | None:
    """The typed attachment, or the material's (resolved before the write: it may upload to WeCom)."""
    if payload.material_id is None:
        return _attachment(payload.attachment)
    if payload.attachment is not None:
        raise ValidationFailed(_("give an attachment or a material_id, not both"), field="material_id",
                               code="attachment_and_material")
    return group_welcome.material_attachment(scope=scope, account_id=account_id, material_id=payload.material_id)


@router.get("/group-welcomes", response={200: GroupWelcomePage, **ERRORS},
            summary="Group welcome templates (入群欢迎语素材) of the enterprise")
def list_group_welcomes(request: HttpRequest, q: Query[OrgPageQuery], status: str = "") -> dict[str, Any]:
    return _page(queries.group_welcome_list(scope_of(request), page=q.page, page_size=q.page_size, status=status))


@router.post("/group-welcomes", response={201: GroupWelcomeOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="Create a group welcome template and push it to WeCom (HQ). Needs an Idempotency-Key")
def create_group_welcome(request: HttpRequest, payload: GroupWelcomeIn) -> Status[Any]:
    scope = _hq(request)
    attachment = _welcome_attachment(scope, payload.account_id, payload)
    return create_once(request, action="wecom.group_welcome", owner=_owner(scope), payload=payload,
                       create=lambda _key: group_welcome.create_group_welcome(
                           scope=scope, account_id=payload.account_id, name=payload.name, text=payload.text,
                           attachment=attachment, notify=payload.notify,
                           actor=actor_of(request)).pk,
                       render=lambda welcome_id: _welcome(scope, welcome_id))


@router.get("/group-welcomes/{int:welcome_id}", response={200: GroupWelcomeOut, **ERRORS},
            summary="A group welcome template, with WeCom's template id and its last refusal")
def get_group_welcome(request: HttpRequest, welcome_id: int) -> dict[str, Any]:
    return _welcome(scope_of(request), welcome_id)


@router.patch("/group-welcomes/{int:welcome_id}", response={200: GroupWelcomeOut, **WRITE_ERRORS},
              summary="Change a group welcome template (HQ); a new text or attachment is pushed to WeCom as an edit")
def update_group_welcome(request: HttpRequest, welcome_id: int, payload: GroupWelcomePatch) -> dict[str, Any]:
    scope = _hq(request)
    welcome = queries.get_group_welcome(scope, welcome_id)
    group_welcome.update_group_welcome(scope=scope, welcome_id=welcome_id, name=payload.name, text=payload.text,
                                       attachment=_welcome_attachment(scope, welcome.account_id, payload),
                                       clear_attachment=payload.clear_attachment, actor=actor_of(request))
    return _welcome(scope, welcome_id)


@router.delete("/group-welcomes/{int:welcome_id}", response={204: None, **WRITE_ERRORS},
               summary="Delete a group welcome template here and on WeCom (HQ); its bindings go with it")
def delete_group_welcome(request: HttpRequest, welcome_id: int) -> Status[None]:
    scope = _hq(request)
    group_welcome.delete_group_welcome(scope=scope, welcome_id=welcome_id, actor=actor_of(request))
    return Status(204, None)


def _binding(welcome: Any, source: str) -> dict[str, Any]:
    return {"welcome_id": welcome.pk if welcome else None, "name": welcome.name if welcome else "",
            "template_id": welcome.template_id if welcome else "", "source": source}


@router.get("/group-codes/{int:group_code_id}/welcome", response={200: WelcomeBindingOut, **ERRORS},
            summary="The welcome template a group code's groups greet joiners with")
def get_group_code_welcome(request: HttpRequest, group_code_id: int) -> dict[str, Any]:
    found = queries.code_welcome(scope_of(request), group_code_id)
    return _binding(found, "code" if found else "")


@router.put("/group-codes/{int:group_code_id}/welcome", response={200: WelcomeBindingOut, **WRITE_ERRORS},
            summary="Bind a welcome template to every group of a group code (null: none)")
def put_group_code_welcome(request: HttpRequest, group_code_id: int, payload: WelcomeBindingIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_group_code(scope, group_code_id)
    group_welcome.bind_group_code(scope=scope, code_id=group_code_id, welcome_id=payload.welcome_id,
                                  actor=actor_of(request))
    found = queries.code_welcome(scope, group_code_id)
    return _binding(found, "code" if found else "")


@router.get("/groups/{int:group_id}/welcome", response={200: WelcomeBindingOut, **ERRORS},
            summary="The welcome template a group's owner should apply: its own, else its group code's")
def get_group_welcome_binding(request: HttpRequest, group_id: int) -> dict[str, Any]:
    found = queries.group_welcome_of(scope_of(request), group_id)
    return _binding(found.welcome, found.source)


@router.put("/groups/{int:group_id}/welcome", response={200: WelcomeBindingOut, **WRITE_ERRORS},
            summary="Bind a welcome template to one group, over its code's (null: back to the code's)")
def put_group_welcome_binding(request: HttpRequest, group_id: int, payload: WelcomeBindingIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_group(scope, group_id)
    group_welcome.bind_group(scope=scope, group_id=group_id, welcome_id=payload.welcome_id, actor=actor_of(request))
    found = queries.group_welcome_of(scope, group_id)
    return _binding(found.welcome, found.source)


# ---------------------------------------------------------------------------------------------------------------
# Group tags


@router.get("/group-tags", response={200: list[GroupTagOut], **ERRORS},
            summary="The enterprise's group tags, with how many groups the caller may see carry each")
def list_group_tags(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"id": t.pk, "name": t.name, "group_count": t.group_count}  # type: ignore[attr-defined]
            for t in queries.group_tags(scope_of(request))[:500]]


@router.post("/group-tags", response={201: GroupTagOut, **WRITE_ERRORS},
             summary="Create a group tag (managers and HQ); a name in use is 409 duplicate")
def create_group_tag(request: HttpRequest, payload: GroupTagIn) -> Status[Any]:
    tag = group_tags.create_group_tag(scope=scope_of(request), name=payload.name, actor=actor_of(request))
    return Status(201, {"id": tag.pk, "name": tag.name, "group_count": 0})


@router.delete("/group-tags/{int:group_tag_id}", response={204: None, **WRITE_ERRORS},
               summary="Delete a group tag from every group (HQ)")
def delete_group_tag(request: HttpRequest, group_tag_id: int) -> Status[None]:
    group_tags.delete_group_tag(scope=scope_of(request), tag_id=group_tag_id, actor=actor_of(request))
    return Status(204, None)


@router.get("/groups/{int:group_id}/tags", response={200: list[GroupTagOut], **ERRORS}, summary="A group's tags")
def get_group_tags(request: HttpRequest, group_id: int) -> list[dict[str, Any]]:
    return [{"id": t.pk, "name": t.name, "group_count": 0} for t in queries.tags_of_group(scope_of(request), group_id)]


@router.put("/groups/{int:group_id}/tags", response={200: list[GroupTagOut], **WRITE_ERRORS},
            summary="Set a group's tags (the list replaces the old one; managers and HQ)")
def put_group_tags(request: HttpRequest, group_id: int, payload: GroupTagsIn) -> list[dict[str, Any]]:
    scope = scope_of(request)
    group_tags.set_group_tags(scope=scope, group_id=group_id, tag_ids=payload.tag_ids, actor=actor_of(request))
    return [{"id": t.pk, "name": t.name, "group_count": 0} for t in queries.tags_of_group(scope, group_id)]


# ---------------------------------------------------------------------------------------------------------------
# Group analytics


@router.get("/group-analytics/conversion", response={200: GroupConversionOut, **ERRORS},
            summary="Share of group members vs non-members who paid an order in the range, per group or store (by)")
def group_conversion(request: HttpRequest, by: str = "group", start: date | None = None,
                     end: date | None = None) -> Any:
    return queries.group_conversion(scope_of(request), by=by, start=start, end=end)


@router.get("/group-analytics", response={200: GroupAnalyticsOut, **ERRORS},
            summary="Customers' joins, quits and net per Shanghai day and per group, group code or owner (by)")
def group_analytics(request: HttpRequest, q: Query[OrgPageQuery], by: str = "group", start: date | None = None,
                    end: date | None = None) -> dict[str, Any]:
    found = queries.group_analytics(scope_of(request), by=by, start=start, end=end, page=q.page,
                                    page_size=q.page_size)
    return {
        "by": found.by, "start": found.start, "end": found.end, "joins": found.joins, "quits": found.quits,
        "net": found.net, "total_rows": found.total_rows, "page": found.page, "pages": found.pages,
        "days": [{"day": d.day, "joins": d.joins, "quits": d.quits, "net": d.net, "members": d.members}
                 for d in found.days],
        "rows": [{"key": r.key, "name": r.name, "joins": r.joins, "quits": r.quits, "net": r.net,
                  "members": r.members} for r in found.rows],
    }


@router.get("/group-analytics/export", response={200: None, **ERRORS},
            summary="The same figures as an Excel workbook: by day, and by day and group | code | owner")
def group_analytics_export(request: HttpRequest, by: str = "group", start: date | None = None,
                           end: date | None = None) -> HttpResponse:
    body, filename = group_sheets.analytics_xlsx(scope_of(request), by=by, start=start, end=end)
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------------------------------------------------------
# Group inheritance (a resigned owner's groups)


def _group_transfer(scope: Scope, transfer_id: int) -> dict[str, Any]:
    job = queries.get_group_transfer(scope, transfer_id)
    return {
        "id": job.pk, "account_id": job.account_id, "handover_id": job.handover_id, "takeover_id": job.takeover_id,
        "status": job.status, "created_at": job.created_at, "finished_at": job.finished_at,
        "items": [{"group_id": i.group_id, "chat_id": i.group.chat_id, "name": i.group.name, "status": i.status,
                   "errcode": i.errcode, "reason": i.reason} for i in queries.group_transfer_items(scope, job.pk)],
    }


@router.post("/group-transfers", response={201: GroupTransferOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="Hand a resigned owner's customer groups to another staff member (groupchat/transfer)")
def create_group_transfer(request: HttpRequest, payload: GroupTransferIn) -> Status[Any]:
    scope = _manager(request)
    return create_once(request, action="wecom.group_transfer", owner=_owner(scope), payload=payload,
                       create=lambda _key: group_inheritance.create_group_transfer(
                           scope=scope, account_id=payload.account_id, handover_id=payload.handover_id,
                           takeover_id=payload.takeover_id, actor=actor_of(request)).pk,
                       render=lambda transfer_id: _group_transfer(scope, transfer_id))


@router.get("/group-transfers/{int:group_transfer_id}", response={200: GroupTransferOut, **ERRORS},
            summary="A group inheritance with each group's outcome (and the platform's refusals)")
def get_group_transfer(request: HttpRequest, group_transfer_id: int) -> dict[str, Any]:
    return _group_transfer(scope_of(request), group_transfer_id)


# ---------------------------------------------------------------------------------------------------------------
# Auto-pull routes and keyword groups


def _routes(routes: list[GroupRouteIn]) -> list[auto_pull.RouteIn]:
    return [auto_pull.RouteIn(group_code_id=r.group_code_id, tag_id=r.tag_id, store_id=r.store_id) for r in routes]


@router.put("/codes/{int:code_id}/group-routes", response={200: list[GroupRouteOut], **WRITE_ERRORS},
            summary="Auto-pull: which group code a channel code's welcome links to, by the customer's tag or store")
def put_group_routes(request: HttpRequest, code_id: int, payload: GroupRoutesIn) -> list[Any]:
    scope = _manager(request)
    queries.get_code(scope, code_id)
    auto_pull.set_channel_code_routes(scope=scope, code_id=code_id, routes=_routes(payload.routes),
                                      actor=actor_of(request))
    return queries.channel_code_routes(scope, code_id)


@router.get("/codes/{int:code_id}/group-routes", response={200: list[GroupRouteOut], **ERRORS},
            summary="A channel code's auto-pull routes")
def get_group_routes(request: HttpRequest, code_id: int) -> list[Any]:
    return queries.channel_code_routes(scope_of(request), code_id)


def _controls(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_code(scope, code_id)
    return {
        "members": [{"staff_id": m.staff_id, "staff_name": m.staff.name, "is_backup": m.is_backup,
                     "daily_cap": m.daily_cap, "shifts": m.shifts} for m in code.members.all()],
        "auto_accept_windows": code.auto_accept_windows, "no_welcome_nicknames": code.no_welcome_nicknames,
        "skip_verify": code.skip_verify, "live_skip_verify": code.live_skip_verify,
        "active_userids": code.active_userids,
    }


@router.get("/codes/{int:code_id}/controls", response={200: CodeControlsOut, **ERRORS},
            summary="A channel code's members with work schedules and backups, auto-accept hours, no-welcome nicknames")
def get_code_controls(request: HttpRequest, code_id: int) -> dict[str, Any]:
    return _controls(scope_of(request), code_id)


@router.put("/codes/{int:code_id}/controls", response={200: CodeControlsOut, **WRITE_ERRORS},
            summary="Replace a channel code's members (hand-out order), schedules, backups, caps and controls")
def put_code_controls(request: HttpRequest, code_id: int, payload: CodeControlsIn) -> dict[str, Any]:
    scope = _manager(request)
    queries.get_code(scope, code_id)
    code_controls.set_code_controls(
        scope=scope, code_id=code_id,
        members=[code_controls.MemberIn(staff_id=m.staff_id, is_backup=m.is_backup, daily_cap=m.daily_cap,
                                        shifts=[w.model_dump() for w in m.shifts]) for m in payload.members],
        auto_accept_windows=[w.model_dump() for w in payload.auto_accept_windows],
        no_welcome_nicknames=payload.no_welcome_nicknames, actor=actor_of(request),
    )
    return _controls(scope, code_id)


def _keyword_group(scope: Scope, keyword_group_id: int) -> dict[str, Any]:
    group = queries.get_keyword_group(scope, keyword_group_id)
    return {"id": group.pk, "oa_account_id": group.oa_account_id, "keyword": group.keyword,
            "reply_text": group.reply_text, "is_active": group.is_active,
            "routes": list(group.routes.order_by("sort", "id"))}


@router.get("/keyword-groups", response={200: KeywordGroupPage, **ERRORS}, summary="Keyword groups (关键词拉群)")
def list_keyword_groups(request: HttpRequest, q: Query[OrgPageQuery]) -> dict[str, Any]:
    found = queries.keyword_group_list(scope_of(request), page=q.page, page_size=q.page_size)
    return {"items": [_keyword_group(scope_of(request), g.pk) for g in found.items], "total": found.total,
            "page": found.page, "page_size": found.page_size, "pages": found.pages}


@router.post("/keyword-groups", response={201: KeywordGroupOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="A keyword sent to the Official Account answered with a group's invitation (HQ)")
def create_keyword_group(request: HttpRequest, payload: KeywordGroupIn) -> Status[Any]:
    scope = _hq(request)
    return create_once(request, action="wecom.keyword_group", owner=_owner(scope), payload=payload,
                       create=lambda _key: keyword_groups.create_keyword_group(
                           scope=scope, oa_account_id=payload.oa_account_id, keyword=payload.keyword,
                           routes=_routes(payload.routes), reply_text=payload.reply_text,
                           actor=actor_of(request)).pk,
                       render=lambda group_id: _keyword_group(scope, group_id))


@router.get("/keyword-groups/{int:keyword_group_id}", response={200: KeywordGroupOut, **ERRORS},
            summary="A keyword group")
def get_keyword_group(request: HttpRequest, keyword_group_id: int) -> dict[str, Any]:
    return _keyword_group(scope_of(request), keyword_group_id)


@router.patch("/keyword-groups/{int:keyword_group_id}", response={200: KeywordGroupOut, **WRITE_ERRORS},
              summary="Change a keyword group's keyword, reply, routes or pause it (HQ)")
def update_keyword_group(request: HttpRequest, keyword_group_id: int, payload: KeywordGroupPatch) -> dict[str, Any]:
    scope = _hq(request)
    queries.get_keyword_group(scope, keyword_group_id)
    keyword_groups.update_keyword_group(
        scope=scope, keyword_group_id=keyword_group_id, keyword=payload.keyword, reply_text=payload.reply_text,
        is_active=payload.is_active, routes=_routes(payload.routes) if payload.routes is not None else None,
        actor=actor_of(request))
    return _keyword_group(scope, keyword_group_id)


@router.delete("/keyword-groups/{int:keyword_group_id}", response={204: None, **WRITE_ERRORS},
               summary="Delete a keyword group (HQ); the keyword is free for an OA keyword reply again")
def delete_keyword_group(request: HttpRequest, keyword_group_id: int) -> Status[None]:
    scope = _hq(request)
    queries.get_keyword_group(scope, keyword_group_id)
    keyword_groups.delete_keyword_group(scope=scope, keyword_group_id=keyword_group_id, actor=actor_of(request))
    return Status(204, None)


# ---------------------------------------------------------------------------------------------------------------
# Tag-built groups (标签建群)


def _tag_group(scope: Scope, task_id: int) -> dict[str, Any]:
    task = queries.get_tag_group(scope, task_id)
    results = queries.tag_group_results(scope, task_id)
    return {"id": task.pk, "name": task.name, "group_code_id": task.group_code_id,
            "tag_ids": sorted(t.pk for t in task.tags.all()), "match": task.tag_match,
            "segment_id": task.segment_id, "segment_name": task.segment_name, "status": task.status,
            "staff_total": results.staff_total, "staff_sent": results.staff_sent, "invited": results.invited,
            "delivered": results.delivered, "joined": results.joined}


@router.post("/tag-built-groups", response={201: TagGroupOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="Tag-built group (标签建群): invite the customers with the tags (or a segment's members) into a "
                     "group code's groups, through each following staff member's mass send. Needs an Idempotency-Key")
def create_tag_group(request: HttpRequest, payload: TagGroupIn) -> Status[Any]:
    scope = _manager(request)
    queries.get_group_code(scope, payload.group_code_id)
    return create_once(request, action="wecom.tag_group", owner=_owner(scope), payload=payload,
                       create=lambda _key: tag_groups.create_tag_group(
                           scope=scope, account_id=payload.account_id, group_code_id=payload.group_code_id,
                           tag_ids=payload.tag_ids, match=payload.match, segment_id=payload.segment_id,
                           name=payload.name, text=payload.text, actor=actor_of(request)).pk,
                       render=lambda task_id: _tag_group(scope, task_id))


@router.get("/tag-built-groups", response={200: TagGroupPage, **ERRORS}, summary="Tag-built groups with their progress")
def list_tag_groups(request: HttpRequest, q: Query[OrgPageQuery]) -> dict[str, Any]:
    scope = scope_of(request)
    found = queries.tag_group_list(scope, page=q.page, page_size=q.page_size)
    return {"items": [_tag_group(scope, t.pk) for t in found.items], "total": found.total, "page": found.page,
            "page_size": found.page_size, "pages": found.pages}


@router.get("/tag-built-groups/{int:tag_built_id}", response={200: TagGroupOut, **ERRORS},
            summary="A tag-built group: staff who sent, customers invited, delivered, and who joined")
def get_tag_group(request: HttpRequest, tag_built_id: int) -> dict[str, Any]:
    return _tag_group(scope_of(request), tag_built_id)


# ---------------------------------------------------------------------------------------------------------------
# Group SOP (社群SOP)


def _sop_attachments(scope: Scope, account_id: int, typed: Any, material_ids: list[int] | None) -> Any:
    """Typed attachments plus the materials' (resolved before the write: a material may be uploaded to WeCom)."""
    if typed is None and material_ids is None:
        return None
    out = [a.as_platform() for a in typed or []]
    if material_ids:
        out += group_sop.material_attachments(scope=scope, account_id=account_id, material_ids=material_ids)
    return out


def _sop_run(run: Any) -> dict[str, Any]:
    return {"id": run.pk, "sop_id": run.sop_id, "occurrence": run.occurrence, "status": run.status,
            "group_ids": run.group_ids, "owner_ids": run.owner_ids, "error": run.error,
            "mass_send_ids": sorted(run.mass_sends.values_list("id", flat=True))}


@router.get("/group-sops", response={200: GroupSopPage, **ERRORS},
            summary="Group SOPs (社群SOP): scheduled group messages and owner reminders per group set")
def list_group_sops(request: HttpRequest, q: Query[OrgPageQuery]) -> dict[str, Any]:
    return _page(queries.group_sop_list(scope_of(request), page=q.page, page_size=q.page_size))


@router.post("/group-sops", response={201: GroupSopOut, **WRITE_ERRORS}, openapi_extra=KEY_HEADER_DOC,
             summary="Schedule a group SOP over a group tag's or a group code's groups (HQ). Needs an Idempotency-Key")
def create_group_sop(request: HttpRequest, payload: GroupSopIn) -> Status[Any]:
    scope = _hq(request)
    attachments = _sop_attachments(scope, payload.account_id, payload.attachments, payload.material_ids) or []
    return create_once(request, action="wecom.group_sop", owner=_owner(scope), payload=payload,
                       create=lambda _key: group_sop.create_group_sop(
                           scope=scope, account_id=payload.account_id, name=payload.name,
                           group_tag_id=payload.group_tag_id, group_code_id=payload.group_code_id, text=payload.text,
                           attachments=attachments, send_messages=payload.send_messages,
                           remind_owners=payload.remind_owners, repeat=payload.repeat,
                           time_of_day=payload.time_of_day, weekdays=payload.weekdays,
                           start_date=payload.start_date, end_date=payload.end_date, actor=actor_of(request)).pk,
                       render=lambda sop_id: queries.get_group_sop(scope, sop_id))


@router.get("/group-sops/{int:sop_id}", response={200: GroupSopOut, **ERRORS}, summary="A group SOP")
def get_group_sop(request: HttpRequest, sop_id: int) -> Any:
    return queries.get_group_sop(scope_of(request), sop_id)


@router.patch("/group-sops/{int:sop_id}", response={200: GroupSopOut, **WRITE_ERRORS},
              summary="Change, pause (is_active false) or resume a group SOP (HQ)")
def update_group_sop(request: HttpRequest, sop_id: int, payload: GroupSopPatch) -> Any:
    scope = _hq(request)
    sop = queries.get_group_sop(scope, sop_id)
    group_sop.update_group_sop(
        scope=scope, sop_id=sop_id, name=payload.name, text=payload.text,
        attachments=_sop_attachments(scope, sop.account_id, payload.attachments, payload.material_ids),
        send_messages=payload.send_messages, remind_owners=payload.remind_owners, repeat=payload.repeat,
        time_of_day=payload.time_of_day, start_date=payload.start_date, weekdays=payload.weekdays,
        end_date=payload.end_date, clear_end_date=payload.clear_end_date, is_active=payload.is_active,
        actor=actor_of(request))
    return queries.get_group_sop(scope, sop_id)


@router.delete("/group-sops/{int:sop_id}", response={204: None, **WRITE_ERRORS},
               summary="Delete a group SOP and its run history (HQ); the mass sends it made stay")
def delete_group_sop(request: HttpRequest, sop_id: int) -> Status[None]:
    scope = _hq(request)
    group_sop.delete_group_sop(scope=scope, sop_id=sop_id, actor=actor_of(request))
    return Status(204, None)


@router.get("/group-sops/{int:sop_id}/runs", response={200: GroupSopRunPage, **ERRORS},
            summary="A group SOP's runs, newest first")
def list_group_sop_runs(request: HttpRequest, sop_id: int, q: Query[OrgPageQuery]) -> dict[str, Any]:
    found = queries.group_sop_runs(scope_of(request), sop_id, page=q.page, page_size=q.page_size)
    return {**_page(found), "items": [_sop_run(r) for r in found.items]}


@router.get("/group-sop-runs/{int:sop_run_id}", response={200: GroupSopRunDetailOut, **ERRORS},
            summary="One run of a group SOP with the result per group (the groups the caller may see)")
def get_group_sop_run(request: HttpRequest, sop_run_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    run = queries.get_group_sop_run(scope, sop_run_id)
    return {**_sop_run(run), "groups": queries.group_sop_run_results(scope, sop_run_id)}
