"""Console: campaigns (the list and the create form, usable at 375 px) and a campaign's page: the plan waterfall
(ECharts, with the table under it), plan / launch / cancel, live progress (htmx polls the page's progress block while
it sends) and the results per variant with the holdout."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from siyu.audiences import queries as audience_queries
from siyu.catalog.forms import apply_domain_error
from siyu.channels import queries as channel_queries
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied
from siyu.core.pagination import page_param
from siyu.customers import queries as customer_queries
from siyu.messaging import forms, links, queries, services
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries


def _form(scope: Scope, data: Any = None) -> forms.CampaignForm:
    tags = list(customer_queries.tags(scope).order_by("name").values_list("pk", "name")[:500])
    wecom = list(channel_queries.accounts(scope, kind="wecom").values_list("pk", "name")[:50])
    oa = list(channel_queries.accounts(scope, kind="official_account").values_list("pk", "name")[:50])
    initial = {"wecom_account_id": wecom[0][0] if wecom else None, "oa_account_id": oa[0][0] if oa else None}
    coupons = [(t.pk, t.name) for t in promotion_queries.issuable_templates(scope, limit=100)]
    return forms.CampaignForm(data, initial=initial, segments=audience_queries.segment_choices(scope), tags=tags,
                              wecom=wecom, oa=oa, coupons=coupons)


@console_view
def campaigns(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    page = queries.campaign_page(scope, page=page_param(request.GET.get("page")))
    form = _form(scope, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        services.check_can_market(scope)
        if form.is_valid():
            ids = queries.list_customer_ids(scope, form.cleaned_data.get("customer_list") or "")
            try:
                made = services.create_campaign(scope=scope, data=form.to_input(ids), actor=request.user)
            except GateError:
                raise
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("Campaign saved. Plan it to see who it reaches."))
                return redirect("messaging:campaign", made.pk)
        messages.error(request, _("The campaign was not saved: check the fields marked below."))
    rates = queries.send_rates(scope) if scope.is_hq else None
    return render(request, "messaging/campaigns.html", {"form": form, "page": page, "is_hq": scope.is_hq,
                                                        "rates": rates},
                  status=400 if request.method == "POST" else 200)


@console_view
def campaign(request: HttpRequest, messaging_campaign_id: int) -> HttpResponse:
    campaign_id = messaging_campaign_id
    scope = scope_of(request)
    found = queries.get_campaign(scope, campaign_id)
    steps = queries.waterfall(found)
    return render(request, "messaging/campaign.html", {
        "c": found, "steps": steps, "progress": queries.progress(scope, campaign_id),
        "results": queries.variant_results(scope, campaign_id),
        "significance": queries.campaign_significance(scope, campaign_id),
        "attributed": queries.attributed(scope, campaign_id),
        "sample": queries.sample_size(scope, found),
        "clicks": queries.click_results(scope, campaign_id),
        "revenue_tests": queries.campaign_revenue_significance(scope, campaign_id),
        "chart": [{"label": s["label"], "n": s["n"], "kind": s["kind"]} for s in steps],
        "can_market": scope.role != "store_staff"})


def _act(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    scope = scope_of(request)
    verbs = {"plan": services.plan_campaign, "launch": services.launch_campaign, "cancel": services.cancel_campaign}
    try:
        verbs[action](scope=scope, campaign_id=campaign_id, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, {"plan": _("Planned."), "launch": _("Launched."), "cancel": _("Cancelled.")}[action])
    return redirect("messaging:campaign", campaign_id)


@console_view
@require_POST
def plan(request: HttpRequest, messaging_campaign_id: int) -> HttpResponse:
    campaign_id = messaging_campaign_id
    return _act(request, campaign_id, "plan")


@console_view
@require_POST
def launch(request: HttpRequest, messaging_campaign_id: int) -> HttpResponse:
    campaign_id = messaging_campaign_id
    return _act(request, campaign_id, "launch")


@console_view
@require_POST
def cancel(request: HttpRequest, messaging_campaign_id: int) -> HttpResponse:
    campaign_id = messaging_campaign_id
    return _act(request, campaign_id, "cancel")


def _policy_context(scope: Scope, request: HttpRequest, policy_form: forms.PolicyForm | None = None,
                    dnd_form: forms.DndAddForm | None = None) -> dict[str, Any]:
    search = request.GET.get("q", "")[:64]
    policy = queries.contact_policy(scope)
    return {
        "policy_form": policy_form or forms.PolicyForm(initial=forms.PolicyForm.initial_from(policy)),
        "dnd_form": dnd_form or forms.DndAddForm(),
        "page": queries.do_not_disturb_page(scope, search=search, page=page_param(request.GET.get("page"))),
        "q": search, "policy": policy, "scope": scope}


def _save_policy(request: HttpRequest, scope: Scope) -> HttpResponse:
    form = forms.PolicyForm(request.POST)
    if form.is_valid():
        try:
            services.set_policy(scope=scope, values=form.values(), actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Contact budget saved; it applies to the next plan and every send."))
            return redirect("messaging:policy")
    return render(request, "messaging/policy.html", _policy_context(scope, request, policy_form=form), status=400)


def _remove_dnd(request: HttpRequest, scope: Scope) -> HttpResponse:
    raw = request.POST.get("customer_id", "")
    services.remove_do_not_disturb(scope=scope, customer_id=int(raw) if raw.isdigit() else 0, actor=request.user)
    messages.success(request, _("Removed from the do-not-disturb list."))
    return redirect("messaging:policy")


def _add_dnd(request: HttpRequest, scope: Scope) -> HttpResponse:
    form = forms.DndAddForm(request.POST)
    if form.is_valid():
        ids = queries.list_customer_ids(scope, form.cleaned_data["customer"], limit=1)
        if not ids:
            form.add_error("customer", _("No customer has this phone or number."))
        else:
            added = services.add_do_not_disturb(scope=scope, customer_id=ids[0],
                                                reason=form.cleaned_data.get("reason") or "", actor=request.user)
            messages.success(request, _("Added to the do-not-disturb list.") if added
                             else _("Already on the do-not-disturb list."))
            return redirect("messaging:policy")
    return render(request, "messaging/policy.html", _policy_context(scope, request, dnd_form=form), status=400)


@console_view
def policy(request: HttpRequest) -> HttpResponse:
    """The contact budget and the do-not-disturb list (HQ): one page, three forms (the budget, add, remove). A
    customer not on the list (or not the viewer's) is the 404 page, like every console page."""
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("The contact budget and the do-not-disturb list are HQ's."))
    if request.method != "POST":
        return render(request, "messaging/policy.html", _policy_context(scope, request))
    action = request.POST.get("action", "")
    if action == "policy":
        return _save_policy(request, scope)
    if action == "remove":
        return _remove_dnd(request, scope)
    return _add_dnd(request, scope)


@require_safe
def campaign_link(request: HttpRequest, token: str) -> HttpResponse:
    """`/c/<token>`: a campaign's tracked link, public (the customer opens it from the message). A person's GET is
    counted on the delivery; HEAD, link previews and crawlers are sent on uncounted; an unknown token is a 404."""
    counted = request.method == "GET" and not links.is_robot(request.headers.get("User-Agent", ""))
    url = links.open_link(token, at=timezone.now(), count=counted)
    if url is None:
        raise Http404("no such link")
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@console_view
@require_POST
def promote(request: HttpRequest, messaging_campaign_id: int) -> HttpResponse:
    """The test's winner to the rest of the audience: the best by the primary metric, or the variant picked."""
    scope = scope_of(request)
    variant = str(request.POST.get("variant", ""))[:16]
    try:
        services.promote_winner(scope=scope, campaign_id=messaging_campaign_id, variant=variant,
                                force=request.POST.get("force") == "on", actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The winner goes to the rest of the audience."))
    return redirect("messaging:campaign", messaging_campaign_id)


@console_view
@require_POST
def send_rates(request: HttpRequest) -> HttpResponse:
    """HQ sets the send rates a minute per channel (empty: the platform's limit)."""
    scope = scope_of(request)
    given = {c: str(request.POST.get(f"rate_{c}", "")).strip()[:9] for c in ("sms", "wecom", "official_account")}
    try:
        values = {c: int(v) if v else None for c, v in given.items()}
    except ValueError:
        messages.error(request, _("A send rate is a whole number a minute."))
        return redirect("messaging:campaigns")
    try:
        services.set_policy(scope=scope, values={"send_rates": values}, actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Send rates saved."))
    return redirect("messaging:campaigns")
