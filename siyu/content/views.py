"""Content console pages: the material library (HQ uploads; every role browses), folders, scripts.

Files are served through `material_file` after the scoped lookup (never from a public media URL), with the type
detected at upload, `nosniff`, and as an attachment unless it is an image or a video.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from siyu.api.auth import actor_of
from siyu.catalog.views import console_page, page_number, scope_of
from siyu.channels.wecom import staff_login
from siyu.console.once import create_once
from siyu.content import forms, links, persona_sheet, queries, services, sidebar
from siyu.core.errors import DomainError, GateError, NotFound, UpstreamError, ValidationFailed
from siyu.core.http import client_ip
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.org.scope import Scope, scope_for_user

PER_PAGE = 24
INLINE_TYPES = ("image/", "video/")


def _require_editor_for(request: HttpRequest, scope: Scope, *, creating: bool = False) -> None:
    if request.method == "POST" or creating:
        services.require_editor(scope)


@console_page
def material_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = forms.MaterialFilterForm(scope, request.GET or None)
    flt = form.to_filter() if request.GET else queries.MaterialFilter()
    page = queries.search_materials(scope, flt, page=page_number(request), page_size=PER_PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "can_edit": queries.can_edit(scope), "query": query.urlencode(),
               "folders": queries.folders(scope).order_by("name"), "tab": "materials"}
    return render(request, "content/material_list.html", context)


@console_page
@require_POST
def folder_create(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    _require_editor_for(request, scope)
    form = forms.FolderForm(request.POST)
    if form.is_valid():
        try:
            services.create_folder(scope=scope, name=form.cleaned_data["name"], actor=actor_of(request))
            messages.success(request, _("Folder added."))
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, _("Give the folder a name."))
    return redirect("content:index")


def _create_material(request: HttpRequest, scope: Scope, form: forms.MaterialForm) -> int | None:
    if not form.is_valid():
        return None
    upload = request.FILES.get("file")
    data = form.material_input()

    def create() -> int:
        file = services.Upload(stream=upload, name=upload.name or "", size=upload.size) if upload else None
        return services.create_material(scope=scope, data=data, upload=file, actor=actor_of(request)).pk

    try:
        return create_once(request, form, action="content.material", create=create)
    except GateError:
        raise
    except DomainError as exc:
        forms.apply_error(form, exc, aliases={"folder_id": "folder", "product_id": "product"})
        return None


@console_page
def material_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    _require_editor_for(request, scope, creating=True)
    if request.method == "POST":
        form = forms.MaterialForm(scope, request.POST, request.FILES)
        created = _create_material(request, scope, form)
        if created is not None:
            messages.success(request, _("Material added."))
            return redirect("content:material", material_id=created)
        status = 422
    else:
        form = forms.MaterialForm(scope, initial={"kind": request.GET.get("kind", "image")})
        status = 200
    return render(request, "content/material_edit.html", {"form": form, "material": None, "tab": "materials"},
                  status=status)


@console_page
def material_detail(request: HttpRequest, material_id: int) -> HttpResponse:
    scope = scope_of(request)
    material = queries.get_material(scope, material_id)
    _require_editor_for(request, scope)
    status = 200
    if request.method == "POST":
        form = forms.MaterialForm(scope, request.POST, editing=True, initial={"kind": material.kind})
        if request.POST.get("action") == "archive":
            services.archive_material(scope=scope, material_id=material_id, actor=actor_of(request))
            messages.success(request, _("Material archived."))
            return redirect("content:index")
        if form.is_valid():
            try:
                services.update_material(scope=scope, material_id=material_id,
                                         data=form.material_input(material.kind), actor=actor_of(request))
                messages.success(request, _("Material saved."))
                return redirect("content:material", material_id=material_id)
            except GateError:
                raise
            except DomainError as exc:
                forms.apply_error(form, exc, aliases={"folder_id": "folder", "product_id": "product"})
        status = 422
    else:
        form = forms.MaterialForm(scope, editing=True, initial={
            "kind": material.kind, "title": material.title, "text": material.text, "url": material.url,
            "mp_appid": material.mp_appid, "mp_page": material.mp_page, "folder": material.folder_id,
            "stage": material.stage, "scenario": material.scenario, "product": material.product_id})
    context = {"form": form, "material": material, "can_edit": queries.can_edit(scope), "tab": "materials"}
    return render(request, "content/material_edit.html", context, status=status)


@login_required
def material_file(request: HttpRequest, material_id: int, which: str) -> HttpResponseBase:
    try:
        material = queries.get_material(scope_of(request), material_id)
    except GateError as exc:
        raise Http404(exc.message) from exc
    name = material.thumbnail if which == "thumb" else material.file
    if not name or which not in ("file", "thumb"):
        raise Http404("no file")
    content_type = "image/jpeg" if which == "thumb" else material.content_type
    inline = content_type.startswith(INLINE_TYPES)
    label = material.file_name or f"material-{material.pk}"
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type, as_attachment=not inline,
                            filename=label)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------------------------------------------------------
# Scripts


@console_page
def script_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = forms.ScriptFilterForm(request.GET or None)
    flt = form.to_filter() if request.GET else queries.ScriptFilter()
    page = queries.search_scripts(scope, flt, page=page_number(request), page_size=PER_PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "can_edit": queries.can_edit(scope), "query": query.urlencode(),
               "tab": "scripts"}
    return render(request, "content/script_list.html", context)


def _save_script(request: HttpRequest, scope: Scope, form: forms.ScriptForm, script_id: int | None) -> int | None:
    if not form.is_valid():
        return None
    data = form.script_input()
    try:
        if script_id is None:
            return create_once(request, form, action="content.script", create=lambda: services.create_script(
                scope=scope, data=data, actor=actor_of(request)).pk)
        services.update_script(scope=scope, script_id=script_id, data=data, actor=actor_of(request))
        return script_id
    except GateError:
        raise
    except DomainError as exc:
        aliases = {"material_id": "material", "product_id": "product", "steps": "hook",
                   "fallbacks.customer_name": "fallback_customer_name"}
        if exc.index is not None and exc.field:  # steps[i].text: the form sends the steps in STEP_KINDS order
            aliases[exc.field] = services.STEP_KINDS[exc.index]
        forms.apply_error(form, exc, aliases=aliases)
        return None


@console_page
def script_edit(request: HttpRequest, script_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    script = queries.get_script(scope, script_id) if script_id is not None else None
    _require_editor_for(request, scope, creating=script_id is None)
    status = 200
    if request.method == "POST":
        if script_id is not None and request.POST.get("action") == "archive":
            services.archive_script(scope=scope, script_id=script_id, actor=actor_of(request))
            messages.success(request, _("Script archived."))
            return redirect("content:scripts")
        form = forms.ScriptForm(scope, request.POST)
        saved = _save_script(request, scope, form, script_id)
        if saved is not None:
            messages.success(request, _("Script saved."))
            return redirect("content:script", script_id=saved)
        status = 422
    else:
        form = forms.ScriptForm(scope, initial=forms.script_initial(script) if script else {"scenario": "greeting"})
    context = {"form": form, "script": script, "can_edit": queries.can_edit(scope), "tab": "scripts",
               "variables": forms.variable_names()}
    return render(request, "content/script_edit.html", context, status=status)


# ---------------------------------------------------------------------------------------------------------------
# The staff sidebar (a phone-sized page WeCom opens beside a chat)


SIDEBAR_OAUTH = "content.sidebar_oauth"  # the pending in-app authorisation: {state, account_id}
SIDEBAR_MEMBER = "content.sidebar_member"  # whom WeCom confirmed for this session: {account_id, staff_id}


def _int_or_none(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _confirmed_in_wecom(request: HttpRequest, account_id: int) -> bool:
    """Whether WeCom confirmed, in this session, that the member using the client is the one signed in."""
    if not request.user.is_authenticated:
        return False
    member = request.session.get(SIDEBAR_MEMBER) or {}
    try:
        staff_id = scope_of(request).staff_id
    except GateError:
        return False
    return bool(staff_id) and member.get("account_id") == account_id and member.get("staff_id") == staff_id


def sidebar_page(request: HttpRequest) -> HttpResponseBase:
    """The page WeCom opens beside a chat. The toolbar's URL carries `?account=<id>` (the WeCom app): until WeCom has
    confirmed in this session who uses the client, the page signs them in with WeCom's in-app authorisation, whatever
    console session the browser holds. Without `account` it is the console's page (signed in with a password)."""
    account_id = _int_or_none(request.GET.get("account"))
    if account_id is not None and not _confirmed_in_wecom(request, account_id):
        return redirect("content:sidebar_sign_in", account_id=account_id)
    return _sidebar_page(request, account_id)


@console_page
def _sidebar_page(request: HttpRequest, account_id: int | None) -> HttpResponse:
    scope = scope_of(request)
    try:
        config = sidebar.page_config(scope, request.build_absolute_uri(), account_id=account_id)
        problem = ""
    except (NotFound, UpstreamError) as exc:
        config, problem = None, exc.message
    return render(request, "content/sidebar.html", {"page": config, "problem": problem})


def _sidebar_refusal(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "content/sidebar_refused.html", {"message": message}, status=status)


def sidebar_sign_in(request: HttpRequest, account_id: int) -> HttpResponseBase:
    """Start WeCom's in-app authorisation (snsapi_base) for the sidebar: a random state kept in this session, the
    client answers at once with a code for its member (the simulator plays the client in the demo)."""
    state = staff_login.new_state()
    callback = request.build_absolute_uri(reverse("content:sidebar_sign_in_callback"))
    try:
        url = staff_login.oauth_url(account_id=account_id, redirect_uri=callback, state=state)
    except DomainError as exc:
        return _sidebar_refusal(request, exc.message, exc.status)
    request.session[SIDEBAR_OAUTH] = {"state": state, "account_id": account_id}
    return redirect(url)


def sidebar_sign_in_callback(request: HttpRequest) -> HttpResponseBase:
    """WeCom's answer (?code=&state=): the state must be this session's and is used once (a callback carrying someone
    else's code into this session is refused: login CSRF); the code names the member (auth/getuserinfo), who signs in
    as their staff account (a new session key, as any sign-in), and the page opens for their own customers."""
    pending = request.session.pop(SIDEBAR_OAUTH, None) or {}
    try:
        staff_login.check_state(expected=pending.get("state"), received=request.GET.get("state", "")[:128])
        account_id = int(pending["account_id"])
        user = staff_login.user_for_code(account_id=account_id, code=request.GET.get("code", ""))
        staff_id = scope_for_user(user).staff_id
    except DomainError as exc:
        return _sidebar_refusal(request, exc.message, exc.status)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SIDEBAR_MEMBER] = {"account_id": account_id, "staff_id": staff_id}
    return redirect(f"{reverse('content:sidebar')}?{urlencode({'account': account_id})}")


def _contact_fragment(request: HttpRequest, scope: Scope, **where: Any) -> HttpResponse:
    try:
        found = sidebar.contact(scope, **where)
    except NotFound:
        return render(request, "content/_sidebar_unknown.html")  # a fragment htmx swaps in: not an error page
    tags = customer_queries.tags(scope)
    held = {t.pk for t in found.tags}
    context = {"c": found, "other_tags": [t for t in tags if t.pk not in held][:100]}
    return render(request, "content/_sidebar_contact.html", context)


@console_page
def sidebar_contact(request: HttpRequest) -> HttpResponse:
    return _contact_fragment(request, scope_of(request), external_userid=request.GET.get("external_userid", "")[:64])


@console_page
@require_POST
def sidebar_tags(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Add or remove one tag on the open customer: one the member follows (another's, whatever the role, is a 404);
    the service checks the customer is in the staff's scope too."""
    scope = scope_of(request)
    sidebar.require_own(scope, customer_id)
    try:
        tag_id = int(request.POST.get("tag", ""))
    except ValueError:
        return _contact_fragment(request, scope, customer_id=customer_id)
    arguments: dict[str, Any] = {"enterprise_id": scope.enterprise_id, "customer_ids": [customer_id],
                                 "tag_ids": [tag_id], "visible_customers": customer_queries.visible_customer_ids(scope),
                                 "actor": actor_of(request)}
    try:
        if request.POST.get("action") == "remove":
            customer_services.untag_customers(**arguments)
        else:
            customer_services.tag_customers(**arguments)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return _contact_fragment(request, scope, customer_id=customer_id)


@console_page
def sidebar_replies(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    try:
        customer_id: int | None = int(request.GET.get("customer", ""))
    except ValueError:
        customer_id = None
    extra = {key[2:]: str(request.GET.get(key, ""))[:64] for key in request.GET if key.startswith("v_")}
    found = sidebar.replies(scope, request.GET.get("q", "")[:100], customer_id=customer_id, extra=extra)
    context = {"replies": found, "customer_id": customer_id, "q": request.GET.get("q", "")[:100],
               "tap": uuid.uuid4().hex}
    return render(request, "content/_sidebar_replies.html", context)


@console_page
@require_POST
def sidebar_media(request: HttpRequest, material_id: int) -> HttpResponse:
    """What sendChatMessage needs for a script's material: a link as a `news` card whose link is the tracked
    redirect for the open customer (`?customer=`, one the member follows), a file as WeCom temporary media."""
    scope = scope_of(request)
    try:
        if queries.get_material(scope, material_id).kind == "link":
            customer_id = _int_or_none(request.GET.get("customer"))
            card = sidebar.link_card(scope, material_id, customer_id=customer_id)
            return JsonResponse({"msgtype": "news", "news": {**card, "link": request.build_absolute_uri(card["link"])}})
        msgtype, media = sidebar.media_id(scope, material_id)
    except (ValidationFailed, UpstreamError) as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse({"msgtype": msgtype, "media_id": media})


@require_safe
def tracked_link(request: HttpRequest, token: str) -> HttpResponseBase:
    """`/l/<token>`: a tracked link opened. Counted once per customer (or visitor) and day when a person opens it
    with GET; HEAD, link previews and crawlers are sent on uncounted. A token that does not verify is a 404."""
    link = links.read(token)
    url = links.target_url(link) if link is not None else None
    if link is None or url is None:
        raise Http404("no such link")
    agent = request.headers.get("User-Agent", "")
    if request.method == "GET" and not links.is_robot(agent):
        links.record_click(link, at=timezone.now(), ip=client_ip(request), user_agent=agent)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------------------------------------------
# Moments calendar


@console_page
def moments(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    _require_editor_for(request, scope)
    form = forms.MomentPlanForm(scope, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                create_once(request, form, action="content.moment", create=lambda: services.plan_moment(
                    scope=scope, planned_at=form.cleaned_data["planned_at"], text=form.cleaned_data["text"],
                    store_id=form.cleaned_data["store"], attachments=form.cleaned_data["attachments"],
                    actor=actor_of(request)).pk)
                messages.success(request, _("Moment planned."))
                return redirect("content:moments")
            except GateError:
                raise
            except DomainError as exc:
                forms.apply_error(form, exc, aliases={"store_id": "store"})
        status = 422
    start = timezone.localdate()
    context = {"form": form, "days": queries.moment_calendar(scope, start=start, days=14),
               "can_edit": queries.can_edit(scope), "tab": "moments"}
    return render(request, "content/moments.html", context, status=status)


@console_page
def moment_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    """One calendar post: what it carries, where WeCom has it, and per member who posted it with the comments and
    likes on their copy."""
    scope = scope_of(request)
    plan = queries.get_moment_plan(scope, plan_id)
    context = {"plan": plan, "attachments": queries.moment_attachments(scope, plan),
               "engagement": queries.moment_engagement(scope, plan_id), "can_edit": queries.can_edit(scope),
               "tab": "moments"}
    return render(request, "content/moment_detail.html", context)


@console_page
@require_POST
def moment_refresh(request: HttpRequest, plan_id: int) -> HttpResponse:
    """HQ reads the engagement now instead of waiting for the periodic read."""
    scope = scope_of(request)
    services.require_editor(scope)
    queries.get_moment_plan(scope, plan_id)
    if services.refresh_moment_engagement(plan_id=plan_id):
        messages.success(request, _("Engagement read from WeCom."))
    else:
        messages.error(request, _("WeCom has no posts to report for this moment yet."))
    return redirect("content:moment", plan_id=plan_id)


@console_page
@require_POST
def moment_cancel(request: HttpRequest, plan_id: int) -> HttpResponse:
    scope = scope_of(request)
    services.require_editor(scope)
    services.cancel_moment(scope=scope, plan_id=plan_id, actor=actor_of(request))
    messages.success(request, _("Moment cancelled."))
    return redirect("content:moments")


# ---------------------------------------------------------------------------------------------------------------
# UGC review


@console_page
def ugc_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    status = request.GET.get("status", "pending")
    if status not in queries.SubmissionStatuses.values:
        status = ""
    page = queries.submissions(scope, status=status, page=page_number(request), page_size=PER_PAGE)
    context = {"page": page, "status": status, "statuses": queries.SubmissionStatuses.choices,
               "can_edit": queries.can_edit(scope), "tab": "ugc", "query": f"status={status}"}
    return render(request, "content/ugc_list.html", context)


@console_page
@require_POST
def ugc_review(request: HttpRequest, submission_id: int) -> HttpResponse:
    scope = scope_of(request)
    services.require_editor(scope)
    queries.get_submission(scope, submission_id)
    try:
        if request.POST.get("action") == "approve":
            services.approve_ugc(scope=scope, submission_id=submission_id, actor=actor_of(request))
            messages.success(request, _("Approved: it is in the library now."))
        else:
            services.reject_ugc(scope=scope, submission_id=submission_id, reason=request.POST.get("reason", ""),
                                actor=actor_of(request))
            messages.success(request, _("Rejected."))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("content:ugc")


@login_required
def ugc_photo(request: HttpRequest, submission_id: int) -> HttpResponseBase:
    try:
        sub = queries.get_submission(scope_of(request), submission_id)
    except GateError as exc:
        raise Http404(exc.message) from exc
    if not sub.thumbnail:
        raise Http404("no photo")
    response = FileResponse(default_storage.open(sub.thumbnail, "rb"), content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------------------------------------------
# Staff personas


@console_page
def persona_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    context = {"rows": queries.personas(scope), "checklist": queries.persona_checklist(scope), "tab": "personas",
               "me": scope.staff_id}
    return render(request, "content/personas.html", context)


@console_page
def persona_export(request: HttpRequest) -> HttpResponse:
    """The persona audit as a workbook: one row per active staff member in the viewer's scope."""
    body = persona_sheet.xlsx_bytes(queries.personas(scope_of(request)))
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="personas.xlsx"'
    return response


@console_page
def persona_edit(request: HttpRequest, staff_id: int) -> HttpResponse:
    scope = scope_of(request)
    row = queries.persona_of(scope, staff_id)
    status = 200
    if request.method == "POST":
        form = forms.PersonaForm(request.POST, request.FILES)
        if form.is_valid():
            upload = request.FILES.get("avatar")
            data = form.cleaned_data
            try:
                services.save_persona(
                    scope=scope, staff_id=staff_id, nickname=data["nickname"], signature=data["signature"],
                    persona_type=data["persona_type"], actor=actor_of(request),
                    avatar=services.Upload(stream=upload, name=upload.name or "", size=upload.size) if upload else None)
                messages.success(request, _("Persona saved."))
                return redirect("content:personas")
            except GateError:
                raise
            except DomainError as exc:
                forms.apply_error(form, exc)
        status = 422
    else:
        persona = row.persona
        form = forms.PersonaForm(initial={"nickname": persona.nickname, "signature": persona.signature,
                                          "persona_type": persona.persona_type} if persona else None)
    return render(request, "content/persona_edit.html", {"form": form, "row": row, "tab": "personas"},
                  status=status)


@login_required
def persona_avatar(request: HttpRequest, staff_id: int) -> HttpResponseBase:
    try:
        row = queries.persona_of(scope_of(request), staff_id)
    except GateError as exc:
        raise Http404(exc.message) from exc
    if row.persona is None or not row.persona.avatar:
        raise Http404("no avatar")
    try:
        stream = default_storage.open(row.persona.avatar, "rb")
    except FileNotFoundError as exc:
        raise Http404("no avatar") from exc
    response = FileResponse(stream, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    return response
