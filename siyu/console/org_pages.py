"""Organisation console pages: regions, stores and staff (lists with search, create and edit), marking staff as left,
console passwords, and the organisation sheet (upload, per-row report, apply). HQ edits everything; a manager edits
the store staff of their own team; everyone else only reads what their scope shows."""

from __future__ import annotations

from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console import org_forms as forms
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.core.pagination import page_param, paginate
from siyu.org import editing, queries, sheets
from siyu.org.scope import Scope

PER_PAGE = 50


def _field_error(form: django_forms.Form, exc: DomainError) -> None:
    """A service's refusal shown beside the field it names (or above the form)."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _save(form: django_forms.Form, save: Any) -> Any:
    if not form.is_valid():
        return None
    try:
        return save()
    except GateError:
        raise
    except DomainError as exc:
        _field_error(form, exc)
        return None


def _query(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# ---------------------------------------------------------------------------------------------------------------
# Regions


@console_view
def region_list(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    form = forms.RegionForm(request.POST or None)
    if request.method == "POST":
        editing.require_hq(scope, "regions")
        if _save(form, lambda: editing.create_region(scope=scope, data=form.to_input(), actor=request.user)):
            messages.success(request, _("Region added."))
            return redirect("org:regions")
    q = request.GET.get("q", "")[:100]
    page = paginate(queries.search_regions(scope, q), page=page_param(request.GET.get("page")), page_size=PER_PAGE)
    return render(request, "org/regions.html", {"page": page, "form": form, "q": q, "is_hq": scope.is_hq,
                                                "query": _query(request), "tab": "regions"})


@console_view
def region_edit(request: HttpRequest, region_id: int) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_hq(scope, "regions")
    region = queries.get_region(scope, region_id)
    form = forms.RegionForm(request.POST or None, initial={"name": region.name, "code": region.code})
    if request.method == "POST" and _save(form, lambda: editing.update_region(
            scope=scope, region_id=region.pk, data=form.to_input(), actor=request.user)):
        messages.success(request, _("Region saved."))
        return redirect("org:regions")
    return render(request, "org/edit.html", {"form": form, "title": region.name, "tab": "regions",
                                             "back": "org:regions"})


# ---------------------------------------------------------------------------------------------------------------
# Stores


@console_view
def store_list(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    flt = forms.StoreFilterForm(request.GET or None)
    q, state = "", ""
    if flt.is_valid():
        q, state = flt.cleaned_data["q"], flt.cleaned_data["state"]
    page = paginate(queries.search_stores(scope, q, state=state), page=page_param(request.GET.get("page")),
                    page_size=PER_PAGE)
    return render(request, "org/stores.html", {"page": page, "filter": flt, "is_hq": scope.is_hq,
                                               "query": _query(request), "tab": "stores"})


def _store_form(request: HttpRequest, scope: Scope, initial: dict[str, Any] | None = None) -> forms.StoreForm:
    return forms.StoreForm(scope, request.POST or None, initial=initial or {"opening_state": "open"})


@console_view
def store_new(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_hq(scope, "stores")
    form = _store_form(request, scope)
    if request.method == "POST" and _save(form, lambda: editing.create_store(
            scope=scope, data=form.to_input(), actor=request.user)):
        messages.success(request, _("Store added."))
        return redirect("org:stores")
    return render(request, "org/edit.html", {"form": form, "title": _("New store"), "tab": "stores",
                                             "back": "org:stores"})


@console_view
def store_edit(request: HttpRequest, store_id: int) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_hq(scope, "stores")
    store = queries.get_store(scope, store_id)
    initial = {"name": store.name, "code": store.code, "region_id": store.region_id, "city": store.city,
               "address": store.address, "opening_state": store.opening_state, "opened_on": store.opened_on}
    form = _store_form(request, scope, initial)
    if request.method == "POST" and _save(form, lambda: editing.update_store(
            scope=scope, store_id=store.pk, data=form.to_input(), actor=request.user)):
        messages.success(request, _("Store saved."))
        return redirect("org:stores")
    return render(request, "org/edit.html", {"form": form, "title": store.name, "tab": "stores",
                                             "back": "org:stores"})


# ---------------------------------------------------------------------------------------------------------------
# Staff


@console_view
def staff_list(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    flt = forms.StaffFilterForm(request.GET or None)
    q, role, active = "", "", None
    if flt.is_valid():
        q, role = flt.cleaned_data["q"], flt.cleaned_data["role"]
        active = {"1": True, "0": False}.get(flt.cleaned_data["active"])
    qs = queries.search_staff(scope, q, role=role, active=active)
    page = paginate(qs, page=page_param(request.GET.get("page")), page_size=PER_PAGE)
    return render(request, "org/staff.html", {"page": page, "filter": flt, "is_hq": scope.is_hq,
                                              "can_add": scope.is_manager, "query": _query(request),
                                              "tab": "staff"})


@console_view
def staff_new(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_team_editor(scope)
    form = forms.StaffForm(scope, request.POST or None)
    if request.method == "POST" and _save(form, lambda: editing.create_staff(
            scope=scope, data=form.to_input(), actor=request.user)):
        messages.success(request, _("Staff member added."))
        return redirect("org:staff")
    return render(request, "org/edit.html", {"form": form, "title": _("New staff member"), "tab": "staff",
                                             "back": "org:staff"})


@console_view
def staff_edit(request: HttpRequest, staff_id: int) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_team_editor(scope)
    staff = queries.get_staff(scope, staff_id)
    initial = {"name": staff.name, "role": staff.role, "store_id": staff.store_id, "region_id": staff.region_id,
               "wecom_userid": staff.wecom_userid, "mobile": staff.mobile}
    action = request.POST.get("action", "save")
    form = forms.StaffForm(scope, request.POST if action == "save" else None, initial=initial)
    left = forms.LeftForm(request.POST if action == "left" else None)
    password = forms.PasswordForm(request.POST if action == "password" else None,
                                  initial={"username": staff.user.username if staff.user else staff.wecom_userid})
    if request.method == "POST":
        done = {
            "save": lambda: _save(form, lambda: editing.update_staff(
                scope=scope, staff_id=staff.pk, data=form.to_input(), actor=request.user)),
            "left": lambda: _save(left, lambda: editing.mark_staff_left(
                scope=scope, staff_id=staff.pk, reason=left.cleaned_data["reason"], actor=request.user)),
            "password": lambda: _save(password, lambda: editing.set_staff_password(
                scope=scope, staff_id=staff.pk, username=password.cleaned_data["username"],
                password=password.cleaned_data["password"], actor=request.user)),
        }.get(action, lambda: None)()
        if done:
            messages.success(request, {"left": _("Marked as left: resigned-staff inheritance now offers their "
                                                 "customers."),
                                       "password": _("Sign-in saved.")}.get(action, _("Staff member saved.")))
            return redirect("org:staff_edit", staff_id=staff.pk)
    context = {"form": form, "left_form": left, "password_form": password, "staff": staff, "is_hq": scope.is_hq,
               "tab": "staff"}
    return render(request, "org/staff_edit.html", context)


# ---------------------------------------------------------------------------------------------------------------
# The organisation sheet


@console_view
def sheet_upload(request: HttpRequest) -> HttpResponseBase:
    scope = scope_of(request)
    editing.require_hq(scope, "the organisation")
    form = forms.SheetForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > sheets.MAX_BYTES:
            form.add_error("file", _("The file is larger than 5 MB."))
        else:
            sheet = _save(form, lambda: sheets.preview_sheet(scope=scope, filename=upload.name or "sheet",
                                                             content=upload.read(), actor=request.user))
            if sheet is not None:
                return redirect("org:sheet", sheet_id=sheet.pk)
    return render(request, "org/sheet_upload.html", {"form": form, "tab": "import", "columns": sheets.ALIASES})


@console_view
def sheet_detail(request: HttpRequest, sheet_id: int) -> HttpResponseBase:
    scope = scope_of(request)
    sheet = sheets.get_sheet(scope, sheet_id)  # HQ only
    report = sheet.report or {}
    items = report.get("items", [])
    only_errors = request.GET.get("errors") == "1"
    shown = [i for i in items if i["errors"]] if only_errors else items
    return render(request, "org/sheet.html", {"sheet": sheet, "report": report, "items": shown[:2000],
                                              "only_errors": only_errors, "tab": "import"})


@console_view
@require_POST
def sheet_apply(request: HttpRequest, sheet_id: int) -> HttpResponse:
    scope = scope_of(request)
    try:
        applied = sheets.apply_sheet(scope=scope, sheet_id=sheet_id, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("org:sheet", sheet_id=sheet_id)
    messages.success(request, _("Applied: %(create)s created, %(update)s updated, %(unchanged)s unchanged, "
                                "%(errors)s rows skipped.") % applied)
    return redirect("org:sheet", sheet_id=sheet_id)
