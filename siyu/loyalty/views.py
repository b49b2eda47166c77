"""Console: the customer profile's points section (balance, lots, history) and its redeem / adjust forms.

The forms post here; the service checks scope (and HQ for adjustments), writes the audit row, and a domain error
becomes a message on the profile, never a 500. Each form carries a fresh key, so a double submit redeems once.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.catalog import queries as catalog_queries
from siyu.catalog.forms import apply_domain_error
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.core.pagination import page_param
from siyu.loyalty import forms, queries, services
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries

HISTORY_ROWS = 20


def profile_points(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    summary = queries.points_summary(scope, customer_id, limit=HISTORY_ROWS)
    context = {"points": summary, "tier": queries.tier_status(scope, customer_id, limit=5),
               "membership": queries.customer_membership(scope, customer_id),
               "customer_id": customer_id, "can_adjust": scope.is_hq,
               "form_key": secrets.token_hex(12)}
    return render_to_string("loyalty/_profile_points.html", context, request=request)


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _points_action(request: HttpRequest, customer_id: int, *, adjusting: bool) -> HttpResponse:
    scope = scope_of(request)
    queries.require_customer(scope, customer_id)  # the gates first: a customer out of scope is a 404
    if adjusting and not scope.is_hq:
        raise PermissionDenied(_("only HQ may adjust points"))
    points = _int(request.POST.get("points", ""))
    reason = request.POST.get("reason", "")[:200]
    key = f"console:{request.user.pk}:{request.POST.get('key', '')[:40]}"
    try:
        if points is None:
            messages.error(request, _("Enter a whole number of points."))
        elif adjusting:
            services.adjust(scope=scope, customer_id=customer_id, points=points, reason=reason, key=key,
                            actor=request.user)
            messages.success(request, _("Points adjusted."))
        else:
            services.redeem(scope=scope, customer_id=customer_id, points=points, reason=reason, key=key,
                            actor=request.user)
            messages.success(request, _("Points redeemed."))
    except DomainError as exc:
        if isinstance(exc, GateError):
            raise
        messages.error(request, exc.message)
    return redirect(reverse("console:customer", args=[customer_id]) + "#points")


@console_view
@require_POST
def redeem(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Anyone who can see the customer redeems their points (a gift handed over at the counter, say)."""
    return _points_action(request, customer_id, adjusting=False)


@console_view
@require_POST
def adjust(request: HttpRequest, customer_id: int) -> HttpResponse:
    """HQ adds or removes points with a reason (audited)."""
    return _points_action(request, customer_id, adjusting=True)


# ---------------------------------------------------------------------------------------------------------------
# The rules page (HQ): the points program and the tiers


def _program_forms(scope: Scope, data: Any = None) -> tuple[forms.ProgramForm, Any]:
    view = queries.program(scope)
    categories = list(catalog_queries.categories(scope).order_by("name").values_list("pk", "name"))
    program = forms.ProgramForm(data, initial={
        "is_active": view.is_active or not view.configured, "points_per_yuan": view.points_per_yuan,
        "fen_per_point": view.fen_per_point, "return_window_days": view.return_window_days,
        "expiry_days": view.expiry_days, "ugc_points": view.ugc_points, "follow_oa_points": view.follow_oa_points,
        "add_staff_points": view.add_staff_points, "profile_points": view.profile_points,
        "checkout_points_per_yuan": view.checkout_points_per_yuan, "checkout_max_percent": view.checkout_max_percent})
    # bound, a row is compared with nothing (not with what is saved), so an unchanged row is still submitted
    rates = forms.CategoryRateFormSet(data, prefix="rate", form_kwargs={"categories": categories}, initial=None
                                      if data is not None else [{"category_id": c, "points_per_yuan": r}
                                                                for c, r in view.category_rates])
    return program, rates


def _tier_forms(scope: Scope, data: Any = None) -> tuple[forms.TierPolicyForm, Any]:
    settings = queries.tier_settings(scope)
    policy = forms.TierPolicyForm(data, initial={"basis": settings.basis, "window_days": settings.window_days,
                                                 "grace_days": settings.grace_days})
    tiers = forms.TierFormSet(data, prefix="tier", initial=None if data is not None else [
        {"code": t.code, "name": t.name, "threshold": t.threshold, "multiplier_percent": t.multiplier_percent,
         "benefits": t.benefits} for t in settings.tiers])
    return policy, tiers


def _save_program(request: HttpRequest, scope: Scope, program: forms.ProgramForm, rates: Any) -> bool:
    if not (program.is_valid() and rates.is_valid()):
        return False
    rows = [f for f in rates.forms if f.cleaned_data.get("category_id") is not None]
    data = program.cleaned_data
    try:
        services.configure_program(scope=scope, actor=request.user, data=services.ProgramInput(
            points_per_yuan=data["points_per_yuan"], fen_per_point=data["fen_per_point"],
            return_window_days=data["return_window_days"], expiry_days=data["expiry_days"],
            is_active=bool(data.get("is_active")), ugc_points=data["ugc_points"],
            follow_oa_points=data["follow_oa_points"], add_staff_points=data["add_staff_points"],
            profile_points=data["profile_points"], checkout_points_per_yuan=data["checkout_points_per_yuan"],
            checkout_max_percent=data["checkout_max_percent"],
            category_rates=tuple((f.cleaned_data["category_id"], f.cleaned_data["points_per_yuan"]) for f in rows)))
    except GateError:
        raise
    except DomainError as exc:
        apply_domain_error(program, exc, groups={"category_rates": rows})
        return False
    return True


def _save_tiers(request: HttpRequest, scope: Scope, policy: forms.TierPolicyForm, tiers: Any) -> list[str]:
    """Errors that belong to the tier list as a whole (e.g. a held tier removed); [] when saved."""
    if not (policy.is_valid() and tiers.is_valid()):
        return [_("Check the fields marked below.")]
    rows = [f for f in tiers.forms if f.filled()]
    try:
        services.configure_tiers(scope=scope, actor=request.user, data=services.TierPolicyInput(
            basis=policy.cleaned_data["basis"], window_days=policy.cleaned_data["window_days"],
            grace_days=policy.cleaned_data["grace_days"], tiers=tuple(f.to_input() for f in rows)))
    except GateError:
        raise
    except DomainError as exc:
        if exc.field == "tiers":
            return [exc.message]
        apply_domain_error(policy, exc, groups={"tiers": rows})
        return [_("Check the fields marked below.")]
    return []


@console_view
def rules(request: HttpRequest) -> HttpResponse:
    """HQ edits the points rules and the tiers; every save is validated by the service and audited."""
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may change the points rules"))
    which = request.POST.get("form") if request.method == "POST" else None
    program, rates = _program_forms(scope, request.POST if which == "program" else None)
    policy, tiers = _tier_forms(scope, request.POST if which == "tiers" else None)
    tiers_errors: list[str] = []
    if which == "program":
        if _save_program(request, scope, program, rates):
            messages.success(request, _("Points rules saved."))
            return redirect("loyalty:rules")
        messages.error(request, _("The points rules were not saved: check the fields marked below."))
    elif which == "tiers":
        tiers_errors = _save_tiers(request, scope, policy, tiers)
        if not tiers_errors:
            messages.success(request, _("Tiers saved."))
            return redirect("loyalty:rules")
        messages.error(request, _("The tiers were not saved: check the fields marked below."))
    status = 400 if which else 200
    return render(request, "loyalty/rules.html", {
        "program": program, "rates": rates, "policy": policy, "tiers": tiers, "tiers_errors": tiers_errors,
        "counts": queries.tier_counts(scope)}, status=status)


# ---------------------------------------------------------------------------------------------------------------
# The points catalogue (HQ): gifts and coupons for points, and the redemptions


def _reward_form(scope: Scope, data: Any = None, reward: Any = None) -> forms.RewardForm:
    skus = [(pk, f"{name} · {code}") for pk, name, code in catalog_queries.skus(scope).filter(is_active=True)
            .order_by("product__name", "code").values_list("pk", "product__name", "code")[:500]]
    templates = list(promotion_queries.coupon_templates(scope).order_by("name").values_list("pk", "name")[:500])
    initial = {"is_active": True} if reward is None else {
        "kind": reward.kind, "name": reward.name, "points": reward.points, "sku_id": reward.sku_id,
        "coupon_template_id": reward.coupon_template_id, "is_active": reward.is_active}
    return forms.RewardForm(data, initial=initial, skus=skus, templates=templates)


def _edited_reward(scope: Scope, raw: str | None) -> Any:
    reward_id = _int(raw or "")
    return queries.rewards(scope).filter(pk=reward_id).first() if reward_id else None


@console_view
def rewards(request: HttpRequest) -> HttpResponse:
    """HQ's points catalogue: the rewards (add one, or change the one picked with ?edit=<id>) and the redemptions,
    newest first, paginated. Saves go through the service (validated, audited)."""
    scope = scope_of(request)
    catalogue = queries.rewards(scope)  # HQ only: PermissionDenied otherwise
    editing = _edited_reward(scope, request.POST.get("reward_id") if request.method == "POST"
                             else request.GET.get("edit"))
    form = _reward_form(scope, request.POST if request.method == "POST" else None, editing)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_reward(scope=scope, data=form.to_input(), reward_id=editing.pk if editing else None,
                                 actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Reward saved."))
            return redirect("loyalty:rewards")
    if request.method == "POST":
        messages.error(request, _("The reward was not saved: check the fields marked below."))
    page = queries.redemptions(scope, page=page_param(request.GET.get("page")))
    return render(request, "loyalty/rewards.html", {
        "form": form, "editing": editing, "rewards": list(catalogue[:500]), "page": page},
        status=400 if request.method == "POST" else 200)


# ---------------------------------------------------------------------------------------------------------------
# Paid membership (HQ): the plans and the members


def _plan_form(scope: Scope, data: Any = None, plan: Any = None) -> forms.PlanForm:
    templates = list(promotion_queries.coupon_templates(scope).order_by("name").values_list("pk", "name")[:500])
    fields = ("code", "name", "price_fen", "period_days", "points_multiplier_percent", "member_price_percent",
              "free_shipping", "coupon_template_id", "coupons_per_month", "refund_policy", "is_active")
    initial = {"is_active": True, "points_multiplier_percent": 100, "member_price_percent": 100,
               "coupons_per_month": 0} if plan is None else {f: getattr(plan, f) for f in fields}
    return forms.PlanForm(data, initial=initial, templates=templates)


@console_view
def membership(request: HttpRequest) -> HttpResponse:
    """HQ's paid plans (add one, or change the one picked with ?edit=<id>) and the members, soonest end first,
    paginated (?status=active|expired). Saves go through the service (validated, audited)."""
    scope = scope_of(request)
    plans = queries.membership_plans(scope)  # HQ only: PermissionDenied otherwise
    raw = request.POST.get("plan_id") if request.method == "POST" else request.GET.get("edit")
    plan_id = _int(raw or "")
    editing = plans.filter(pk=plan_id).first() if plan_id else None
    form = _plan_form(scope, request.POST if request.method == "POST" else None, editing)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_plan(scope=scope, data=form.to_input(), plan_id=editing.pk if editing else None,
                               actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Plan saved."))
            return redirect("loyalty:membership")
    if request.method == "POST":
        messages.error(request, _("The plan was not saved: check the fields marked below."))
    status = request.GET.get("status", "")
    page = queries.members(scope, page=page_param(request.GET.get("page")), status=status)
    return render(request, "loyalty/membership.html", {
        "form": form, "editing": editing, "plans": list(plans[:200]), "page": page, "status": status},
        status=400 if request.method == "POST" else 200)

