"""Store design in the console (店铺装修): the pages a staff member may design, and the editor of one page: add,
remove and reorder components, fill each one's form (products and coupons from the searchable pickers), save the
draft, open a signed preview, publish, and roll back to any published version. The editor works without
JavaScript: every button posts the whole form, and only "save", "preview" and "publish" write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.api.auth import actor_of
from siyu.catalog import queries as catalog_queries
from siyu.catalog.views import console_page, page_number, scope_of
from siyu.console import pickers
from siyu.core.errors import DomainError, GateError
from siyu.core.pagination import paginate
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.storefront import design_forms, queries
from siyu.storefront.services import design
from siyu.storefront.services.design import PageInvalid

PAGES_PER_PAGE = 20


@console_page
def index(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    pages = paginate(queries.design_pages(scope), page=page_number(request), page_size=PAGES_PER_PAGE)
    return render(request, "storefront/design/index.html", {
        "pages": pages, "is_hq": scope.is_hq, "store_picker": _store_picker(scope)})


def _store_picker(scope: Scope) -> str:
    widget = pickers.PickerWidget(kind="stores", multiple=False,
                                  labeller=lambda ids: pickers.labelled(scope, "stores", ids))
    return str(widget.render("store", None, attrs={"id": "store"}))


@console_page
@require_POST
def open_page(request: HttpRequest) -> HttpResponse:
    store = request.POST.get("store", "").strip()
    try:
        page = design.open_page(scope=scope_of(request), store_id=int(store) if store.isdigit() else None)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("design:index")
    return redirect("design:page", page_id=page.pk)


def _context(request: HttpRequest, page: Any, document: dict[str, Any], problems: list[Any],
             base_revision: int) -> dict[str, Any]:
    scope = scope_of(request)
    rows, general = design_forms.editors(scope, document, problems)
    return {
        "page": page, "document": document, "rows": rows, "general": general, "base_revision": base_revision,
        "types": [(k, str(v)) for k, v in design_forms.TYPE_LABELS.items()],
        "categories": list(catalog_queries.categories(scope).order_by("sort", "id")[:200]),
        "flash_sales": list(promotion_queries.flash_sales(scope).order_by("-ends_at", "-id")[:50]),
        "group_buys": list(promotion_queries.group_buys(scope).order_by("-ends_at", "-id")[:50]),
        "versions": list(queries.page_versions(page)[:30]), "mall_url": reverse(
            "mall:home", args=[queries.mall_code(page.enterprise_id)]),
    }


def _move(document: dict[str, Any], action: str) -> None:
    verb, _sep, arg = action.partition(":")
    parts = document["components"]
    if verb == "add":
        made = design_forms.new_component(arg)
        if made is not None:
            parts.append(made)
        return
    if not arg.isdigit() or int(arg) >= len(parts):
        return
    i = int(arg)
    if verb == "remove":
        parts.pop(i)
    elif verb == "up" and i > 0:
        parts[i - 1], parts[i] = parts[i], parts[i - 1]
    elif verb == "down" and i + 1 < len(parts):
        parts[i + 1], parts[i] = parts[i], parts[i + 1]


@console_page
def page(request: HttpRequest, page_id: int) -> HttpResponse:
    scope = scope_of(request)
    found = queries.design_page(scope, page_id)
    if request.method != "POST":
        return render(request, "storefront/design/page.html",
                      _context(request, found, found.draft or {"components": []}, [], found.draft_revision))
    design.require_designer(scope, found.store_id)
    document = design_forms.document_from_post(request.POST)
    action = request.POST.get("action", "save")
    base = request.POST.get("base_revision", "")
    base_revision = int(base) if base.isdigit() else found.draft_revision
    if action not in ("save", "preview", "publish"):
        _move(document, action)
        return render(request, "storefront/design/page.html",
                      _context(request, found, document, [], base_revision) | {"unsaved": True})
    return _write(request, scope, found, document, action, base_revision)


def _write(request: HttpRequest, scope: Scope, found: Any, document: dict[str, Any], action: str,
           base_revision: int) -> HttpResponse:
    try:
        saved = design.save_draft(scope=scope, page_id=found.pk, document=document, base_revision=base_revision,
                                  actor=actor_of(request))
        if action == "preview":
            return redirect(reverse("mall:preview", args=[queries.mall_code(saved.enterprise_id),
                                                          queries.preview_token(saved)]))
        if action == "publish":
            version = design.publish(scope=scope, page_id=saved.pk, revision=saved.draft_revision,
                                     actor=actor_of(request))
            messages.success(request, _("Published as version %(version)s: customers see it now.")
                             % {"version": version.number})
        else:
            messages.success(request, _("Draft saved. Customers still see the published version."))
        return redirect("design:page", page_id=found.pk)
    except GateError:
        raise
    except PageInvalid as exc:
        context = _context(request, found, document, exc.problems, base_revision)
        return render(request, "storefront/design/page.html", context | {"unsaved": True, "problem": exc}, status=422)
    except DomainError as exc:
        context = _context(request, found, document, [], base_revision)
        return render(request, "storefront/design/page.html", context | {"unsaved": True, "problem": exc},
                      status=exc.status)


@console_page
@require_POST
def rollback(request: HttpRequest, page_id: int) -> HttpResponse:
    scope = scope_of(request)
    found = queries.design_page(scope, page_id)
    version = request.POST.get("version", "")
    try:
        made = design.rollback(scope=scope, page_id=found.pk, version=int(version) if version.isdigit() else 0,
                               actor=actor_of(request))
        messages.success(request, _("Version %(old)s is live again (as version %(version)s).")
                         % {"old": made.rolled_back_from, "version": made.number})
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("design:page", page_id=found.pk)
