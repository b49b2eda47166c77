"""The H5 mall's invitations page (/m/<enterprise>/me/invite/): the running referral campaigns with the shopper's part
in each (joined or not, their poster and share link, how many they brought, the target and the deadline for a task,
rewards granted), and joining one; and a friend's assistance (助力) page with its help button. Referrals sit above the
storefront, so the page lives here with the mall's page decorator; the brand comes from the URL and the customer
from the brand's own session, so a shopper only sees and joins as themselves. Joining is once per campaign (a second
tap answers the first participant row)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from siyu.core.errors import Conflict
from siyu.referrals import queries, services
from siyu.storefront.mall_auth import Mall, mall_page, shopper


@require_GET
@mall_page(login=True)
def invitations(request: HttpRequest, mall: Mall) -> HttpResponse:
    me = shopper(mall)
    rows = queries.progress_of(enterprise_id=mall.enterprise_id, customer_id=me.customer_id)
    shares = {row.campaign.pk: request.build_absolute_uri(
        reverse("mall_assist", args=[mall.code, row.participant.token]) if row.campaign.kind == "assist"
        else reverse("referrals:share", args=[row.participant.token]))
        for row in rows if row.participant is not None}
    return render(request, "referrals/mall/invitations.html", {
        "mall": mall, "rows": [(row, shares.get(row.campaign.pk, "")) for row in rows],
        "joined": request.GET.get("joined", "")[:12]})


@require_POST
@mall_page(login=True)
def join(request: HttpRequest, mall: Mall, campaign_id: int) -> HttpResponse:
    me = shopper(mall)
    services.join_campaign(enterprise_id=mall.enterprise_id, campaign_id=campaign_id, customer_id=me.customer_id)
    return redirect(f"{reverse('mall_invitations', args=[mall.code])}?joined={campaign_id}")


# Why a help was refused, as the friend reads it (the mall is Chinese).
REFUSALS = {
    "assistance_expired": "这个助力已过期",
    "assistance_complete": "好友的助力已经完成，谢谢你",
    "self_help": "不能给自己助力哦，把链接分享给好友吧",
    "helper_not_new": "本次助力仅限新朋友参与",
    "campaign_not_running": "活动未在进行中",
}


@require_GET
@mall_page(login=True)
def assist(request: HttpRequest, mall: Mall, token: str) -> HttpResponse:
    """A friend's assistance (助力), opened from their share link: who started it, help so far against N, the
    deadline, and the help button (once; the page says why a tap was refused)."""
    me = shopper(mall)
    found = queries.assistance(enterprise_id=mall.enterprise_id, token=token, customer_id=me.customer_id)
    refused = request.GET.get("refused", "")[:32]
    return render(request, "referrals/mall/assist.html", {
        "mall": mall, "a": found, "starter": (found.starter[:1] + "**") if found.starter else "**",
        "refused": REFUSALS.get(refused, ""), "helped": request.GET.get("helped") == "1"})


@require_POST
@mall_page(login=True)
def help_friend(request: HttpRequest, mall: Mall, token: str) -> HttpResponse:
    me = shopper(mall)
    page = reverse("mall_assist", args=[mall.code, token])
    try:
        services.help_assistance(enterprise_id=mall.enterprise_id, customer_id=me.customer_id, token=token)
    except Conflict as exc:
        return redirect(f"{page}?{urlencode({'refused': exc.code})}")
    return redirect(f"{page}?helped=1")
