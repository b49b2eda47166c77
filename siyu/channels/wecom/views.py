"""WeCom's HTTP endpoints: the callback URL the platform calls, the landing page a channel code's QR opens, and the
console pages for channel codes, groups, inheritance, mass sends, moments and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from siyu.channels.common import authenticity
from siyu.channels.official_account import queries as oa_queries
from siyu.channels.wecom import (
    attachment_sources,
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
    inbound,
    inheritance,
    keyword_groups,
    mass_sends,
    moments,
    queries,
    schedules,
    sync,
    sync_jobs,
    tag_groups,
)
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.forms import (
    CodeControlsForm,
    CodeForm,
    CodeMemberFormSet,
    GroupAnalyticsForm,
    GroupCodeForm,
    GroupCodeGroupsForm,
    GroupScheduleFormSet,
    GroupSopForm,
    GroupSopNewForm,
    GroupTagsForm,
    GroupTransferForm,
    GroupWelcomeForm,
    GroupWelcomeNewForm,
    KeywordGroupForm,
    MassSendForm,
    MomentForm,
    RouteFormSet,
    TagGroupForm,
    TransferForm,
    WelcomeBindForm,
)
from siyu.console.access import scope_of
from siyu.console.once import create_once
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.core.http import client_ip
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org.scope import Scope


@csrf_exempt
def callback(request: HttpRequest, account_id: int) -> HttpResponse:
    """GET: URL verification (the plaintext echostr, nothing else). POST: an event, acked with an empty 200.
    A body over the callback limit is 413 before it is read, as on the ASGI fast path."""
    query = {key: request.GET.get(key, "") for key in request.GET}
    source = client_ip(request)
    if authenticity.too_large(request.META.get("CONTENT_LENGTH")):
        return HttpResponse("request body too large", status=413, content_type="text/plain; charset=utf-8")
    if request.method == "GET":
        ack = inbound.verify(account_id=account_id, query=query, source=source)
    elif request.method == "POST":
        ack = inbound.receive(account_id=account_id, query=query, body=request.body, source=source)
    else:
        return HttpResponseNotAllowed(["GET", "POST"])
    return HttpResponse(ack.body, status=ack.status, content_type="text/plain; charset=utf-8")


def landing(request: HttpRequest, config_id: str) -> HttpResponse:
    """What a printed channel code opens on the customer's phone: counts a scan (once per visitor and Shanghai day)
    and shows the WeCom QR."""
    visitor = authenticity.visitor_key(client_ip(request), request.META.get("HTTP_USER_AGENT", ""))
    code = channel_codes.record_scan(config_id=config_id, visitor=visitor)
    if code is None:
        return render(request, "wecom/landing.html", {"code": None}, status=404)
    return render(request, "wecom/landing.html", {"code": code})


# ---------------------------------------------------------------------------------------------------------------
# Console pages


def _int_param(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else None


def _page_number(request: HttpRequest) -> int:
    try:
        return min(100_000, max(1, int(request.GET.get("page", "1"))))
    except ValueError:
        return 1


def _choices(scope: Scope) -> dict[str, list[tuple[Any, str]]]:
    return {
        "accounts": [(a.pk, a.name) for a in queries.accounts(scope)],
        "stores": [(s.pk, s.name) for s in org_queries.stores(scope).order_by("code")],
        "staff": [
            (s.pk, f"{s.name} · {s.store.name if s.store else '—'}")
            for s in org_queries.staff(scope).filter(is_active=True).exclude(wecom_userid="").order_by(
                "store__code", "id"
            )
        ],
        "tags": [(t.pk, f"{t.group.name} / {t.name}") for t in customer_queries.tags(scope)],
        # Whoever may hand over: staff who left first (resigned-staff inheritance), then those still here.
        "handover": [
            (s.pk, f"{s.name} · {s.store.name if s.store else '—'}" + ("" if s.is_active else f" ({_('left')})"))
            for s in org_queries.staff(scope).exclude(wecom_userid="").order_by("is_active", "store__code", "id")
        ],
    }


def _chart(days: list[queries.DayStats]) -> dict[str, Any]:
    return {
        "days": [d.day.strftime("%m-%d") for d in days],
        "scans": [d.scans for d in days],
        "adds": [d.adds for d in days],
        "deletes": [d.deletes for d in days],
        "net": [d.net for d in days],
        "labels": {"scans": str(_("Scans")), "adds": str(_("Adds")), "deletes": str(_("Deletes")),
                   "net": str(_("Net"))},
    }


@console_view
def code_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.code_list(scope, page=_page_number(request), status=request.GET.get("status", ""))
    return render(request, "wecom/code_list.html", {"codes": page, "scope": scope})


@console_view
def code_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ create channel codes"))
    form = CodeForm(request.POST or None, scope=scope, accounts=[(a.pk, a.name) for a in queries.accounts(scope)])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code_id = create_once(request, form, action="wecom.code", create=lambda: channel_codes.create_channel_code(
                scope=scope, account_id=data["account"], name=data["name"], staff_ids=data["staff"],
                store_id=data["store"], assign_mode=data["assign_mode"], daily_cap=data["daily_cap"],
                tag_ids=data["tags"], welcome_text=data["welcome_text"], welcome_attachments=form.attachments(),
                state=data["state"], actor=request.user,
            ).pk)
        except DomainError as exc:
            form.add_error(_FORM_FIELDS.get(exc.field or "", None), exc.message)
        else:
            messages.success(request, _("Channel code created; it is active once WeCom confirms it."))
            return redirect("channels:wecom_code", code_id=code_id)
    return render(request, "wecom/code_form.html", {"form": form})


_FORM_FIELDS = {"staff_ids": "staff", "store_id": "store", "tag_ids": "tags", "welcome_attachments": "attachment",
                "account_id": "account"}


@console_view
def code_detail(request: HttpRequest, code_id: int) -> HttpResponse:
    scope = scope_of(request)
    code = queries.get_code(scope, code_id)
    stats = queries.code_stats(scope, code_id, days=30)
    context = {"code": code, "stats": stats, "chart": _chart(stats.days), "recent": list(reversed(stats.days))[:14]}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "wecom/_code_stats.html", context)
    context.update(routes=queries.channel_code_routes(scope, code_id), scope=scope)
    return render(request, "wecom/code_detail.html", context)


@console_view
@require_POST
def code_disable(request: HttpRequest, code_id: int) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ manage channel codes"))
    queries.get_code(scope, code_id)
    channel_codes.disable_channel_code(scope=scope, code_id=code_id, actor=request.user)
    messages.success(request, _("The code is disabled."))
    return redirect("channels:wecom_code", code_id=code_id)


@console_view
def group_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    raw_owner, raw_tag = request.GET.get("owner", ""), request.GET.get("tag", "")
    owner = int(raw_owner) if raw_owner.isdigit() and len(raw_owner) < 12 else None
    tag = int(raw_tag) if raw_tag.isdigit() and len(raw_tag) < 12 else None
    page = queries.group_list(scope, page=_page_number(request), q=request.GET.get("q", ""), owner_id=owner,
                              tag_id=tag)
    return render(request, "wecom/group_list.html", {"groups": page, "q": request.GET.get("q", ""), "owner": owner,
                                                     "owners": queries.group_owner_choices(scope), "tag": tag,
                                                     "tags": queries.group_tag_choices(scope), "scope": scope})


@console_view
@require_POST
def group_tag_create(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    try:
        tag = group_tags.create_group_tag(scope=scope, name=request.POST.get("name", ""), actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")
        return redirect("channels:wecom_groups")
    messages.success(request, _("Group tag created."))
    return redirect(f"{reverse('channels:wecom_groups')}?tag={tag.pk}")


@console_view
@require_POST
def group_tags_set(request: HttpRequest, group_id: int) -> HttpResponse:
    scope = scope_of(request)
    queries.get_group(scope, group_id)
    form = GroupTagsForm(request.POST, choices=queries.group_tag_choices(scope))
    if not form.is_valid():
        messages.error(request, _("Pick tags from the list."))
    else:
        group_tags.set_group_tags(scope=scope, group_id=group_id, tag_ids=form.cleaned_data["tags"],
                                  actor=request.user)
        messages.success(request, _("Group tags saved."))
    return redirect("channels:wecom_group", group_id=group_id)


@console_view
def group_duplicates(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.duplicate_members(scope, page=_page_number(request))
    return render(request, "wecom/group_duplicates.html", {"duplicates": page})


@console_view
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    scope = scope_of(request)
    group = queries.get_group(scope, group_id)
    activity = queries.group_activity(scope, group_id, days=30)
    chart = {"days": [d.day.strftime("%m-%d") for d in activity], "joins": [d.joins for d in activity],
             "quits": [d.quits for d in activity], "labels": {"joins": str(_("Joins")), "quits": str(_("Quits"))}}
    welcome = queries.group_welcome_of(scope, group_id)
    context = {
        "group": group,
        "scope": scope,
        "admins": queries.group_admin_names(scope, group),
        "welcome": welcome,
        "tags_form": GroupTagsForm(choices=queries.group_tag_choices(scope),
                                   initial={"tags": [t.pk for t in queries.tags_of_group(scope, group_id)]}),
        "group_tags": queries.tags_of_group(scope, group_id),
        "bind_form": WelcomeBindForm(choices=queries.group_welcome_choices(scope, group.account_id), initial={
            "welcome": welcome.welcome.pk if welcome.welcome and welcome.source == "group" else ""}),
        "members": queries.group_members(scope, group_id, current=True),
        "left": queries.group_members(scope, group_id, current=False),
        "chart": chart,
        "scenes": {0: _("Invited by a member"), 1: _("Invited directly"), 2: _("Invite link"), 3: _("Scanned the QR")},
    }
    return render(request, "wecom/group_detail.html", context)


@console_view
def transfer_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    initial = {"handover": request.GET.get("handover", ""), "kind": "resigned" if request.GET.get("handover") else ""}
    form = TransferForm(request.POST or None, choices=_choices(scope), initial=initial) if scope.is_manager else None
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job_id = create_once(request, form, action="wecom.transfer", create=lambda: inheritance.start_transfer(
                scope=scope, account_id=data["account"], kind=data["kind"], handover_id=data["handover"],
                takeover_id=data["takeover"], message=data["message"], actor=request.user,
            ).pk)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Submitted to WeCom. Customers are taken over after 24 hours."))
            return redirect("channels:wecom_transfer", job_id=job_id)
    page = queries.transfer_jobs(scope, page=_page_number(request))
    leavers = queries.leavers_to_inherit(scope) if scope.is_manager else []
    return render(request, "wecom/transfer_list.html", {"jobs": page, "form": form, "leavers": leavers})


@console_view
def transfer_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    scope = scope_of(request)
    job = queries.get_transfer(scope, job_id)
    status = request.GET.get("status", "")
    items = queries.transfer_items_page(scope, job_id, status=status, page=_page_number(request))
    counts = queries.transfer_item_counts(scope, job_id)
    context = {"job": job, "items": items, "status": status, "counts": counts,
               "summary": _summary(queries.TRANSFER_ITEM_STATUSES, counts)}
    return render(request, "wecom/transfer_detail.html", context)


def _summary(statuses: Sequence[tuple[str, Any]], counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(status, label, count) for the summary above a long result list, every status listed (zeros too)."""
    return [(value, str(label), counts.get(value, 0)) for value, label in statuses]


@console_view
def outbox(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.outbox(scope, status=request.GET.get("status", ""), page=_page_number(request))
    return render(request, "wecom/outbox.html", {"calls": page, "statuses": queries.CALL_STATUSES,
                                                  "status": request.GET.get("status", "")})


@console_view
@require_POST
def account_action(request: HttpRequest, account_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("for HQ only"))
    try:
        if action == "sync":
            sync.start_sync(scope=scope, account_id=account_id)
            messages.success(request, _("Customer sync started."))
        elif action in ("tags", "groups"):
            sync_jobs.start_sync_job(scope=scope, account_id=account_id, kind=action, actor=request.user)
            messages.success(request, _("Sync queued: it runs in the background; its progress and result are "
                                        "shown below."))
    except GateError:
        raise
    except (DomainError, WecomError) as exc:
        messages.error(request, str(exc))
    return redirect("channels:index")


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈)

_MASS_FIELDS = {"account_id": "account", "name": "name", "kind": "kind", "sender_ids": "senders",
                "customer_ids": "customers", "tag_ids": "tags", "group_ids": "groups", "text": "text",
                "attachments": "attachment"}
_MOMENT_FIELDS = {"account_id": "account", "text": "text", "staff_ids": "staff", "tag_ids": "tags",
                  "attachments": "attachment"}


def _status_counts(counts: dict[str, int], choices: list[tuple[str, Any]]) -> list[tuple[str, Any, int]]:
    return [(value, label, counts.get(value, 0)) for value, label in choices]


@console_view
def mass_send_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    status = request.GET.get("status", "")
    page = queries.mass_send_list(scope, page=_page_number(request), status=status)
    counts = _status_counts(queries.mass_send_status_counts(scope), queries.MASS_SEND_STATUSES)
    return render(request, "wecom/mass_send_list.html", {"sends": page, "counts": counts, "status": status})


@console_view
def mass_send_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    groups = [(g.pk, f"{g.name or g.chat_id} · {g.owner.name if g.owner else g.owner_userid}")
              for g in queries.mass_send_groups(scope)[:500]]
    form = MassSendForm(request.POST or None, choices={**_choices(scope), "groups": groups})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            mass_send_id = create_once(request, form, action="wecom.mass", create=lambda: mass_sends.create_mass_send(
                scope=scope, account_id=data["account"], kind=data["kind"], sender_ids=data["senders"],
                name=data["name"], customer_ids=data["customers"], tag_ids=data["tags"], group_ids=data["groups"],
                text=data["text"], attachments=form.attachments(), submit=data["submit_now"], actor=request.user,
            ).pk)
        except DomainError as exc:
            form.add_error(_MASS_FIELDS.get(exc.field or ""), exc.message)
        else:
            messages.success(request, _("Submitted: each sender confirms the message in WeCom.") if data["submit_now"]
                             else _("Draft saved."))
            return redirect("channels:wecom_mass_send", mass_send_id=mass_send_id)
    return render(request, "wecom/mass_send_form.html", {"form": form})


@console_view
def mass_send_detail(request: HttpRequest, mass_send_id: int) -> HttpResponse:
    scope = scope_of(request)
    mass_send = queries.get_mass_send(scope, mass_send_id)
    status = request.GET.get("status", "")
    senders = queries.mass_send_senders(scope, mass_send_id)
    preview = queries.mass_send_preview(scope, mass_send_id) if mass_send.status == "draft" else {}
    counts = queries.mass_send_recipient_counts(scope, mass_send_id)
    context = {
        "ms": mass_send,
        "senders": [(s, preview.get(s.staff_id)) for s in senders],
        "recipients": queries.mass_send_recipients_page(scope, mass_send_id, status=status, page=_page_number(request)),
        "status": status,
        "summary": _summary(queries.RECIPIENT_STATUSES, counts),
        "summary_all": counts["all"],
    }
    return render(request, "wecom/mass_send_detail.html", context)


@console_view
@require_POST
def mass_send_action(request: HttpRequest, mass_send_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    queries.get_mass_send(scope, mass_send_id)
    try:
        if action == "submit":
            mass_sends.submit_mass_send(scope=scope, mass_send_id=mass_send_id, actor=request.user)
            messages.success(request, _("Submitted: each sender confirms the message in WeCom."))
        elif action == "refresh":
            mass_sends.refresh_mass_send(scope=scope, mass_send_id=mass_send_id)
            messages.success(request, _("Results refreshed from WeCom."))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("channels:wecom_mass_send", mass_send_id=mass_send_id)


@console_view
def moment_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    status = request.GET.get("status", "")
    page = queries.moment_list(scope, page=_page_number(request), status=status)
    counts = _status_counts(queries.moment_status_counts(scope), queries.MOMENT_STATUSES)
    return render(request, "wecom/moment_list.html", {"tasks": page, "counts": counts, "status": status})


@console_view
def moment_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = MomentForm(request.POST or None, choices=_choices(scope))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task_id = create_once(request, form, action="wecom.moment", create=lambda: moments.create_moment_task(
                scope=scope, account_id=data["account"], text=data["text"], attachments=form.attachments(),
                staff_ids=data["staff"], tag_ids=data["tags"], submit=data["submit_now"], actor=request.user,
            ).pk)
        except DomainError as exc:
            form.add_error(_MOMENT_FIELDS.get(exc.field or ""), exc.message)
        else:
            messages.success(request, _("Submitted to WeCom.") if data["submit_now"] else _("Draft saved."))
            return redirect("channels:wecom_moment", task_id=task_id)
    return render(request, "wecom/moment_form.html", {"form": form})


@console_view
def moment_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    scope = scope_of(request)
    task = queries.get_moment(scope, task_id)
    return render(request, "wecom/moment_detail.html", {"task": task, "can_submit": queries.moment_can_submit(task)})


@console_view
@require_POST
def moment_action(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    queries.get_moment(scope, task_id)
    try:
        if action == "submit":
            moments.submit_moment_task(scope=scope, task_id=task_id, actor=request.user)
            messages.success(request, _("Submitted to WeCom."))
        elif action == "refresh":
            moments.refresh_moment_task(scope=scope, task_id=task_id)
            messages.success(request, _("Results refreshed from WeCom."))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("channels:wecom_moment", task_id=task_id)


# ---------------------------------------------------------------------------------------------------------------
# Group codes (群活码)


def group_code_landing(request: HttpRequest, config_id: str) -> HttpResponse:
    """What a printed group code opens on the customer's phone: counts a scan (once per visitor and Shanghai day)
    and shows the join way's QR."""
    visitor = authenticity.visitor_key(client_ip(request), request.META.get("HTTP_USER_AGENT", ""))
    code = group_codes.record_scan(config_id=config_id, visitor=visitor)
    if code is None:
        return render(request, "wecom/group_code_landing.html", {"code": None}, status=404)
    return render(request, "wecom/group_code_landing.html", {"code": code})


@console_view
def group_code_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.group_code_list(scope, page=_page_number(request), status=request.GET.get("status", ""))
    return render(request, "wecom/group_code_list.html", {"codes": page, "scope": scope})


_GROUP_CODE_FIELDS = {"group_ids": "groups", "store_id": "store", "account_id": "account"}


@console_view
def group_code_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ create group codes"))
    choices = {"accounts": [(a.pk, a.name) for a in queries.accounts(scope)],
               "stores": [(s.pk, s.name) for s in org_queries.stores(scope).order_by("code")],
               "groups": queries.group_code_choices(scope, tag_id=_int_param(request.GET.get("tag")))}
    form = GroupCodeForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code_id = create_once(
                request, form, action="wecom.group_code",
                create=lambda: group_codes.create_group_code(
                    scope=scope, account_id=data["account"], name=data["name"], group_ids=data["groups"],
                    cap=data["cap"], store_id=data["store"], state=data["state"], actor=request.user,
                ).pk,
            )
        except DomainError as exc:
            form.add_error(_GROUP_CODE_FIELDS.get(exc.field or "", exc.field if exc.field in form.fields else None),
                           f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Group code created; it is active once WeCom confirms it."))
            return redirect("channels:wecom_group_code", group_code_id=code_id)
    return render(request, "wecom/group_code_form.html", {
        "form": form, "tags": queries.group_tag_choices(scope), "tag": _int_param(request.GET.get("tag"))})


def _group_code_chart(days: list[queries.GroupCodeDayStats]) -> dict[str, Any]:
    return {
        "days": [d.day.strftime("%m-%d") for d in days],
        "scans": [d.scans for d in days],
        "joins": [d.joins for d in days],
        "quits": [d.quits for d in days],
        "net": [d.net for d in days],
        "labels": {"scans": str(_("Scans")), "joins": str(_("Joins")), "quits": str(_("Quits")),
                   "net": str(_("Net"))},
    }


def _group_code_context(scope: Scope, code_id: int) -> dict[str, Any]:
    code = queries.get_group_code(scope, code_id)
    stats = queries.group_code_stats(scope, code_id, days=30)
    return {"code": code, "stats": stats, "chart": _group_code_chart(stats.days), "scope": scope,
            "recent": list(reversed(stats.days))[:14]}


@console_view
def group_code_detail(request: HttpRequest, group_code_id: int) -> HttpResponse:
    scope = scope_of(request)
    context = _group_code_context(scope, group_code_id)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "wecom/_group_code_stats.html", context)
    context["add_form"] = GroupCodeGroupsForm(choices=queries.group_code_choices(scope, context["code"].account_id))
    welcome = queries.code_welcome(scope, group_code_id)
    context["welcome"] = welcome
    context["bind_form"] = WelcomeBindForm(choices=queries.group_welcome_choices(scope, context["code"].account_id),
                                           initial={"welcome": welcome.pk if welcome else ""})
    return render(request, "wecom/group_code_detail.html", context)


@console_view
@require_POST
def group_code_add_groups(request: HttpRequest, group_code_id: int) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ edit group codes"))
    code = queries.get_group_code(scope, group_code_id)
    form = GroupCodeGroupsForm(request.POST, choices=queries.group_code_choices(scope, code.account_id))
    if not form.is_valid():
        messages.error(request, _("Pick at least one group."))
        return redirect("channels:wecom_group_code", group_code_id=group_code_id)
    try:
        group_codes.add_groups(scope=scope, code_id=group_code_id, group_ids=form.cleaned_data["groups"],
                               actor=request.user)
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")
    else:
        messages.success(request, _("Groups added."))
    return redirect("channels:wecom_group_code", group_code_id=group_code_id)


@console_view
@require_POST
def group_code_disable(request: HttpRequest, group_code_id: int) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ disable group codes"))
    queries.get_group_code(scope, group_code_id)
    group_codes.disable_group_code(scope=scope, code_id=group_code_id, actor=request.user)
    messages.success(request, _("Group code disabled."))
    return redirect("channels:wecom_group_code", group_code_id=group_code_id)


def _schedules_in(formset: Any) -> list[group_codes.GroupScheduleIn]:
    """The rows as schedules (hours parsed here; a bad one is put on its row)."""
    out = []
    for form in formset.forms:
        data = form.cleaned_data
        try:
            hours = schedules.parse_windows(data.get("hours") or "", field="hours")
        except DomainError as exc:
            form.add_error("hours", f"{exc.message} ({exc.code})")
            continue
        out.append(group_codes.GroupScheduleIn(group_id=data["group"], cap=data.get("cap"), hours=hours))
    return out


def _save_schedules(request: HttpRequest, scope: Scope, code_id: int, formset: Any) -> bool:
    items = _schedules_in(formset)
    if any(f.errors for f in formset.forms):
        return False
    try:
        group_codes.set_group_schedules(scope=scope, code_id=code_id, groups=items, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        text = f"{exc.message} ({exc.code})"
        if exc.field == "groups" and exc.index is not None and 0 <= exc.index < len(formset.forms):
            formset.forms[exc.index].add_error(None, text)
        else:
            formset._non_form_errors = formset.error_class([text])  # noqa: SLF001 (Django's own slot for them)
        return False
    return True


def _row_group(form: Any) -> int | None:
    try:
        return int(form["group"].value())
    except (TypeError, ValueError):
        return None


@console_view
def group_code_schedules(request: HttpRequest, group_code_id: int) -> HttpResponse:
    """Per group of a code: its own cap and the hours it takes joiners (the roll-over honours both)."""
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ edit group codes"))
    code = queries.get_group_code(scope, group_code_id)
    groups = queries.group_code_stats(scope, group_code_id, days=1).groups
    if request.method == "POST":
        formset = GroupScheduleFormSet(request.POST, prefix="groups")
        if formset.is_valid() and _save_schedules(request, scope, group_code_id, formset):
            messages.success(request, _("Group schedules saved."))
            return redirect("channels:wecom_group_code", group_code_id=group_code_id)
    else:
        formset = GroupScheduleFormSet(prefix="groups", initial=[
            {"group": g.group_id, "cap": g.own_cap, "hours": g.hours_text} for g in groups])
    names: dict[int | None, Any] = {g.group_id: g for g in groups}
    rows = [(form, names.get(_row_group(form))) for form in formset.forms]
    return render(request, "wecom/group_code_schedules.html", {"code": code, "formset": formset, "rows": rows})


# ---------------------------------------------------------------------------------------------------------------
# Group inheritance


@console_view
def group_transfer_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = GroupTransferForm(request.POST or None, choices=_choices(scope)) if scope.is_manager else None
    if request.method == "POST" and form is None:
        raise PermissionDenied(_("managers and HQ hand over groups"))
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job_id = create_once(request, form, action="wecom.group_transfer",
                                 create=lambda: group_inheritance.create_group_transfer(
                                     scope=scope, account_id=data["account"], handover_id=data["handover"],
                                     takeover_id=data["takeover"], actor=request.user).pk)
        except DomainError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Submitted to WeCom."))
            return redirect("channels:wecom_group_transfer", group_transfer_id=job_id)
    page = queries.group_transfer_list(scope, page=_page_number(request))
    return render(request, "wecom/group_transfer_list.html", {"jobs": page, "form": form})


@console_view
def group_transfer_detail(request: HttpRequest, group_transfer_id: int) -> HttpResponse:
    scope = scope_of(request)
    job = queries.get_group_transfer(scope, group_transfer_id)
    items = queries.group_transfer_items(scope, group_transfer_id)
    return render(request, "wecom/group_transfer_detail.html", {"job": job, "items": items})


# ---------------------------------------------------------------------------------------------------------------
# Auto-pull routes (a channel code's) and keyword groups: both edit an ordered list of routes in a formset.


def _route_initial(routes: list[Any]) -> list[dict[str, Any]]:
    return [{"group_code": r.group_code_id, "tag": r.tag_id, "store": r.store_id} for r in routes]


def _route_formset(request: HttpRequest, scope: Scope, routes: list[Any]) -> Any:
    """Saved routes fill the rows of a new page only: a posted row is read as posted (an extra row equal to its
    initial value would count as unchanged and be skipped)."""
    if request.method == "POST":
        return RouteFormSet(request.POST, prefix="routes", form_kwargs={"scope": scope})
    return RouteFormSet(prefix="routes", initial=_route_initial(routes), form_kwargs={"scope": scope})


def _routes_in(formset: Any) -> tuple[list[auto_pull.RouteIn], list[int]]:
    """The filled rows as routes, and for each the formset row it came from (to put a service error on it)."""
    filled = formset.routes()
    routes = [auto_pull.RouteIn(group_code_id=d["group_code"], tag_id=d.get("tag"), store_id=d.get("store"))
              for _i, d in filled]
    return routes, [i for i, _d in filled]


def _route_error(formset: Any, rows: list[int], exc: DomainError) -> None:
    """A service's refusal of one route lands on that row; any other on the formset as a whole."""
    text = f"{exc.message} ({exc.code})"
    if exc.field == "routes" and exc.index is not None and 0 <= exc.index < len(rows):
        formset.forms[rows[exc.index]].add_error(None, text)
    else:
        formset._non_form_errors = formset.error_class([text])  # noqa: SLF001 (Django's own slot for them)


@console_view
def code_group_routes(request: HttpRequest, code_id: int) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ edit auto-pull routes"))
    code = queries.get_code(scope, code_id)
    routes = queries.channel_code_routes(scope, code_id)
    formset = _route_formset(request, scope, routes)
    if request.method == "POST" and formset.is_valid():
        clean, rows = _routes_in(formset)
        try:
            count = auto_pull.set_channel_code_routes(scope=scope, code_id=code_id, routes=clean, actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            _route_error(formset, rows, exc)
        else:
            messages.success(request, _("%(n)d auto-pull routes saved.") % {"n": count})
            return redirect("channels:wecom_code", code_id=code_id)
    return render(request, "wecom/code_group_routes.html", {"code": code, "formset": formset})


def _controls_forms(request: HttpRequest, scope: Scope, code: Any) -> tuple[Any, CodeControlsForm]:
    if request.method == "POST":
        return (CodeMemberFormSet(request.POST, prefix="members", form_kwargs={"scope": scope}),
                CodeControlsForm(request.POST))
    initial = [{"staff": m.staff_id, "is_backup": m.is_backup, "daily_cap": m.daily_cap,
                "shifts": schedules.format_windows(m.shifts or [])} for m in code.members.all()]
    form = CodeControlsForm(initial={"auto_accept": schedules.format_windows(code.auto_accept_windows or []),
                                     "no_welcome_nicknames": "\n".join(code.no_welcome_nicknames or [])})
    return CodeMemberFormSet(prefix="members", initial=initial, form_kwargs={"scope": scope}), form


def _members_in(formset: Any) -> tuple[list[code_controls.MemberIn], list[int]]:
    """Filled rows as members (shifts parsed here, a bad one refused on its row), and the row each came from."""
    members, rows = [], []
    for row, data in formset.members():
        try:
            shifts = schedules.parse_windows(data.get("shifts") or "", field="shifts")
        except DomainError as exc:
            formset.forms[row].add_error("shifts", f"{exc.message} ({exc.code})")
            continue
        members.append(code_controls.MemberIn(staff_id=data["staff"], is_backup=bool(data.get("is_backup")),
                                              daily_cap=data.get("daily_cap"), shifts=shifts))
        rows.append(row)
    return members, rows


def _save_controls(request: HttpRequest, scope: Scope, code_id: int, formset: Any, form: CodeControlsForm) -> bool:
    members, rows = _members_in(formset)
    try:
        windows = schedules.parse_windows(form.cleaned_data.get("auto_accept") or "", field="auto_accept_windows")
    except DomainError as exc:
        form.add_error("auto_accept", f"{exc.message} ({exc.code})")
    if any(f.errors for f in formset.forms) or form.errors:
        return False
    nicknames = (form.cleaned_data.get("no_welcome_nicknames") or "").splitlines()
    try:
        code_controls.set_code_controls(scope=scope, code_id=code_id, members=members, auto_accept_windows=windows,
                                        no_welcome_nicknames=nicknames, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        text = f"{exc.message} ({exc.code})"
        if exc.field == "members" and exc.index is not None and 0 <= exc.index < len(rows):
            formset.forms[rows[exc.index]].add_error(None, text)
        elif exc.field == "no_welcome_nicknames":
            form.add_error("no_welcome_nicknames", text)
        else:
            formset._non_form_errors = formset.error_class([text])  # noqa: SLF001 (Django's own slot for them)
        return False
    return True


@console_view
def code_controls_edit(request: HttpRequest, code_id: int) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ manage channel codes"))
    code = queries.get_code(scope, code_id)
    formset, form = _controls_forms(request, scope, code)
    if (request.method == "POST" and formset.is_valid() and form.is_valid()
            and _save_controls(request, scope, code_id, formset, form)):
        messages.success(request, _("Schedules and controls saved."))
        return redirect("channels:wecom_code", code_id=code_id)
    return render(request, "wecom/code_controls.html", {"code": code, "formset": formset, "form": form})


_KEYWORD_FIELDS = {"oa_account_id": "oa_account", "keyword": "keyword", "reply_text": "reply_text"}


def _keyword_error(form: KeywordGroupForm, formset: Any, rows: list[int], exc: DomainError) -> None:
    field = _KEYWORD_FIELDS.get(exc.field or "")
    if field in form.fields:
        form.add_error(field, f"{exc.message} ({exc.code})")
    else:
        _route_error(formset, rows, exc)


@console_view
def keyword_group_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.keyword_group_list(scope, page=_page_number(request))
    return render(request, "wecom/keyword_group_list.html", {"groups": page, "scope": scope})


def _hq_scope(request: HttpRequest) -> Scope:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("HQ manages keyword groups (they answer on the Official Account)"))
    return scope


@console_view
def keyword_group_new(request: HttpRequest) -> HttpResponse:
    scope = _hq_scope(request)
    form = KeywordGroupForm(request.POST or None, oa_accounts=[(a.pk, a.name) for a in oa_queries.accounts(scope)])
    formset = RouteFormSet(request.POST or None, prefix="routes", form_kwargs={"scope": scope})
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data, (routes, rows) = form.cleaned_data, _routes_in(formset)
        try:
            group_id = create_once(request, form, action="wecom.keyword_group",
                                   create=lambda: keyword_groups.create_keyword_group(
                                       scope=scope, oa_account_id=data["oa_account"], keyword=data["keyword"],
                                       reply_text=data["reply_text"], routes=routes, actor=request.user).pk)
        except GateError:
            raise
        except DomainError as exc:
            _keyword_error(form, formset, rows, exc)
        else:
            messages.success(request, _("Keyword group created."))
            return redirect("channels:wecom_keyword_group", keyword_group_id=group_id)
    return render(request, "wecom/keyword_group_form.html", {"form": form, "formset": formset, "group": None})


@console_view
def keyword_group_detail(request: HttpRequest, keyword_group_id: int) -> HttpResponse:
    """Everyone of the enterprise reads a keyword group (as they read the OA's replies); HQ edits it here."""
    scope = scope_of(request)
    group = queries.get_keyword_group(scope, keyword_group_id)
    routes = queries.keyword_group_routes(scope, keyword_group_id)
    if not scope.is_hq:
        if request.method == "POST":
            raise PermissionDenied(_("HQ manages keyword groups (they answer on the Official Account)"))
        return render(request, "wecom/keyword_group_form.html", {"group": group, "routes": routes, "form": None})
    initial = {"keyword": group.keyword, "reply_text": group.reply_text, "is_active": group.is_active}
    form = KeywordGroupForm(request.POST or None, oa_accounts=[], editing=True, initial=initial)
    formset = _route_formset(request, scope, routes)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data, (clean, rows) = form.cleaned_data, _routes_in(formset)
        try:
            keyword_groups.update_keyword_group(
                scope=scope, keyword_group_id=keyword_group_id, keyword=data["keyword"],
                reply_text=data["reply_text"], is_active=data["is_active"], routes=clean, actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            _keyword_error(form, formset, rows, exc)
        else:
            messages.success(request, _("Keyword group saved."))
            return redirect("channels:wecom_keyword_group", keyword_group_id=keyword_group_id)
    return render(request, "wecom/keyword_group_form.html", {"form": form, "formset": formset, "group": group})


@console_view
@require_POST
def keyword_group_delete(request: HttpRequest, keyword_group_id: int) -> HttpResponse:
    scope = _hq_scope(request)
    queries.get_keyword_group(scope, keyword_group_id)
    keyword_groups.delete_keyword_group(scope=scope, keyword_group_id=keyword_group_id, actor=request.user)
    messages.success(request, _("Keyword group deleted."))
    return redirect("channels:wecom_keyword_groups")


# ---------------------------------------------------------------------------------------------------------------
# Tag-built groups (标签建群)

_TAG_GROUP_FIELDS = {"group_code_id": "group_code", "tag_ids": "tags", "account_id": "account", "match": "match",
                     "text": "text", "name": "name", "sender_ids": "tags", "segment_id": "segment",
                     "segment": "segment"}


@console_view
def tag_group_list(request: HttpRequest) -> HttpResponse:
    """The tasks, newest first, and (for managers and HQ) the form that starts one."""
    scope = scope_of(request)
    form = None
    if scope.is_manager:
        form = TagGroupForm(request.POST or None, scope=scope,
                            accounts=[(a.pk, a.name) for a in queries.accounts(scope)],
                            segments=queries.segment_choices(scope))
    elif request.method == "POST":
        raise PermissionDenied(_("managers and HQ build groups from tags"))
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task_id = create_once(request, form, action="wecom.tag_group",
                                  create=lambda: tag_groups.create_tag_group(
                                      scope=scope, account_id=data["account"], group_code_id=data["group_code"],
                                      tag_ids=data["tags"] or [], match=data["match"],
                                      segment_id=data["segment"], name=data["name"],
                                      text=data["text"], actor=request.user).pk)
        except GateError:
            raise
        except DomainError as exc:
            form.add_error(_TAG_GROUP_FIELDS.get(exc.field or ""), f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Each staff member has the invitation to send in WeCom."))
            return redirect("channels:wecom_tag_built", tag_built_id=task_id)
    page = queries.tag_group_list(scope, page=_page_number(request))
    return render(request, "wecom/tag_group_list.html", {"tasks": page, "form": form})


@console_view
def tag_group_detail(request: HttpRequest, tag_built_id: int) -> HttpResponse:
    scope = scope_of(request)
    task = queries.get_tag_group(scope, tag_built_id)
    results = queries.tag_group_results(scope, tag_built_id)
    senders = queries.mass_send_senders(scope, tag_built_id)
    return render(request, "wecom/tag_group_detail.html", {"task": task, "results": results, "senders": senders})


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates (入群欢迎语素材)


def _welcome_attachment(scope: Scope, account_id: int, form: GroupWelcomeForm) -> dict[str, Any] | None:
    """The typed attachment, or the picked material's (resolved before the write: it may upload to WeCom)."""
    material_id = form.material_id()
    if material_id is None:
        return form.attachment_value()
    return group_welcome.material_attachment(scope=scope, account_id=account_id, material_id=material_id)


def _welcome_error(form: Any, exc: DomainError) -> None:
    target = GroupWelcomeForm.ERROR_FIELDS.get(exc.field or "")
    form.add_error(target if target in form.fields else None, f"{exc.message} ({exc.code})")


@console_view
def group_welcome_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.group_welcome_list(scope, page=_page_number(request), status=request.GET.get("status", ""))
    return render(request, "wecom/group_welcome_list.html", {
        "welcomes": page, "scope": scope, "meanings": {w.pk: errcodes.describe(w.errcode) for w in page.items},
    })


@console_view
def group_welcome_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("HQ manages group welcome templates (a corp holds at most 100)"))
    form = GroupWelcomeNewForm(request.POST or None, accounts=[(a.pk, a.name) for a in queries.accounts(scope)],
                               materials=attachment_sources.choices(scope, "material"))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            attachment = _welcome_attachment(scope, data["account"], form)
            welcome_id = create_once(request, form, action="wecom.group_welcome",
                                     create=lambda: group_welcome.create_group_welcome(
                                         scope=scope, account_id=data["account"], name=data["name"],
                                         text=data["text"], attachment=attachment,
                                         notify=data["notify"], actor=request.user).pk)
        except GateError:
            raise
        except DomainError as exc:
            _welcome_error(form, exc)
        else:
            messages.success(request, _("Welcome template created; it is usable once WeCom confirms it."))
            return redirect("channels:wecom_group_welcome", welcome_id=welcome_id)
    return render(request, "wecom/group_welcome_form.html", {"form": form, "welcome": None})


@console_view
def group_welcome_detail(request: HttpRequest, welcome_id: int) -> HttpResponse:
    """Everyone of the enterprise reads a template (owners apply it in the client); HQ edits it here."""
    scope = scope_of(request)
    welcome = queries.get_group_welcome(scope, welcome_id)
    if request.method == "POST" and not scope.is_hq:
        raise PermissionDenied(_("HQ manages group welcome templates (a corp holds at most 100)"))
    form = GroupWelcomeForm(request.POST or None, initial=GroupWelcomeForm.initial_of(welcome),
                            materials=attachment_sources.choices(scope, "material")) if scope.is_hq else None
    if request.method == "POST" and form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            group_welcome.update_group_welcome(
                scope=scope, welcome_id=welcome_id, name=data["name"], text=data["text"],
                attachment=_welcome_attachment(scope, welcome.account_id, form),
                clear_attachment=not data.get("attachment"), actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            _welcome_error(form, exc)
        else:
            messages.success(request, _("Welcome template saved; the change is pushed to WeCom."))
            return redirect("channels:wecom_group_welcome", welcome_id=welcome_id)
    return render(request, "wecom/group_welcome_form.html", {
        "form": form, "welcome": welcome, "meaning": errcodes.describe(welcome.errcode),
        "bindings": queries.group_welcome_bindings(scope, welcome_id),
    })


@console_view
@require_POST
def group_welcome_delete(request: HttpRequest, welcome_id: int) -> HttpResponse:
    scope = scope_of(request)
    queries.get_group_welcome(scope, welcome_id)
    group_welcome.delete_group_welcome(scope=scope, welcome_id=welcome_id, actor=request.user)
    messages.success(request, _("Welcome template deleted."))
    return redirect("channels:wecom_group_welcomes")


def _bind_choice(request: HttpRequest, choices: list[tuple[int, str]]) -> tuple[bool, int | None]:
    form = WelcomeBindForm(request.POST, choices=choices)
    if not form.is_valid():
        return False, None
    return True, form.cleaned_data["welcome"]


@console_view
@require_POST
def group_code_welcome(request: HttpRequest, group_code_id: int) -> HttpResponse:
    scope = scope_of(request)
    code = queries.get_group_code(scope, group_code_id)
    ok, welcome_id = _bind_choice(request, queries.group_welcome_choices(scope, code.account_id))
    if not ok:
        messages.error(request, _("Pick a welcome template of this WeCom app."))
    else:
        try:
            group_welcome.bind_group_code(scope=scope, code_id=group_code_id, welcome_id=welcome_id,
                                          actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Welcome template chosen."))
    return redirect("channels:wecom_group_code", group_code_id=group_code_id)


@console_view
@require_POST
def group_welcome_bind(request: HttpRequest, group_id: int) -> HttpResponse:
    scope = scope_of(request)
    group = queries.get_group(scope, group_id)
    ok, welcome_id = _bind_choice(request, queries.group_welcome_choices(scope, group.account_id))
    if not ok:
        messages.error(request, _("Pick a welcome template of this WeCom app."))
    else:
        try:
            group_welcome.bind_group(scope=scope, group_id=group_id, welcome_id=welcome_id, actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Welcome template chosen."))
    return redirect("channels:wecom_group", group_id=group_id)


# ---------------------------------------------------------------------------------------------------------------
# Group analytics


_ANALYTICS_FIELDS = {"start": "start", "end": "end", "by": "by"}


@console_view
def group_analytics(request: HttpRequest) -> HttpResponse:
    """Joins, quits and net per Shanghai day (chart) and per group, group code or owner (table); ?format=xlsx is
    the same range as an Excel workbook."""
    scope = scope_of(request)
    form = GroupAnalyticsForm(request.GET or None)
    result, conversion = None, None
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        by = data.get("by") or "group"
        try:
            if request.GET.get("format") == "xlsx":
                body, filename = group_sheets.analytics_xlsx(scope, by=by, start=data.get("start"),
                                                             end=data.get("end"))
                response = HttpResponse(
                    body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
                response["Content-Disposition"] = f'attachment; filename="{filename}"'
                return response
            result = queries.group_analytics(scope, by=by, start=data.get("start"), end=data.get("end"),
                                             page=_page_number(request))
            conversion = queries.group_conversion(scope, by="store" if by == "store" else "group",
                                                  start=data.get("start"), end=data.get("end"))
        except GateError:
            raise
        except DomainError as exc:
            form.add_error(_ANALYTICS_FIELDS.get(exc.field or ""), f"{exc.message} ({exc.code})")
    chart = None
    if result is not None:
        chart = {"days": [d.day.strftime("%m-%d") for d in result.days], "joins": [d.joins for d in result.days],
                 "quits": [d.quits for d in result.days], "net": [d.net for d in result.days],
                 "members": [d.members for d in result.days],
                 "labels": {"joins": str(_("Joins")), "quits": str(_("Quits")), "net": str(_("Net")),
                            "members": str(_("Members"))}}
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return render(request, "wecom/group_analytics.html", {
        "form": form, "result": result, "chart": chart, "conversion": conversion, "by_label": queries.ANALYTICS_BY.get(
            result.by if result else "group"), "query": query.urlencode(),
    })


# ---------------------------------------------------------------------------------------------------------------
# Group SOP (社群SOP)


def _sop_choices(scope: Scope) -> dict[str, Any]:
    codes = [(c.pk, c.name) for c in queries.group_codes(scope).order_by("name", "id")[:500]]
    return {"group_tags": queries.group_tag_choices(scope), "group_codes": codes,
            "materials": attachment_sources.choices(scope, "material")}


def _sop_error(form: Any, exc: DomainError) -> None:
    target = GroupSopForm.ERROR_FIELDS.get(exc.field or "")
    form.add_error(target if target in form.fields else None, f"{exc.message} ({exc.code})")


def _sop_rule(data: dict[str, Any]) -> dict[str, Any]:
    return {"repeat": data["repeat"], "time_of_day": data["time_of_day"], "weekdays": data.get("weekdays") or [],
            "start_date": data["start_date"], "end_date": data.get("end_date")}


@console_view
def group_sop_list(request: HttpRequest) -> HttpResponse:
    """The SOPs, newest first, and (for HQ) the form that schedules one."""
    scope = scope_of(request)
    form = None
    if scope.is_hq:
        form = GroupSopNewForm(request.POST or None, accounts=[(a.pk, a.name) for a in queries.accounts(scope)],
                               **_sop_choices(scope))
    elif request.method == "POST":
        raise PermissionDenied(_("HQ schedules group SOPs"))
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            attachments = group_sop.material_attachments(scope=scope, account_id=data["account"],
                                                         material_ids=data.get("materials") or [])
            sop_id = create_once(request, form, action="wecom.group_sop", create=lambda: group_sop.create_group_sop(
                scope=scope, account_id=data["account"], name=data["name"], group_tag_id=data.get("group_tag"),
                group_code_id=data.get("group_code"), text=data.get("text") or "", attachments=attachments,
                send_messages=data["send_messages"], remind_owners=data["remind_owners"], **_sop_rule(data),
                actor=request.user).pk)
        except GateError:
            raise
        except DomainError as exc:
            _sop_error(form, exc)
        else:
            messages.success(request, _("Group SOP scheduled."))
            return redirect("channels:wecom_group_sop", sop_id=sop_id)
    page = queries.group_sop_list(scope, page=_page_number(request))
    return render(request, "wecom/group_sop_list.html", {"sops": page, "form": form})


def _sop_initial(sop: Any) -> dict[str, Any]:
    return {"name": sop.name, "text": sop.text, "send_messages": sop.send_messages,
            "remind_owners": sop.remind_owners, "repeat": sop.repeat, "weekdays": sop.weekdays,
            "time_of_day": sop.time_of_day, "start_date": sop.start_date, "end_date": sop.end_date,
            "is_active": sop.is_active}


@console_view
def group_sop_detail(request: HttpRequest, sop_id: int) -> HttpResponse:
    """Everyone of the enterprise reads a SOP and its runs; HQ edits, pauses and resumes it here."""
    scope = scope_of(request)
    sop = queries.get_group_sop(scope, sop_id)
    if request.method == "POST" and not scope.is_hq:
        raise PermissionDenied(_("HQ schedules group SOPs"))
    form = GroupSopForm(request.POST or None, initial=_sop_initial(sop), editing=True,
                        **_sop_choices(scope)) if scope.is_hq else None
    if request.method == "POST" and form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            extra = group_sop.material_attachments(scope=scope, account_id=sop.account_id,
                                                   material_ids=data.get("materials") or [])
            group_sop.update_group_sop(
                scope=scope, sop_id=sop_id, name=data["name"], text=data.get("text") or "",
                attachments=[*sop.attachments, *extra][:9] if extra else None,
                send_messages=data["send_messages"], remind_owners=data["remind_owners"],
                clear_end_date=data.get("end_date") is None, is_active=data["is_active"], **_sop_rule(data),
                actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            _sop_error(form, exc)
        else:
            messages.success(request, _("Group SOP saved."))
            return redirect("channels:wecom_group_sop", sop_id=sop_id)
    runs = queries.group_sop_runs(scope, sop_id, page=_page_number(request))
    return render(request, "wecom/group_sop_detail.html", {"sop": sop, "form": form, "runs": runs})


@console_view
@require_POST
def group_sop_delete(request: HttpRequest, sop_id: int) -> HttpResponse:
    scope = scope_of(request)
    queries.get_group_sop(scope, sop_id)
    group_sop.delete_group_sop(scope=scope, sop_id=sop_id, actor=request.user)
    messages.success(request, _("Group SOP deleted."))
    return redirect("channels:wecom_group_sops")


@console_view
def group_sop_run_detail(request: HttpRequest, sop_run_id: int) -> HttpResponse:
    scope = scope_of(request)
    run = queries.get_group_sop_run(scope, sop_run_id)
    return render(request, "wecom/group_sop_run.html", {
        "run": run, "results": queries.group_sop_run_results(scope, sop_run_id),
        "mass_sends": list(run.mass_sends.order_by("id")),
    })
