"""Promotions console pages: overview and shipping, coupon templates (editor, issue to a customer), full-reductions,
flash sales and group buys. Reads through promotions.queries, writes through promotions.services."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.api.auth import actor_of
from siyu.catalog import queries as catalog_queries
from siyu.catalog.forms import apply_domain_error, yuan_text
from siyu.catalog.views import console_page, page_number, require_editor_for, scope_of
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.org.scope import Scope
from siyu.promotions import forms, queries, services

TARGET_ALIASES = {"product_ids": "products", "category_ids": "categories"}


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    context.setdefault("can_edit", catalog_queries.can_edit(scope_of(request)))
    return render(request, template, context)


@console_page
def index(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    now = timezone.now()
    rule = queries.shipping_rule(enterprise_id=scope.enterprise_id)
    shipping = forms.ShippingForm(initial={"free_over": yuan_text(rule.free_over_fen), "fee": yuan_text(rule.fee_fen)})
    context = {
        "templates": list(queries.coupon_templates(scope)[:8]),
        "reductions": [r for r in queries.full_reductions(scope) if r.is_active and r.starts_at <= now < r.ends_at],
        "flash_items": queries.active_flash_items(enterprise_id=scope.enterprise_id, now=now),
        "shipping": shipping, "rule": rule,
    }
    return _render(request, "promotions/index.html", context)


@console_page
@require_POST
def shipping(request: HttpRequest) -> HttpResponse:
    require_editor_for(request, scope_of(request))
    form = forms.ShippingForm(request.POST)
    if form.is_valid():
        try:
            services.set_shipping_policy(scope=scope_of(request), free_over=form.cleaned_data.get("free_over"),
                                         fee=form.cleaned_data["fee"], actor=actor_of(request))
            messages.success(request, _("Shipping rule saved."))
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, _("Enter the amounts in yuan, e.g. 99.00"))
    return redirect("promotions:index")


# ---------------------------------------------------------------------------------------------------------------
# Coupon templates


@console_page
def coupon_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    now = timezone.now()
    rows = [{"t": t, "value": queries.template_value(t), "expired": queries.template_expired(t, now)}
            for t in queries.coupon_templates(scope)]
    return _render(request, "promotions/coupon_list.html", {"rows": rows})


@console_page
def coupon_edit(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    template = queries.get_coupon_template(scope, template_id) if template_id is not None else None
    require_editor_for(request, scope, creating=template_id is None)
    if request.method == "POST":
        form = forms.CouponTemplateForm(scope, request.POST)
        if form.is_valid():
            try:
                if template is None:
                    made = services.create_coupon_template(scope=scope, data=form.to_input(), actor=actor_of(request))
                else:
                    made = services.update_coupon_template(scope=scope, template_id=template.pk, data=form.to_input(),
                                                           actor=actor_of(request))
                messages.success(request, _("Coupon template saved."))
                return redirect("promotions:coupon_edit", template_id=made.pk)
            except GateError:
                raise
            except DomainError as exc:
                apply_domain_error(form, exc, aliases=TARGET_ALIASES)
    else:
        form = forms.CouponTemplateForm(scope, initial=forms.template_initial(template) if template else {
            "kind": "threshold", "validity_kind": "relative", "valid_days": 30, "scope": "all"})
    coupons = queries.search_coupons(scope, template_id=template.pk, page=page_number(request)) if template else None
    return _render(request, "promotions/coupon_edit.html", {"form": form, "template": template, "coupons": coupons,
                                                            "value": queries.template_value(template) if template
                                                            else "",
                                                            "expired": template is not None
                                                            and queries.template_expired(template)})


@console_page
def coupon_issue(request: HttpRequest, template_id: int) -> HttpResponse:
    scope = scope_of(request)
    template = queries.get_coupon_template(scope, template_id)
    if request.method == "POST":
        form = forms.IssueForm(request.POST)
        if form.is_valid():
            try:
                _issue(request, scope, template.pk, form.cleaned_data)
                return redirect("promotions:coupon_edit", template_id=template.pk)
            except DomainError as exc:
                apply_domain_error(form, exc)
    else:
        initial: dict[str, Any] = {"idempotency_key": forms.IssueForm.fresh_key()}
        if request.GET.get("customer"):
            initial["customer_id"] = request.GET["customer"]
        form = forms.IssueForm(initial=initial)
    return _render(request, "promotions/coupon_issue.html", {"form": form, "template": template,
                                                             "value": queries.template_value(template)})


@console_page
def coupon_issue_tags(request: HttpRequest, template_id: int) -> HttpResponse:
    """Issue a coupon to a tag set: pick the tags, see how many customers that is, confirm; the set is frozen as a
    batch and issued in the background (one key per batch and customer, so a second submit issues nothing more)."""
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ issue coupons to many customers at once"))
    template = queries.get_coupon_template(scope, template_id)
    form = forms.TagIssueForm(scope, request.POST or None,
                              initial={"batch_key": uuid.uuid4().hex, "match": "all"})
    context: dict[str, Any] = {"form": form, "template": template, "value": queries.template_value(template),
                               "count": None}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            targets = services.tag_batch_targets(scope, tag_ids=data["tags"], match=data["match"])
            if request.POST.get("confirmed") != "1":
                context["count"] = targets.customers.count()
            else:
                batch = services.start_coupon_batch(scope=scope, template_id=template.pk, targets=targets,
                                                    batch_key=data["batch_key"], actor=actor_of(request))
                return redirect("promotions:coupon_batch", batch_id=batch.pk)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc, aliases={"tag_ids": "tags"})
    return _render(request, "promotions/coupon_issue_tags.html", context)


@console_page
def coupon_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    """A batch's progress (polled while it runs) and outcome."""
    scope = scope_of(request)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ issue coupons to many customers at once"))
    batch = queries.get_coupon_batch(scope, request.user, batch_id)
    context = {"batch": batch, "error": queries.batch_error(batch),
               "value": queries.template_value(batch.template)}
    if request.headers.get("HX-Request"):
        return render(request, "promotions/_coupon_batch.html", context)
    return _render(request, "promotions/coupon_batch.html", context)


def _issue(request: HttpRequest, scope: Scope, template_id: int, data: dict[str, Any]) -> None:
    customer = customer_queries.get_customer(scope, data["customer_id"])  # only customers the operator may see
    coupon = services.issue_coupon(enterprise_id=scope.enterprise_id, template_id=template_id,
                                   customer_id=customer.pk, idempotency_key=data["idempotency_key"],
                                   actor=actor_of(request))
    messages.success(request, _("Coupon %(code)s issued to %(name)s.") % {"code": coupon.code,
                                                                         "name": customer.name or customer.pk})


# ---------------------------------------------------------------------------------------------------------------
# Full-reductions


@console_page
def reduction_list(request: HttpRequest) -> HttpResponse:
    rows = [{"r": r, "tiers": queries.tiers_text(r)} for r in queries.full_reductions(scope_of(request))]
    return _render(request, "promotions/reduction_list.html", {"rows": rows, "now": timezone.now()})


def _save_reduction(request: HttpRequest, scope: Scope, reduction_id: int | None, form: forms.FullReductionForm,
                    formset: Any) -> int | None:
    if not (form.is_valid() and formset.is_valid()):
        return None
    rows = [f for f in formset.forms if f.has_changed()]
    tiers = forms.tiers_from(form, rows)
    if tiers is None:
        return None
    data = forms.reduction_input(form, tiers)
    try:
        if reduction_id is None:
            return services.create_full_reduction(scope=scope, data=data, actor=actor_of(request)).pk
        services.update_full_reduction(scope=scope, reduction_id=reduction_id, data=data, actor=actor_of(request))
        return reduction_id
    except GateError:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc, groups={"tiers": rows}, aliases={**TARGET_ALIASES, "tiers": "__all__"})
        return None


@console_page
def reduction_edit(request: HttpRequest, reduction_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    rule = queries.get_full_reduction(scope, reduction_id) if reduction_id is not None else None
    require_editor_for(request, scope, creating=reduction_id is None)
    if request.method == "POST":
        form = forms.FullReductionForm(scope, request.POST)
        formset = forms.TierFormSet(request.POST, prefix="tier")
        saved = _save_reduction(request, scope, reduction_id, form, formset)
        if saved is not None:
            messages.success(request, _("Full-reduction saved."))
            return redirect("promotions:reduction_edit", reduction_id=saved)
    else:
        initial, tiers = forms.reduction_initial(rule) if rule else ({"scope": "all", "threshold_kind": "amount",
                                                                     "benefit_kind": "amount"}, [])
        form = forms.FullReductionForm(scope, initial=initial)
        formset = forms.TierFormSet(initial=tiers, prefix="tier")
    return _render(request, "promotions/reduction_edit.html", {"form": form, "formset": formset, "rule": rule})


# ---------------------------------------------------------------------------------------------------------------
# Flash sales


@console_page
def flash_list(request: HttpRequest) -> HttpResponse:
    return _render(request, "promotions/flash_list.html", {"sales": queries.flash_sales(scope_of(request)),
                                                           "now": timezone.now()})


def _flash_formset(scope: Scope, data: Any = None, initial: list[dict[str, Any]] | None = None) -> Any:
    cls = forms.forms.formset_factory(forms.FlashItemForm, extra=3)
    return cls(data, initial=initial, prefix="item", form_kwargs={"scope": scope})


def _save_flash(request: HttpRequest, scope: Scope, sale_id: int | None, form: forms.FlashSaleForm,
                formset: Any) -> int | None:
    if not (form.is_valid() and formset.is_valid()):
        return None
    rows = [f for f in formset.forms if f.has_changed() and f.cleaned_data.get("sku")]
    data = forms.flash_input(form, rows)
    try:
        if sale_id is None:
            return services.create_flash_sale(scope=scope, data=data, actor=actor_of(request)).pk
        services.update_flash_sale(scope=scope, flash_sale_id=sale_id, data=data, actor=actor_of(request))
        return sale_id
    except GateError:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc, groups={"items": rows}, aliases={"sku_id": "sku", "items": "__all__"})
        return None


@console_page
def flash_edit(request: HttpRequest, flash_sale_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    sale = queries.get_flash_sale(scope, flash_sale_id) if flash_sale_id is not None else None
    require_editor_for(request, scope, creating=flash_sale_id is None)
    if request.method == "POST":
        form = forms.FlashSaleForm(request.POST)
        formset = _flash_formset(scope, request.POST)
        saved = _save_flash(request, scope, flash_sale_id, form, formset)
        if saved is not None:
            messages.success(request, _("Flash sale saved."))
            return redirect("promotions:flash_edit", flash_sale_id=saved)
    else:
        form = forms.FlashSaleForm(initial={"name": sale.name, "starts_at": sale.starts_at, "ends_at": sale.ends_at,
                                            "is_active": sale.is_active, "allow_oversell": sale.allow_oversell}
                                           if sale else {"is_active": True})
        items = [{"sku": i.sku_id, "flash_price": yuan_text(i.flash_price_fen), "flash_stock": i.flash_stock,
                  "per_customer_limit": i.per_customer_limit} for i in sale.items.all()] if sale else None
        formset = _flash_formset(scope, initial=items)
    return _render(request, "promotions/flash_edit.html", {"form": form, "formset": formset, "sale": sale})


# ---------------------------------------------------------------------------------------------------------------
# Group buys


@console_page
def group_list(request: HttpRequest) -> HttpResponse:
    return _render(request, "promotions/group_list.html", {"groups": queries.group_buys(scope_of(request)),
                                                           "now": timezone.now()})


@console_page
def group_edit(request: HttpRequest, group_buy_id: int | None = None) -> HttpResponse:
    scope = scope_of(request)
    group = queries.get_group_buy(scope, group_buy_id) if group_buy_id is not None else None
    require_editor_for(request, scope, creating=group_buy_id is None)
    if request.method == "POST":
        form = forms.GroupBuyForm(scope, request.POST)
        if form.is_valid():
            try:
                if group is None:
                    group = services.create_group_buy(scope=scope, data=form.to_input(), actor=actor_of(request))
                else:
                    services.update_group_buy(scope=scope, group_buy_id=group.pk, data=form.to_input(),
                                              actor=actor_of(request))
                messages.success(request, _("Group buy saved."))
                return redirect("promotions:group_edit", group_buy_id=group.pk)
            except GateError:
                raise
            except DomainError as exc:
                apply_domain_error(form, exc, aliases={"sku_id": "sku"})
    else:
        form = forms.GroupBuyForm(scope, initial={
            "name": group.name, "sku": group.sku_id, "group_price": yuan_text(group.group_price_fen),
            "group_size": group.group_size, "hours": group.hours, "starts_at": group.starts_at,
            "ends_at": group.ends_at, "is_active": group.is_active} if group else {"is_active": True})
    teams = list(queries.teams(scope, group.pk).order_by("-id")[:20]) if group else []
    return _render(request, "promotions/group_edit.html", {"form": form, "group": group, "teams": teams})


# ---------------------------------------------------------------------------------------------------------------
# The customer profile's coupons (a section the customers app shows)


def profile_coupons(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    rows, total = queries.profile_coupons(scope, customer_id)
    if not rows:
        return ""
    return render_to_string("promotions/_profile_coupons.html", {"coupons": rows, "total": total}, request=request)
