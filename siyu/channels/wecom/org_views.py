"""WeCom and the organisation: the department mapping page (HQ), the address-book sync, and staff sign-in with
their WeCom identity (web OAuth: redirect to WeCom's sign-in page, come back with a code and our state)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.channels import queries as channel_queries
from siyu.channels.wecom import queries as wecom_queries
from siyu.channels.wecom import staff_login, sync_jobs
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.org import editing
from siyu.org import queries as org_queries

SESSION_STATE = "wecom_sign_in"
WECOM = "wecom"  # the channel account kind (handlers import no models)


# ---------------------------------------------------------------------------------------------------------------
# Departments (HQ)


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@console_view
def departments(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    links = org_queries.department_links(scope)  # HQ only
    if request.method == "POST":
        place = request.POST.get("place", "")
        kind, _sep, raw_id = place.partition(":")
        store_id = _int_or_none(raw_id) if kind == "store" else None
        region_id = _int_or_none(raw_id) if kind == "region" else None
        try:
            link = editing.map_department(scope=scope, link_id=_int_or_none(request.POST.get("link_id")) or 0,
                                          store_id=store_id, region_id=region_id, actor=request.user)
            messages.success(request, _("%(name)s mapped; the next sync places its new members there.")
                             % {"name": link.name})
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("channels:wecom_directory")
    jobs = [j for j in wecom_queries.sync_jobs(scope, limit=20) if j.kind == "directory"][:5]
    context = {
        "links": list(links[:2000]),
        "stores": list(org_queries.stores(scope).order_by("region__code", "code")),
        "regions": list(org_queries.regions(scope)),
        "accounts": list(channel_queries.accounts(scope, kind=WECOM)),
        "tab": "departments",
        "sync_jobs": jobs,
        "sync_jobs_open": any(j.status in ("queued", "running") for j in jobs),
    }
    return render(request, "org/departments.html", context)


@console_view
@require_POST
def directory_sync(request: HttpRequest, account_id: int) -> HttpResponse:
    """Queues the sync (the worker pages through the address book); the departments page shows its progress."""
    scope = scope_of(request)
    try:
        sync_jobs.start_sync_job(scope=scope, account_id=account_id, kind="directory", actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("channels:wecom_directory")
    messages.success(request, _("Address book sync queued: it runs in the background; its result is shown below."))
    return redirect("channels:wecom_directory")


# ---------------------------------------------------------------------------------------------------------------
# Sign-in with WeCom


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("channels:wecom_login_callback"))


def sign_in(request: HttpRequest) -> HttpResponseBase:
    """The WeCom apps to sign in through; with one, straight to its sign-in page."""
    options = staff_login.sign_in_options()
    account_id = _int_or_none(request.GET.get("account"))
    if account_id is None and len(options) == 1:
        account_id = options[0].account_id
    if account_id is None or account_id not in {o.account_id for o in options}:
        return render(request, "org/wecom_sign_in.html", {"options": options}, status=200 if options else 404)
    state = staff_login.new_state()
    nxt = request.GET.get("next", "")
    safe_next = nxt if url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()) else ""
    request.session[SESSION_STATE] = {"state": state, "account_id": account_id, "next": safe_next}
    try:
        url = staff_login.authorize_url(account_id=account_id, redirect_uri=_callback_url(request), state=state)
    except DomainError as exc:
        return render(request, "org/wecom_sign_in.html", {"options": options, "error": exc.message}, status=400)
    return redirect(url)


def sign_in_callback(request: HttpRequest) -> HttpResponseBase:
    """WeCom sends the browser back here with ?code=&state=. The state must be the one this browser's session
    started (a forged callback carries someone else's code into our session: refused), and is used once."""
    pending = request.session.pop(SESSION_STATE, None) or {}
    try:
        staff_login.check_state(expected=pending.get("state"), received=request.GET.get("state", ""))
        user = staff_login.user_for_code(account_id=int(pending["account_id"]), code=request.GET.get("code", ""))
    except (PermissionDenied, DomainError) as exc:
        return render(request, "org/wecom_sign_in.html", {"options": staff_login.sign_in_options(),
                                                          "error": exc.message}, status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(pending.get("next") or "console:home")
