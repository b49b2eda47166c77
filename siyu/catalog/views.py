"""Catalog console pages: product list with filters, product editor (SKU rows), category tree, bundles.

Pages read through catalog.queries and write through catalog.services; a service's field error is shown on the
field (or SKU row) it names, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.api.auth import actor_of
from siyu.catalog import forms, queries, services
from siyu.core.errors import DomainError, GateError, NotFound, PermissionDenied
from siyu.core.pagination import page_param
from siyu.org.scope import Scope, scope_for_user

View = Callable[..., HttpResponse]
PRODUCTS_PER_PAGE = 20
EXTRA_SKU_ROWS = 3
EXTRA_BUNDLE_ROWS = 4


def console_page(view: View) -> View:
    """Sign-in required; PermissionDenied and NotFound from a query or service become the 403 / 404 page."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return error_page(request, 403, _("You do not have access to this page."), exc.message)
        except NotFound as exc:
            return error_page(request, 404, _("We could not find that."), exc.message)

    return wrapper


def require_editor_for(request: HttpRequest, scope: Scope, *, creating: bool = False) -> None:
    """Catalog and promotion pages are read-only below HQ: a post, or the page that creates something, is refused
    before any form is looked at, so the answer does not depend on what the form carried."""
    if request.method == "POST" or creating:
        services.require_editor(scope)


def error_page(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    context = {"status": status, "title": title, "detail": detail}
    return render(request, ["console/error.html", "catalog/error.html"], context, status=status)


def scope_of(request: HttpRequest) -> Scope:
    return scope_for_user(request.user)


def page_number(request: HttpRequest) -> int:
    return page_param(request.GET.get("page"))


# ---------------------------------------------------------------------------------------------------------------
# Products


@console_page
def product_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    form = forms.ProductFilterForm(scope, request.GET or None)
    flt = form.to_filter() if request.GET else queries.ProductFilter()
    page = queries.search_products(scope, flt, page=page_number(request), page_size=PRODUCTS_PER_PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "can_edit": queries.can_edit(scope), "query": query.urlencode()}
    template = "catalog/_product_results.html" if request.headers.get("HX-Request") == "true" else \
        "catalog/product_list.html"
    return render(request, template, context)


def _sku_formset(data: Any = None, initial: list[dict[str, Any]] | None = None) -> Any:
    cls = forms.forms.formset_factory(forms.SkuRowForm, extra=EXTRA_SKU_ROWS)
    return cls(data, initial=initial, prefix="sku")


def _save_product(request: HttpRequest, scope: Scope, product_id: int | None, form: forms.ProductForm,
                  formset: Any) -> int | None:
    """Validate the form and its SKU rows, call the service; on a domain error put it where it belongs."""
    if not (form.is_valid() and formset.is_valid()):
        return None
    rows = forms.filled_rows(formset)
    data = forms.product_input(form, rows)
    try:
        if product_id is None:
            return services.create_product(scope=scope, data=data, actor=actor_of(request)).pk
        services.update_product(scope=scope, product_id=product_id, data=data, actor=actor_of(request))
        return product_id
    except GateError:
        raise
    except DomainError as exc:
        forms.apply_domain_error(form, exc, groups={"skus": rows},
                                 aliases={"category_id": "category", "store_ids": "stores", "skus": "__all__"})
        return None


@console_page
def product_edit(request: HttpRequest, product_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    product = queries.get_product(scope, product_id) if product_id is not None else None
    require_editor_for(request, scope, creating=product_id is None)
    if request.method == "POST":
        form = forms.ProductForm(scope, request.POST)
        formset = _sku_formset(request.POST)
        saved = _save_product(request, scope, product_id, form, formset)
        if saved is not None:
            messages.success(request, _("Product saved."))
            return redirect("catalog:product_edit", product_id=saved)
    else:
        form = forms.ProductForm(scope, initial=forms.product_initial(product) if product else {"all_stores": True})
        formset = _sku_formset(initial=forms.sku_initial(product) if product else None)
    context = {"form": form, "formset": formset, "product": product, "can_edit": queries.can_edit(scope)}
    return render(request, "catalog/product_edit.html", context)


@console_page
@require_POST
def product_status(request: HttpRequest, product_id: int) -> HttpResponse:
    scope = scope_of(request)
    require_editor_for(request, scope)
    queries.get_product(scope, product_id)
    try:
        services.set_product_status(scope=scope, product_ids=[product_id], status=request.POST.get("status", ""),
                                    actor=actor_of(request))
        messages.success(request, _("Status changed."))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(request.POST.get("next") or "catalog:index")


# ---------------------------------------------------------------------------------------------------------------
# Categories


@console_page
def categories(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    require_editor_for(request, scope)
    form = forms.CategoryForm(scope, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_category(scope=scope, name=form.cleaned_data["name"],
                                     parent_id=form.cleaned_data.get("parent"), actor=actor_of(request))
            messages.success(request, _("Category added."))
            return redirect("catalog:categories")
        except GateError:
            raise
        except DomainError as exc:
            forms.apply_domain_error(form, exc, aliases={"parent_id": "parent"})
    context = {"tree": queries.category_tree(scope), "form": form, "can_edit": queries.can_edit(scope)}
    return render(request, "catalog/categories.html", context)


@console_page
@require_POST
def category_change(request: HttpRequest, category_id: int) -> HttpResponse:
    scope = scope_of(request)
    require_editor_for(request, scope)
    try:
        if request.POST.get("action") == "delete":
            services.delete_category(scope=scope, category_id=category_id, actor=actor_of(request))
            messages.success(request, _("Category deleted."))
        else:
            services.update_category(scope=scope, category_id=category_id, name=request.POST.get("name", ""),
                                     actor=actor_of(request))
            messages.success(request, _("Category renamed."))
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:categories")


# ---------------------------------------------------------------------------------------------------------------
# Bundles


@console_page
def bundle_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    rows = [
        {"bundle": b, "available": queries.bundle_availability(b), "list_price": queries.bundle_list_price(b),
         "price": queries.bundle_price(b)}
        for b in queries.bundles(scope).order_by("-id")
    ]
    return render(request, "catalog/bundle_list.html", {"rows": rows, "can_edit": queries.can_edit(scope)})


def _bundle_formset(scope: Scope, data: Any = None, initial: list[dict[str, Any]] | None = None) -> Any:
    cls = forms.forms.formset_factory(forms.BundleItemForm, extra=EXTRA_BUNDLE_ROWS)
    return cls(data, initial=initial, prefix="item", form_kwargs={"scope": scope})


def _save_bundle(request: HttpRequest, scope: Scope, bundle_id: int | None, form: forms.BundleForm,
                 formset: Any) -> int | None:
    if not (form.is_valid() and formset.is_valid()):
        return None
    rows = [f for f in formset.forms if f.has_changed() and f.cleaned_data.get("sku")]
    data = forms.bundle_input(form, rows)
    try:
        if bundle_id is None:
            return services.create_bundle(scope=scope, data=data, actor=actor_of(request)).pk
        services.update_bundle(scope=scope, bundle_id=bundle_id, data=data, actor=actor_of(request))
        return bundle_id
    except GateError:
        raise
    except DomainError as exc:
        forms.apply_domain_error(form, exc, groups={"items": rows}, aliases={"sku_id": "sku", "items": "__all__"})
        return None


@console_page
def bundle_edit(request: HttpRequest, bundle_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    bundle = queries.get_bundle(scope, bundle_id) if bundle_id is not None else None
    require_editor_for(request, scope, creating=bundle_id is None)
    if request.method == "POST":
        form = forms.BundleForm(scope, request.POST)
        formset = _bundle_formset(scope, request.POST)
        saved = _save_bundle(request, scope, bundle_id, form, formset)
        if saved is not None:
            messages.success(request, _("Bundle saved."))
            return redirect("catalog:bundle_edit", bundle_id=saved)
    else:
        initial = {"name": bundle.name, "price": forms.yuan_text(bundle.price_fen), "status": bundle.status,
                   "description": bundle.description} if bundle else {"status": "draft"}
        form = forms.BundleForm(scope, initial=initial)
        items = [{"sku": i.sku_id, "quantity": i.quantity} for i in bundle.items.all()] if bundle else None
        formset = _bundle_formset(scope, initial=items)
    context = {"form": form, "formset": formset, "bundle": bundle, "can_edit": queries.can_edit(scope),
               "available": queries.bundle_availability(bundle) if bundle else None,
               "list_price": queries.bundle_list_price(bundle) if bundle else None}
    return render(request, "catalog/bundle_edit.html", context)
