"""Console: the referral campaigns (HQ: list, add, change) and a campaign's results page (counts, K-factor by
generation, the invitation tree as an ECharts tree and as pages). Public: a participant's share link and poster."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.catalog.forms import apply_domain_error
from siyu.channels.wecom import queries as wecom_queries
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError
from siyu.core.pagination import page_param
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.referrals import forms, queries, services
from siyu.referrals.poster import render_poster

FIELDS = services.CAMPAIGN_FIELDS


def _form(scope: Scope, data: Any = None, campaign: Any = None) -> forms.CampaignForm:
    templates = list(promotion_queries.coupon_templates(scope).order_by("name").values_list("pk", "name")[:500])
    codes = list(wecom_queries.codes(scope).order_by("-id").values_list("pk", "name")[:500])
    groups = list(wecom_queries.group_codes(scope).order_by("-id").values_list("pk", "name")[:500])
    initial = ({"is_active": True, "kind": "task", "reward_points": 100, "target_count": 3, "window_days": 7,
                "helpers_must_be_new": True}
               if campaign is None else {f: getattr(campaign, f) for f in FIELDS})
    return forms.CampaignForm(data, initial=initial, templates=templates, codes=codes, group_codes=groups)


def _int(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


@console_view
def campaigns(request: HttpRequest) -> HttpResponse:
    """HQ's campaigns, newest first, and the form to add one (or change the one picked with ?edit=<id>)."""
    scope = scope_of(request)
    rows = queries.campaigns(scope)  # HQ only: PermissionDenied otherwise
    raw = request.POST.get("campaign_id") if request.method == "POST" else request.GET.get("edit")
    campaign_id = _int(raw or "")
    editing = rows.filter(pk=campaign_id).first() if campaign_id else None
    form = _form(scope, request.POST if request.method == "POST" else None, editing)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_campaign(scope=scope, data=form.to_input(),
                                           campaign_id=editing.pk if editing else None, actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Campaign saved."))
            return redirect("referrals:campaign", saved.pk)
    if request.method == "POST":
        messages.error(request, _("The campaign was not saved: check the fields marked below."))
    return render(request, "referrals/campaigns.html",
                  {"form": form, "editing": editing, "campaigns": list(rows[:200])},
                  status=400 if request.method == "POST" else 200)


@console_view
def campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    scope = scope_of(request)
    found = queries.results(scope, campaign_id)
    tree = queries.tree_page(scope, campaign_id, page=page_param(request.GET.get("page")))
    return render(request, "referrals/campaign.html", {
        "r": found, "c": found.campaign, "tree": tree, "chart": queries.tree_chart(scope, campaign_id)})


def share(request: HttpRequest, token: str) -> HttpResponse:
    """A participant's share link (what their poster's QR opens): their contact way's landing page once WeCom has
    made it (the add then carries their token as its state), else a page naming the campaign."""
    participant = queries.participant_by_token(token)
    if participant is None:
        raise Http404
    if participant.campaign.kind == "assist":  # friends help in the brand's mall, signed in
        return redirect(reverse("mall_assist", args=[queries.mall_code(participant), token]))
    config_id = queries.contact_way_config(participant)
    if config_id:
        return redirect(reverse("wecom_landing", args=[config_id]))
    return render(request, "referrals/share.html", {"p": participant, "c": participant.campaign})


def _poster_line(campaign: Any) -> str:
    if campaign.kind == "task":
        return _("Bring %(n)s friends within %(days)s days") % {"n": campaign.target_count,
                                                                 "days": campaign.window_days}
    if campaign.kind == "group":
        return _("Scan to join the group")
    if campaign.kind == "assist":
        return _("Scan to help me: %(n)s friends within %(hours)s hours") % {"n": campaign.target_count,
                                                                             "hours": campaign.window_hours}
    return _("Scan to add us")


def poster_png(request: HttpRequest, token: str) -> HttpResponse:
    """A participant's poster: a PNG with the campaign's name and the QR of their share link."""
    participant = queries.participant_by_token(token)
    if participant is None:
        raise Http404
    campaign = participant.campaign
    url = request.build_absolute_uri(reverse("referrals:share", args=[token]))
    subtitle = _poster_line(campaign)
    png = render_poster(title=campaign.name, subtitle=subtitle, url=url)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response

