"""The H5 mall's invitations page (/m/<enterprise>/me/invite/): the running referral campaigns with the shopper's part
in each (joined or not, their poster and share link, how many they brought, the target and the deadline for a task,
rewards granted), and joining one. Referrals sit above the storefront, so the page lives here with the mall's page
decorator; the brand comes from the URL and the customer from the brand's own session, so a shopper only sees and
joins as themselves. Joining is once per campaign (a second tap answers the first participant row)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from siyu.referrals import queries, services
from siyu.storefront.mall_auth import Mall, mall_page, shopper


@require_GET
@mall_page(login=True)
def invitations(request: HttpRequest, mall: Mall) -> HttpResponse:
    me = shopper(mall)
    rows = queries.progress_of(enterprise_id=mall.enterprise_id, customer_id=me.customer_id)
    shares = {row.campaign.pk: request.build_absolute_uri(reverse("referrals:share", args=[row.participant.token]))
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
