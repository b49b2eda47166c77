"""The platform-facing endpoints (callback, OAuth) and the console pages under /oa/."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from siyu.channels.common import authenticity
from siyu.channels.official_account import queries, services
from siyu.core.errors import DomainError
from siyu.core.http import client_ip
from siyu.core.pagination import page_param
from siyu.org.scope import Scope, scope_for_user

# -- platform-facing --------------------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest, account_id: int) -> HttpResponse:
    """The platform's callback URL. A body over the one callback limit is 413 before it is read."""
    query = {key: request.GET.get(key, "") for key in request.GET}
    source = client_ip(request)
    if authenticity.too_large(request.META.get("CONTENT_LENGTH")):
        return HttpResponse("request body too large", status=413, content_type="text/plain; charset=utf-8")
    if request.method == "GET":
        result = services.verify_server(account_id=account_id, query=query, source=source)
    else:
        result = services.receive_callback(account_id=account_id, query=query, body=request.body, source=source)
    return HttpResponse(result.body, status=result.status, content_type=result.content_type)


def oauth_start(request: HttpRequest, account_id: int) -> HttpResponse:
    """Send the visitor to the platform's consent page; it comes back to `oauth_callback` with a code."""
    redirect_uri = request.build_absolute_uri(reverse("official_account:oauth_callback", args=[account_id]))
    try:
        url = services.start_oauth(
            account_id=account_id, scope=request.GET.get("scope", "snsapi_base"), redirect_uri=redirect_uri,
            next_url=request.GET.get("next", ""),
        )
    except DomainError as exc:
        return HttpResponseBadRequest(exc.message)
    return HttpResponseRedirect(url)


def oauth_callback(request: HttpRequest, account_id: int) -> HttpResponse:
    code, state = request.GET.get("code", ""), request.GET.get("state", "")
    if not code:
        return HttpResponseBadRequest(_("Authorisation was declined."))
    try:
        outcome = services.complete_oauth(account_id=account_id, code=code, state=state)
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.status)
    request.session["oa_customer_id"] = outcome.customer_id
    request.session["oa_openid"] = outcome.openid
    if outcome.next_url:
        return redirect(outcome.next_url)
    return render(request, "official_account/oauth_done.html", {"outcome": outcome})


# -- console ----------------------------------------------------------------------------------------------------------


View = Callable[..., HttpResponse]


def console(view: View) -> View:
    """Signed-in operators only; a domain error (not HQ, unknown id) renders as its 4xx instead of a 500."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            return render(request, "official_account/error.html", {"error": exc}, status=exc.status)

    return wrapper


def _scope(request: HttpRequest) -> Scope:
    return scope_for_user(request.user)


def _context(request: HttpRequest, section: str) -> dict[str, Any]:
    scope = _scope(request)
    wanted = request.GET.get("account") or request.POST.get("account")
    account = queries.account(scope, int(wanted)) if wanted and wanted.isdigit() else queries.default_account(scope)
    return {"scope": scope, "account": account, "accounts": queries.accounts(scope), "section": section}


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"official_account/{template}", context, status=status)


def _no_account(request: HttpRequest, ctx: dict[str, Any]) -> HttpResponse | None:
    return _page(request, "index.html", ctx) if ctx["account"] is None else None


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _back(section: str, account_id: int) -> HttpResponse:
    return redirect(f"{reverse(f'official_account:{section}')}?account={account_id}")


@console
def index(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "index")
    if ctx["account"] is not None:
        ctx["stats"] = queries.follower_stats(ctx["scope"], ctx["account"].pk)
        ctx["callbacks"] = queries.callback_counts(ctx["scope"], ctx["account"].pk)
        ctx["callback_url"] = request.build_absolute_uri(
            reverse("official_account:callback", args=[ctx["account"].pk])
        )
    return _page(request, "index.html", ctx)


def _reply_fields(post: Any) -> dict[str, Any]:
    article = {
        "title": post.get("article_title", ""),
        "description": post.get("article_description", ""),
        "url": post.get("article_url", ""),
        "pic_url": post.get("article_pic_url", ""),
    }
    kind = post.get("kind", "text")
    return {"kind": kind, "content": post.get("content", ""), "articles": [article] if kind == "news" else []}


@console
def keywords(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "keywords")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope, status = ctx["account"], ctx["scope"], 200
    if request.method == "POST":
        try:
            services.create_keyword_reply(
                enterprise_id=scope.enterprise_id, account_id=account.pk, keyword=request.POST.get("keyword", ""),
                match=request.POST.get("match", "exact"), priority=_int(request.POST.get("priority", "0")),
                is_active=True, actor=request.user, **_reply_fields(request.POST),
            )
        except DomainError as exc:
            ctx.update(error=exc, form=request.POST)
            status = 422
        else:
            messages.success(request, _("Keyword reply saved."))
            return _back("keywords", account.pk)
    ctx.update(rules=queries.keyword_replies(scope, account.pk), match_choices=queries.match_choices(),
               kind_choices=queries.reply_kind_choices())
    return _page(request, "keywords.html", ctx, status)


@console
def keyword_edit(request: HttpRequest, reply_id: int) -> HttpResponse:
    scope = _scope(request)
    rule = queries.keyword_reply(scope, reply_id)
    ctx = _context(request, "keywords")
    ctx.update(rule=rule, account=queries.account(scope, rule.account_id), match_choices=queries.match_choices(),
               kind_choices=queries.reply_kind_choices())
    if request.method == "POST":
        changes = {"keyword": request.POST.get("keyword", ""), "match": request.POST.get("match", "exact"),
                   "priority": _int(request.POST.get("priority", "0")),
                   "is_active": request.POST.get("is_active") == "on", **_reply_fields(request.POST)}
        try:
            services.update_keyword_reply(
                enterprise_id=scope.enterprise_id, reply_id=reply_id, changes=changes, actor=request.user
            )
        except DomainError as exc:
            ctx.update(error=exc, form=request.POST)
            return _page(request, "keyword_edit.html", ctx, 422)
        messages.success(request, _("Keyword reply saved."))
        return _back("keywords", rule.account_id)
    return _page(request, "keyword_edit.html", ctx)


@console
@require_POST
def keyword_delete(request: HttpRequest, reply_id: int) -> HttpResponse:
    scope = _scope(request)
    rule = queries.keyword_reply(scope, reply_id)
    services.delete_keyword_reply(enterprise_id=scope.enterprise_id, reply_id=reply_id, actor=request.user)
    messages.success(request, _("Keyword reply deleted."))
    return _back("keywords", rule.account_id)


@console
def follow_reply(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "follow")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope = ctx["account"], ctx["scope"]
    if request.method == "POST":
        try:
            services.set_follow_reply(
                enterprise_id=scope.enterprise_id, account_id=account.pk,
                is_active=request.POST.get("is_active") == "on", actor=request.user, **_reply_fields(request.POST),
            )
        except DomainError as exc:
            ctx.update(error=exc, form=request.POST)
            ctx.update(reply=queries.follow_reply(scope, account.pk), kind_choices=queries.reply_kind_choices())
            return _page(request, "follow_reply.html", ctx, 422)
        messages.success(request, _("Follow reply saved."))
        return _back("follow_reply", account.pk)
    ctx.update(reply=queries.follow_reply(scope, account.pk), kind_choices=queries.reply_kind_choices(),
               hooks=services.follow_hooks())
    return _page(request, "follow_reply.html", ctx)


MENU_SLOTS = 3
SUB_SLOTS = 5
LEAF_FIELDS = ("type", "key", "url", "appid", "pagepath")


def _menu_from_post(post: Any) -> tuple[list[dict[str, Any]], list[int], dict[int, list[int]]]:
    """The menu from the editor's fixed slots (empty slots skipped) and, to point errors at the right slot, which
    slot each kept button came from."""
    buttons: list[dict[str, Any]] = []
    top_slots: list[int] = []
    sub_slots: dict[int, list[int]] = {}
    for i in range(MENU_SLOTS):
        subs, kept = [], []
        for j in range(SUB_SLOTS):
            prefix = f"b{i}_s{j}_"
            if post.get(prefix + "name", "").strip():
                subs.append({"name": post.get(prefix + "name", ""),
                             **{f: post.get(prefix + f, "") for f in LEAF_FIELDS if post.get(prefix + f, "")}})
                kept.append(j)
        name = post.get(f"b{i}_name", "")
        if not name.strip() and not subs:
            continue
        button: dict[str, Any] = {"name": name}
        if subs:
            button["sub_button"] = subs
        else:
            button.update({f: post.get(f"b{i}_{f}", "") for f in LEAF_FIELDS if post.get(f"b{i}_{f}", "")})
        sub_slots[len(buttons)] = kept
        buttons.append(button)
        top_slots.append(i)
    return buttons, top_slots, sub_slots


def _slot_label(field: str | None, top_slots: list[int], sub_slots: dict[int, list[int]]) -> str:
    """`button[1].sub_button[0].name` → "Button 3 › Sub-button 2 › name" (slot numbers as the operator sees them)."""
    if not field or not field.startswith("button["):
        return field or ""
    found = re.match(r"button\[(\d+)\](?:\.sub_button\[(\d+)\])?\.?(.*)", field)
    if not found:
        return field
    top = int(found.group(1))
    parts = [_("Button %(n)s") % {"n": (top_slots[top] if top < len(top_slots) else top) + 1}]
    if found.group(2) is not None:
        sub = int(found.group(2))
        slots = sub_slots.get(top, [])
        parts.append(_("Sub-button %(n)s") % {"n": (slots[sub] if sub < len(slots) else sub) + 1})
    if found.group(3):
        parts.append(found.group(3))
    return " › ".join(parts)


def _menu_form(buttons: list[dict[str, Any]]) -> dict[str, str]:
    form: dict[str, str] = {}
    for i, top in enumerate(buttons[:MENU_SLOTS]):
        form[f"b{i}_name"] = top.get("name", "")
        for f in LEAF_FIELDS:
            form[f"b{i}_{f}"] = top.get(f, "")
        for j, sub in enumerate(top.get("sub_button", [])[:SUB_SLOTS]):
            for f in ("name", *LEAF_FIELDS):
                form[f"b{i}_s{j}_{f}"] = sub.get(f, "")
    return form


def _slot_values(form: dict[str, str], prefix: str) -> dict[str, str]:
    return {"prefix": prefix, **{f: form.get(prefix + f, "") for f in ("name", *LEAF_FIELDS)}}


@console
def menu(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "menu")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope, status = ctx["account"], ctx["scope"], 200
    current = queries.menu(scope, account.pk)
    form = _menu_form(current.buttons if current else [])
    if request.method == "POST":
        buttons, top_slots, sub_slots = _menu_from_post(request.POST)
        try:
            services.save_menu(enterprise_id=scope.enterprise_id, account_id=account.pk, buttons=buttons,
                               actor=request.user)
        except DomainError as exc:
            ctx.update(error=exc, error_where=_slot_label(exc.field, top_slots, sub_slots))
            form = {k: str(v) for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
            status = 422
        else:
            messages.success(request, _("Menu saved; it goes live once the platform accepts it."))
            return _back("menu", account.pk)
    slots = [
        {
            **_slot_values(form, f"b{i}_"),
            "n": i + 1,
            "subs": [{**_slot_values(form, f"b{i}_s{j}_"), "n": j + 1} for j in range(SUB_SLOTS)],
        }
        for i in range(MENU_SLOTS)
    ]
    ctx.update(menu=current, form=form, slots=slots, status_label=queries.push_status_label(current.status)
               if current else "")
    return _page(request, "menu.html", ctx, status)


def _optional_int(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() else None


def _expiry(post: Any) -> int | None:
    """The form asks for days (1-30); the platform counts seconds."""
    if post.get("permanent") == "on":
        return None
    days = _optional_int(post.get("expire_days", ""))
    return None if days is None else days * 86400


@console
def qr_scenes(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "qr")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope, status = ctx["account"], ctx["scope"], 200
    if request.method == "POST":
        post = request.POST
        numeric = post.get("scene_type") == "id"
        try:
            services.create_qr_scene(
                enterprise_id=scope.enterprise_id, account_id=account.pk, name=post.get("name", ""),
                permanent=post.get("permanent") == "on",
                scene_id=_optional_int(post.get("scene", "")) if numeric else None,
                scene_str="" if numeric else post.get("scene", ""),
                expire_seconds=_expiry(post),
                reply_text=post.get("reply_text", ""), actor=request.user,
            )
        except DomainError as exc:
            ctx.update(error=exc, form=post)
            status = 422
        else:
            messages.success(request, _("QR code created."))
            return _back("qr", account.pk)
    ctx.update(rows=queries.qr_scenes(scope, account.pk))
    return _page(request, "qr.html", ctx, status)


@console
def qr_scene_detail(request: HttpRequest, scene_pk: int) -> HttpResponse:
    scope = _scope(request)
    scene = queries.qr_scene(scope, scene_pk)
    ctx = _context(request, "qr")
    ctx["account"] = queries.account(scope, scene.account_id)
    if request.method == "POST":
        ok = services.refresh_qr_ticket(scene_pk=scene.pk)
        (messages.success if ok else messages.error)(request, _("Ticket refreshed.") if ok else _("Refresh failed."))
        return redirect(reverse("official_account:qr_detail", args=[scene.pk]))
    days = queries.scene_daily(scope, scene.pk, days=30)
    row = next((r for r in queries.qr_scenes(scope, scene.account_id) if r.scene.pk == scene.pk), None)
    ctx.update(scene=scene, row=row, days=list(reversed(days)),
               chart={"days": [d.day.isoformat() for d in days], "follows": [d.follows for d in days],
                      "scans": [d.scans for d in days]})
    return _page(request, "qr_detail.html", ctx)


@console
def template_log(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "templates")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope, status = ctx["account"], ctx["scope"], 200
    if request.method == "POST":
        post = request.POST
        data = {key: {"value": post.get(f"value_{key}", "")} for key in ("first", "keyword1", "keyword2", "remark")
                if post.get(f"value_{key}", "")}
        try:
            services.send_template_message(
                enterprise_id=scope.enterprise_id, account_id=account.pk, actor=request.user,
                request=services.TemplateRequest(
                    openid=post.get("openid", "").strip(), template_id=post.get("template_id", "").strip(), data=data,
                    idempotency_key=post.get("idempotency_key", "").strip(), url=post.get("url", "").strip(),
                ),
            )
        except DomainError as exc:
            ctx.update(error=exc, form=post)
            status = 422
        else:
            messages.success(request, _("Template message queued."))
            return _back("templates", account.pk)
    page = queries.template_sends(scope, account.pk, status=request.GET.get("status", ""),
                                  page=page_param(request.GET.get("page")))
    ctx.update(page=page, status_choices=queries.send_status_choices(), status_filter=request.GET.get("status", ""))
    return _page(request, "templates.html", ctx, status)


@console
def callback_log(request: HttpRequest) -> HttpResponse:
    ctx = _context(request, "callbacks")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    status = request.GET.get("status", "")
    page = queries.callback_log(ctx["scope"], ctx["account"].pk, status=status,
                                page=page_param(request.GET.get("page")))
    ctx.update(page=page, status_choices=queries.callback_status_choices(), status_filter=status,
               counts=queries.callback_counts(ctx["scope"], ctx["account"].pk))
    return _page(request, "callbacks.html", ctx)


@console
def followers(request: HttpRequest) -> HttpResponse:
    """The follower sync: a button that starts it (HQ only, like every page here) and its progress, polled by htmx
    while a run is going."""
    ctx = _context(request, "followers")
    if (empty := _no_account(request, ctx)) is not None:
        return empty
    account, scope = ctx["account"], ctx["scope"]
    if request.method == "POST":
        services.start_follower_sync(enterprise_id=scope.enterprise_id, account_id=account.pk, actor=request.user)
        messages.success(request, _("Follower sync started: the worker imports every follower."))
        return _back("followers", account.pk)
    runs = queries.follower_syncs(scope, account.pk)
    current = runs[0] if runs else None
    ctx.update(runs=runs, current=current, polling=current is not None and current.status == "running",
               stats=queries.follower_stats(scope, account.pk))
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return _page(request, "_follower_sync.html", ctx)
    return _page(request, "followers.html", ctx)
