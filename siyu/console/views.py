"""The operators' console: pages that read through scoped queries and write through services (never models)."""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.console import audit_labels, forms, labels, pickers, timeline
from siyu.console.access import scope_of
from siyu.core import audit
from siyu.core import queries as core_queries
from siyu.core.demo import DEMO_PASSWORD, DEMO_USER
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.idempotency import answer_once, fingerprint
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import local_day
from siyu.customers import privacy, sections
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.org import firstrun
from siyu.org import queries as org_queries
from siyu.org import services as org_services
from siyu.org.scope import Scope

View = Callable[..., HttpResponseBase]

CUSTOMERS_PER_PAGE = 20
EVENTS_PER_PAGE = 20
STAFF_PER_PAGE = 50
AUDIT_PER_PAGE = 50
DASHBOARD_DAYS = 30


def console_view(view: View) -> View:
    """Sign-in required; a domain PermissionDenied becomes the 403 page and NotFound the 404 page."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return _error_page(request, 403, _("You do not have access to this page."), exc.message)
        except NotFound as exc:
            return _error_page(request, 404, _("We could not find that."), exc.message)

    return wrapper


def _error_page(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    context = {"status": status, "title": title, "detail": detail}
    return render(request, "console/error.html", context, status=status)


MAX_PAGE = 100_000


def _page_number(request: HttpRequest, name: str = "page") -> int:
    """A page number from the query string: junk means page 1, and absurd numbers are capped."""
    try:
        return min(MAX_PAGE, max(1, int(request.GET.get(name, "1"))))
    except ValueError:
        return 1


def _is_htmx_partial(request: HttpRequest) -> bool:
    """An htmx request that wants only a fragment (not a history restore, which needs the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


# ---------------------------------------------------------------------------------------------------------------
# Sign-in


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    authentication_form = forms.RateLimitedSignIn

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not firstrun.any_enterprise():  # a fresh install: nobody can sign in yet, the first-run wizard is next
            return redirect("setup:wizard")
        return super().get(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        return rate_limited(form, response)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if settings.DEBUG or os.environ.get("SIYU_DEMO"):
            context["demo_login"] = {"username": DEMO_USER, "password": DEMO_PASSWORD}
        return context


def rate_limited(form: Any, response: HttpResponse) -> HttpResponse:
    """A sign-in refused by the rate limit answers 429 with Retry-After; the page says when in words."""
    if isinstance(form, forms.RateLimitedSignIn) and form.retry_at is not None:
        response.status_code = 429
        response["Retry-After"] = str(form.retry_after_s())
    return response


def limit_admin_sign_in(site: Any) -> None:
    """Django admin's sign-in shares the console's rate limit (form) and its 429 (this wrapper)."""
    site.login_form = forms.RateLimitedAdminSignIn
    admin_login = site.login

    def login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = admin_login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        return rate_limited(form, response)

    site.login = login


# ---------------------------------------------------------------------------------------------------------------
# Home


def _daily_series(new_by_day: Iterable[tuple[str, int]], today: date) -> tuple[list[str], list[int]]:
    """Every one of the last DASHBOARD_DAYS Shanghai days (ending today), zero where nobody arrived."""
    counts = dict(new_by_day)
    days = [today - timedelta(days=DASHBOARD_DAYS - 1 - offset) for offset in range(DASHBOARD_DAYS)]
    return [day.strftime("%m-%d") for day in days], [counts.get(day.isoformat(), 0) for day in days]


def _shares(rows: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """Rows with their share of the largest, for the inline bars."""
    listed = list(rows)
    top = max((count for _label, count in listed), default=0) or 1
    return [{"label": label, "count": count, "pct": round(100 * count / top)} for label, count in listed]


@console_view
def home(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    board = customer_queries.dashboard(scope)
    days, counts = _daily_series(board.new_by_day, local_day(timezone.now()))
    channel_names = dict(customer_queries.Channels.choices)
    by_channel = [(str(channel_names.get(code, code)), count) for code, count in board.by_channel]
    by_store = [(name if name != "—" else _("No home store"), count) for name, count in board.by_store]
    chart = {
        "days": days,
        "counts": counts,
        "channels": [{"name": name, "value": count} for name, count in by_channel],
        "series_name": _("New customers"),
    }
    context = {
        "board": board,
        "chart": chart,
        "new_last_30": sum(counts),
        "by_channel": _shares(by_channel),
        "by_store": _shares(by_store),
        "scope": scope,
    }
    return render(request, "console/home.html", context)


@console_view
def coming_soon(request: HttpRequest) -> HttpResponse:
    return render(request, "console/coming_soon.html", {})


# ---------------------------------------------------------------------------------------------------------------
# Bulk tagging


def _bulk_target(scope: Scope, form: forms.BulkTagForm) -> dict[str, Any]:
    data = form.cleaned_data
    if data["target"] == "all":
        query = QueryDict(data.get("query") or "")
        return {"flt": forms.CustomerFilterForm(scope, query or None).to_filter()}
    return {"customer_ids": data["ids"]}


@console_view
@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponse:
    """Tag or untag the selected or all filtered customers: first a confirmation naming the count, then the change
    (once per form key: a double submit answers with the first result)."""
    scope = scope_of(request)
    form = forms.BulkTagForm(scope, request.POST)
    back = reverse("console:customers") + (f"?{request.POST.get('query', '')}" if request.POST.get("query") else "")
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(back)
    target, data = _bulk_target(scope, form), form.cleaned_data
    tag_name = _tag_name(scope, data["tag"])
    if request.POST.get("confirmed") != "1":
        count = customer_services.bulk_tag_count(scope, **target)
        context = {"form": form, "count": count, "tag_name": tag_name, "back": back, "key": uuid.uuid4().hex,
                   "adding": data["action"] == "add", "all": data["target"] == "all"}
        return render(request, "console/customer_bulk_confirm.html", context)
    asked = {"target": data["target"], "action": data["action"], "tag": data["tag"], "ids": data["ids"],
             "query": data.get("query") or ""}
    try:
        changed, _first = answer_once(
            scope=f"console.bulk_tag:{request.user.pk}", key=data.get("key") or uuid.uuid4().hex,
            fingerprint=fingerprint(asked),
            effect=lambda: customer_services.bulk_tag(scope=scope, tag_id=data["tag"], action=data["action"],
                                                      actor=request.user, **target))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    done = ngettext("Tag “%(tag)s” added to %(count)s customer.", "Tag “%(tag)s” added to %(count)s customers.",
                    changed) if data["action"] == "add" else ngettext(
        "Tag “%(tag)s” removed from %(count)s customer.", "Tag “%(tag)s” removed from %(count)s customers.", changed)
    messages.success(request, done % {"tag": tag_name, "count": f"{changed:,}"})
    return redirect(back)


# ---------------------------------------------------------------------------------------------------------------
# Pickers


@console_view
def pick(request: HttpRequest, picker: str) -> HttpResponse:
    """One page of a picker's matches (HTML for htmx, or JSON with ?format=json), only rows the caller may see."""
    scope = scope_of(request)
    kind = picker
    if kind not in pickers.SOURCES:
        raise NotFound(_("no picker %(kind)s") % {"kind": repr(kind)}, field="kind")
    text = request.GET.get("q", "")
    page = pickers.matches(scope, kind, text, page=_page_number(request))
    label = pickers.source(kind).label
    rows = [(row.pk, label(row)) for row in page.items]
    if request.GET.get("format") == "json":
        return JsonResponse({"items": [{"id": pk, "label": text} for pk, text in rows], "total": page.total,
                             "page": page.page, "has_next": page.has_next})
    return render(request, "console/_pick_results.html", {"rows": rows, "page": page, "kind": kind, "q": text})


# ---------------------------------------------------------------------------------------------------------------
# Customers


@console_view
def customer_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = forms.CustomerFilterForm(scope, request.GET or None)
    try:
        page = customer_queries.search(
            scope, form.to_filter(), page=_page_number(request), page_size=CUSTOMERS_PER_PAGE
        )
    except Conflict as exc:  # a segment whose members are still being built: say so beside the filter
        form.add_error("segment", exc.message)
        page = Page(items=[], total=0, page=1, page_size=CUSTOMERS_PER_PAGE)
    partial = _is_htmx_partial(request)
    context = {
        "form": form, "page": page, "export_query": request.GET.urlencode(), "partial": partial, "scope": scope,
        "bulk_form": forms.BulkTagForm(scope, initial={"query": request.GET.urlencode()}),
    }
    template = "console/_customer_results.html" if partial else "console/customer_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


class _Echo:
    """A file-like sink for csv.writer that hands each formatted line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _export_lines(scope: Scope, rows: QuerySet[Any]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so that Excel opens the UTF-8 file with its Chinese intact
    header = [_("ID"), _("Name"), _("Phone"), _("Gender"), _("Region"), _("Source channel"), _("Home store")]
    yield writer.writerow([*header, _("Tags"), _("Created")])
    for customer in rows.iterator(chunk_size=1000):
        tags = "|".join(ct.tag.name for ct in customer.customer_tags.all())
        created = timezone.localtime(customer.created_at).strftime("%Y-%m-%d %H:%M")
        store = customer.home_store.name if customer.home_store else ""
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    customer.pk,
                    customer.name,
                    privacy.phone_for(scope, customer.phone),
                    customer.get_gender_display(),
                    customer.region,
                    customer.get_created_source_display(),
                    store,
                    tags,
                    created,
                )
            ]
        )


@console_view
def customer_export(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    """The current filter as CSV, streamed; only the caller's customers, and the export itself is audited."""
    scope = scope_of(request)
    form = forms.CustomerFilterForm(scope, request.GET or None)
    flt = form.to_filter()
    rows = customer_queries.filtered_customers(scope, flt)
    audit.record(
        enterprise_id=scope.enterprise_id,
        actor=request.user,
        action="customer.export",
        target_type="customer",
        target_id="filter",
        summary=audit.text(N_("exported customers (%(scope)s)"), scope=scope.label or scope.role),
        changes={"filter": {key: value for key, value in vars(flt).items() if value not in ("", None)}},
    )
    response = StreamingHttpResponse(_export_lines(scope, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response


def _timeline_items(scope: Scope, events: Iterable[Any]) -> list[dict[str, Any]]:
    rows = list(events)
    names = timeline.names_for(scope, rows)
    return [
        {
            "event": event,
            "label": labels.event_label(event.name),
            "tone": labels.EVENT_TONES.get(event.name, ""),
            "meta": timeline.event_meta(event, names),
        }
        for event in rows
    ]


@console_view
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    scope = scope_of(request)
    profile = customer_queries.profile(scope, customer_id)
    events = customer_queries.timeline(
        scope, customer_id, page=_page_number(request, "events_page"), page_size=EVENTS_PER_PAGE
    )
    tag_form = forms.CustomerTagForm(scope, exclude={tag.pk for tag in profile.tags})
    sources = sections.names("source", scope, (rel.state for rel in profile.relationships))
    relationships = [
        {"rel": rel, "status": labels.relationship_status(rel.status), "source": sources.get(rel.state, "")}
        for rel in profile.relationships
    ]
    context = {
        "profile": profile,
        "customer": profile.customer,
        "relationships": relationships,
        "merges": [{"merge": m, "reason": labels.merge_reason(m.reason)} for m in profile.merges],
        "events": events,
        "timeline": _timeline_items(scope, events.items),
        "tag_form": tag_form,
        "scope": scope,
        "orders_section": sections.render_profile_section(
            "orders", request=request, scope=scope, customer_id=profile.customer.pk
        ),
        "audiences_section": sections.render_profile_section(
            "audiences", request=request, scope=scope, customer_id=profile.customer.pk
        ),
        "coupons_section": sections.render_profile_section(
            "coupons", request=request, scope=scope, customer_id=profile.customer.pk
        ),
        "points_section": sections.render_profile_section(
            "points", request=request, scope=scope, customer_id=profile.customer.pk
        ),
    }
    return render(request, "console/customer_detail.html", context)


def _tag_name(scope: Scope, tag_id: int) -> str:
    return customer_queries.tags(scope).filter(pk=tag_id).values_list("name", flat=True).first() or str(tag_id)


@console_view
@require_POST
def customer_tags(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Add or remove one tag on one customer from the profile; the service checks scope and writes the audit row."""
    scope = scope_of(request)
    customer_queries.get_customer(scope, customer_id)
    form = forms.CustomerTagForm(scope, request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a tag first."))
        return redirect("console:customer", customer_id=customer_id)
    tag_id: int = form.cleaned_data["tag"]
    adding = form.cleaned_data["action"] == "add"
    arguments: dict[str, Any] = {
        "enterprise_id": scope.enterprise_id,
        "customer_ids": [customer_id],
        "tag_ids": [tag_id],
        "visible_customers": customer_queries.visible_customer_ids(scope),
        "actor": request.user,
    }
    try:
        if adding:
            customer_services.tag_customers(**arguments)
        else:
            customer_services.untag_customers(**arguments)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("console:customer", customer_id=customer_id)
    done = _("Tag “%(tag)s” added.") if adding else _("Tag “%(tag)s” removed.")
    messages.success(request, done % {"tag": _tag_name(scope, tag_id)})
    return redirect("console:customer", customer_id=customer_id)


# ---------------------------------------------------------------------------------------------------------------
# Merge: a side-by-side preview, then the merge (managers and HQ, both customers in scope; HQ may force)

MERGE_CANDIDATES = 10
_MERGE_FIELDS = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "gender": gettext_lazy("Gender"),
    "birthday": gettext_lazy("Birthday"),
    "region": gettext_lazy("Region"),
    "home_store_id": gettext_lazy("Home store"),
    "created_at": gettext_lazy("Created"),
}


def _field_text(scope: Scope, customer: Any, field: str) -> str:
    if field == "phone":
        return privacy.phone_for(scope, customer.phone)
    if field == "gender":
        return str(customer.get_gender_display())
    if field == "home_store_id":
        return customer.home_store.name if customer.home_store is not None else ""
    if field == "birthday":
        return customer.birthday.isoformat() if customer.birthday else ""
    if field == "created_at":
        return timezone.localtime(customer.created_at).strftime("%Y-%m-%d %H:%M")
    return str(getattr(customer, field) or "")


def _merge_rows(scope: Scope, preview: Any) -> list[dict[str, Any]]:
    rows = []
    for kept in preview.profile:
        source = preview.survivor.customer if kept.source == "survivor" else preview.absorbed.customer
        rows.append({
            "label": _MERGE_FIELDS[kept.field],
            "survivor": _field_text(scope, preview.survivor.customer, kept.field),
            "absorbed": _field_text(scope, preview.absorbed.customer, kept.field),
            "kept": _field_text(scope, source, kept.field),
            "from_absorbed": kept.source == "absorbed",
        })
    return rows


def _merge_candidates(scope: Scope, customer_id: int, text: str) -> list[Any]:
    found = customer_queries.search(scope, customer_queries.CustomerFilter(q=text), page_size=MERGE_CANDIDATES + 1)
    return [c for c in found.items if c.pk != customer_id][:MERGE_CANDIDATES]


def _merge_page(request: HttpRequest, scope: Scope, customer_id: int, other: str, *,
                form: forms.MergeForm | None = None, status: int = 200) -> HttpResponse:
    customer = customer_queries.get_customer(scope, customer_id)
    context: dict[str, Any] = {"customer": customer, "scope": scope, "other": other, "preview": None,
                               "candidates": [], "is_hq": scope.is_hq}
    if other.isdigit():
        try:
            preview = customer_queries.merge_preview(scope, customer_id, int(other))
        except (NotFound, ValidationFailed) as exc:
            messages.error(request, exc.message)
        else:
            context.update(preview=preview, rows=_merge_rows(scope, preview),
                           sides=[preview.survivor, preview.absorbed], dropped={t.pk for t in preview.tags_dropped},
                           form=form or forms.MergeForm(initial={"other": int(other)}))
    elif other:
        context["candidates"] = _merge_candidates(scope, customer_id, other)
    return render(request, "console/customer_merge.html", context, status=status)


@console_view
def customer_merge(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET: find the other customer and preview the merge side by side. POST: merge the other one into this one."""
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("Only HQ and managers may merge customers."))
    if request.method != "POST":
        return _merge_page(request, scope, customer_id, request.GET.get("other", "").strip()[:128])
    form = forms.MergeForm(request.POST)
    if not form.is_valid():
        return _merge_page(request, scope, customer_id, request.POST.get("other", "")[:20], form=form, status=422)
    data = form.cleaned_data
    other = str(data["other"])
    try:
        if data["force"] and not scope.is_hq:
            raise PermissionDenied(_("Only HQ may merge customers whose identities conflict."), field="force")
        survivor = customer_queries.get_customer(scope, customer_id)
        absorbed = customer_queries.get_customer(scope, data["other"])
        customer_services.merge_customers(
            survivor=survivor, absorbed=absorbed, reason="manual", actor=request.user, force=data["force"],
            force_reason=data["force_reason"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _merge_page(request, scope, customer_id, other, form=form, status=exc.status)
    messages.success(request, _("Customer #%(other)s was merged into this customer.") % {"other": other})
    return redirect("console:customer", customer_id=customer_id)


# ---------------------------------------------------------------------------------------------------------------
# Tag library


def _library_groups(scope: Scope) -> list[dict[str, Any]]:
    groups = []
    for group in customer_queries.tag_library(scope):
        tags = list(group.tags.all())
        groups.append({"group": group, "tags": tags, "total": sum(getattr(t, "customer_count", 0) for t in tags)})
    return groups


_DUPLICATE_MESSAGE = {
    "group": gettext_lazy("A tag group with this name already exists."),
    "tag": gettext_lazy("This group already has a tag with this name."),
}


def _create_from_post(request: HttpRequest, scope: Scope, group_form: Any, tag_form: Any) -> HttpResponse | None:
    """Handle one of the two create forms; a redirect on success, None to re-render with the errors."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ edits the tag library"))
    which = request.POST.get("form")
    form = group_form if which == "group" else tag_form
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        if which == "group":
            customer_services.create_tag_group(
                enterprise_id=scope.enterprise_id, name=data["name"], exclusive=data["exclusive"], actor=request.user
            )
        else:
            group = customer_queries.get_tag_group(scope, data["group"])
            customer_services.create_tag(group=group, name=data["name"], actor=request.user)
    except DomainError as exc:
        duplicate = _DUPLICATE_MESSAGE["group" if which == "group" else "tag"]
        message = str(duplicate) if exc.code == "duplicate" else exc.message
        form.add_error("name" if exc.field == "name" else None, message)
        return None
    messages.success(request, _("“%(name)s” created.") % {"name": data["name"].strip()})
    return redirect("console:tags")


_GONE_MESSAGE = {
    "group": gettext_lazy("This tag group no longer exists."),
    "tag": gettext_lazy("This tag no longer exists."),
}


def _library_tag(scope: Scope, tag_id: int) -> Any:
    tag = customer_queries.tags(scope).filter(pk=tag_id).first()
    if tag is None:
        raise NotFound(_("tag %(tag_id)s not found") % {"tag_id": tag_id}, field="id")
    return tag


def _rename_group(request: HttpRequest, scope: Scope, data: dict[str, Any]) -> str:
    group = customer_queries.get_tag_group(scope, data["id"])
    old = group.name
    customer_services.rename_tag_group(group=group, name=data["name"], actor=request.user)
    return _("Tag group “%(old)s” renamed to “%(new)s”.") % {"old": old, "new": group.name}


def _delete_group(request: HttpRequest, scope: Scope, data: dict[str, Any]) -> str:
    group = customer_queries.get_tag_group(scope, data["id"])
    name = group.name
    removed = customer_services.delete_tag_group(group=group, actor=request.user)
    done = ngettext(
        "Tag group “%(name)s” deleted with its tags: %(count)s customer tag removed.",
        "Tag group “%(name)s” deleted with its tags: %(count)s customer tags removed.",
        removed,
    )
    return done % {"name": name, "count": removed}


def _rename_tag(request: HttpRequest, scope: Scope, data: dict[str, Any]) -> str:
    tag = _library_tag(scope, data["id"])
    old = tag.name
    customer_services.rename_tag(tag=tag, name=data["name"], actor=request.user)
    return _("Tag “%(old)s” renamed to “%(new)s”.") % {"old": old, "new": tag.name}


def _delete_tag(request: HttpRequest, scope: Scope, data: dict[str, Any]) -> str:
    tag = _library_tag(scope, data["id"])
    name = tag.name
    untagged = customer_services.delete_tag(tag=tag, actor=request.user)
    done = ngettext(
        "Tag “%(name)s” deleted: %(count)s customer lost it.",
        "Tag “%(name)s” deleted: %(count)s customers lost it.",
        untagged,
    )
    return done % {"name": name, "count": untagged}


_LIBRARY_EDITS: dict[str, Callable[[HttpRequest, Scope, dict[str, Any]], str]] = {
    "rename_group": _rename_group,
    "delete_group": _delete_group,
    "rename_tag": _rename_tag,
    "delete_tag": _delete_tag,
}


def _edit_error(exc: DomainError, kind: str) -> str:
    """The service's refusal in the operator's words (its own messages are English, for the API)."""
    if exc.code == "duplicate":
        return str(_DUPLICATE_MESSAGE[kind])
    if exc.code == "not_found":
        return str(_GONE_MESSAGE[kind])
    if exc.code == "wecom_name_too_long":
        return _("This name is too long for WeCom, where this tag is linked to a corp tag: choose a shorter one.")
    if exc.field == "name":
        return _("A name is 1 to 64 characters.")
    return exc.message


def _edit_from_post(request: HttpRequest, scope: Scope, action: str) -> HttpResponse:
    """Rename or delete one tag or group from its row on the page; the outcome is a message on the redirected page."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ edits the tag library"))
    kind = "group" if action.endswith("_group") else "tag"
    form_class = forms.TagLibraryRenameForm if action.startswith("rename") else forms.TagLibraryItemForm
    form = form_class(request.POST)
    try:
        if not form.is_valid():
            field = "id" if "id" in form.errors else "name"
            raise ValidationFailed(_("invalid form"), field=field, code="not_found" if field == "id" else "invalid")
        done = _LIBRARY_EDITS[action](request, scope, form.cleaned_data)
    except DomainError as exc:
        messages.error(request, _edit_error(exc, kind))
    else:
        messages.success(request, done)
    return redirect("console:tags")


@console_view
def tag_library(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    posted = request.method == "POST"
    action = request.POST.get("form", "") if posted else ""
    if action in _LIBRARY_EDITS:
        return _edit_from_post(request, scope, action)
    group_choices: forms.Choices = [(g.pk, g.name) for g in customer_queries.tag_library(scope)]
    group_form = forms.TagGroupForm(request.POST if posted and request.POST.get("form") == "group" else None)
    tag_form = forms.TagForm(
        group_choices,
        request.POST if posted and request.POST.get("form") == "tag" else None,
        initial={"group": request.GET.get("group")},
    )
    if posted:
        done = _create_from_post(request, scope, group_form, tag_form)
        if done is not None:
            return done
    context = {
        "groups": _library_groups(scope),
        "group_form": group_form,
        "tag_form": tag_form,
        "can_edit": scope.is_hq,
    }
    return render(request, "console/tag_library.html", context, status=422 if posted else 200)


# ---------------------------------------------------------------------------------------------------------------
# Organisation and audit


@console_view
def org(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    staff = org_queries.staff(scope).order_by("store__code", "role", "name", "id")
    staff_page = paginate(staff, page=_page_number(request), page_size=STAFF_PER_PAGE)
    context = {
        "enterprise": org_queries.enterprise(scope),
        "regions": list(org_queries.regions_with_counts(scope)),
        "stores": list(org_queries.stores_with_counts(scope)),
        "staff_page": staff_page,
        "is_hq": scope.is_hq,
    }
    return render(request, "console/org.html", context)


TOKENS_PER_PAGE = 50


@console_view
def api_tokens(request: HttpRequest) -> HttpResponse:
    """HQ: the enterprise's API tokens; create one (its secret is shown on this response only) or revoke one."""
    scope = scope_of(request)
    tokens = org_queries.api_tokens(scope)  # HQ only
    form = forms.ApiTokenForm(scope, request.POST if request.POST.get("action") == "create" else None)
    created: dict[str, Any] | None = None
    if request.method == "POST" and request.POST.get("action") == "revoke":
        token = org_queries.get_api_token(scope, _int(request.POST.get("token_id")))
        if org_services.revoke_api_token(token_id=token.pk, actor=request.user):
            messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
        return redirect("console:api_tokens")
    if request.method == "POST" and form.is_valid():
        try:
            staff = org_queries.get_staff(scope, form.cleaned_data["staff"])
            token, secret = org_services.create_api_token(
                staff=staff, name=form.cleaned_data["name"], actor=request.user
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            created = {"token": token, "secret": secret}
            form = forms.ApiTokenForm(scope)
    page = paginate(tokens, page=_page_number(request), page_size=TOKENS_PER_PAGE)
    response = render(request, "console/api_tokens.html", {"form": form, "page": page, "created": created})
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


def _int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise NotFound(_("no such token"), field="token_id") from None


@console_view
def audit_log(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("the audit log is for HQ"))
    actions, types = core_queries.audit_vocabulary(enterprise_id=scope.enterprise_id)
    form = forms.AuditFilterForm(
        request.GET or None, actions=[(a, audit_labels.action(a, labels.audit_action(a))) for a in actions],
        target_types=[(t, audit_labels.target_type(t, labels.audit_target(t))) for t in types])
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    entries = core_queries.audit_entries(
        enterprise_id=scope.enterprise_id,
        page=_page_number(request), page_size=AUDIT_PER_PAGE, q=data.get("q", ""), action=data.get("action", ""),
        target_type=data.get("target_type", ""), target_id=data.get("target_id", ""),
    )
    rows = [{"entry": entry,
             "action": audit_labels.action(entry.action, labels.audit_action(entry.action, entry.target_type)),
             "target": audit_labels.target_type(entry.target_type, labels.audit_target(entry.target_type)),
             "summary": audit.summary_of(entry),
             "reason": str((entry.changes or {}).get("reason", "")) if isinstance(entry.changes, dict) else ""}
            for entry in entries.items]
    return render(request, "console/audit.html", {"form": form, "entries": entries, "rows": rows})
