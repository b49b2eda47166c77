"""Referral reads: campaigns and their results (HQ), a shopper's own participation and invitations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.channels.wecom import queries as wecom_queries
from siyu.core.errors import NotFound, PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.org.scope import Scope
from siyu.referrals.models import (
    Campaign,
    CampaignKind,
    Help,
    Invitation,
    InvitationStatus,
    Participant,
    ProgressNotice,
    RewardStatus,
)

TREE_NODES = 200


def campaigns(scope: Scope) -> QuerySet[Campaign]:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage referral campaigns"))
    return Campaign.objects.filter(enterprise_id=scope.enterprise_id).order_by("-id")


def get_campaign(scope: Scope, campaign_id: int) -> Campaign:
    found = campaigns(scope).filter(pk=campaign_id).first()
    if found is None:
        raise NotFound(_("campaign %(id)s not found") % {"id": campaign_id}, field="campaign_id")
    return found


@dataclass(frozen=True)
class Generation:
    generation: int
    participants: int
    brought: int  # counted invitees brought by this generation's participants (generation g+1)
    k_factor: float  # brought / participants


@dataclass(frozen=True)
class Results:
    campaign: Campaign
    participants: int
    invitations: int
    conversions: int
    pending: int
    rejected: dict[str, int]
    reversed: int
    rewards: int
    reward_cost_fen: int
    completed: int
    helps: int
    notices: dict[str, int]  # progress notices by status (pending / sent / failed)
    generations: list[Generation]


def k_factors(campaign_id: int) -> list[Generation]:
    """Per generation g: its participants and the invitees they brought that counted (generation g+1);
    K = brought / participants. Two GROUP BY statements, whatever the campaign's size."""
    people = dict(Participant.objects.filter(campaign_id=campaign_id).values("generation")
                  .annotate(n=Count("id")).values_list("generation", "n"))
    brought = dict(Invitation.objects.filter(campaign_id=campaign_id, status=InvitationStatus.COUNTED)
                   .values("inviter__generation").annotate(n=Count("id")).values_list("inviter__generation", "n"))
    return [Generation(generation=g, participants=people[g], brought=brought.get(g, 0),
                       k_factor=round(brought.get(g, 0) / people[g], 3)) for g in sorted(people)]


def results(scope: Scope, campaign_id: int) -> Results:
    campaign = get_campaign(scope, campaign_id)
    by_status = dict(Invitation.objects.filter(campaign=campaign).values("status").annotate(n=Count("id"))
                     .values_list("status", "n"))
    rejected = dict(Invitation.objects.filter(campaign=campaign, status=InvitationStatus.REJECTED).values("reason")
                    .annotate(n=Count("id")).values_list("reason", "n"))
    granted = campaign.rewards.filter(status=RewardStatus.GRANTED).aggregate(n=Count("id"), cost=Sum("cost_fen"))
    return Results(
        campaign=campaign, participants=campaign.participants.count(), invitations=sum(by_status.values()),
        conversions=by_status.get(InvitationStatus.COUNTED, 0),
        pending=by_status.get(InvitationStatus.PENDING, 0) + by_status.get(InvitationStatus.CLAIMED, 0),
        rejected=rejected, reversed=by_status.get(InvitationStatus.REVERSED, 0), rewards=granted["n"] or 0,
        reward_cost_fen=granted["cost"] or 0,
        completed=campaign.participants.filter(completed_at__isnull=False).count(),
        helps=Help.objects.filter(campaign=campaign).count(),
        notices=dict(ProgressNotice.objects.filter(campaign=campaign).values("status").annotate(n=Count("id"))
                     .values_list("status", "n")),
        generations=k_factors(campaign.pk))


def tree_page(scope: Scope, campaign_id: int, *, page: int = 1, page_size: int = 50) -> Page[Participant]:
    """The invitation tree as pages of participants, by generation, each with who brought them and how many they
    brought."""
    campaign = get_campaign(scope, campaign_id)
    rows = (Participant.objects.filter(campaign=campaign).select_related("customer", "invited_by__customer")
            .annotate(brought=Count("invitations", filter=Q(invitations__status=InvitationStatus.COUNTED)))
            .order_by("generation", "id"))
    return paginate(rows, page=page, page_size=page_size)


def tree_chart(scope: Scope, campaign_id: int) -> dict[str, Any]:
    """The first TREE_NODES participants as an ECharts tree under one root (the campaign)."""
    campaign = get_campaign(scope, campaign_id)
    rows = list(Participant.objects.filter(campaign=campaign).order_by("generation", "id")
                .values("id", "invited_by_id", "customer__name", "customer_id")[:TREE_NODES])
    nodes: dict[int, dict[str, Any]] = {
        r["id"]: {"name": r["customer__name"] or f"#{r['customer_id']}", "children": []} for r in rows}
    root: dict[str, Any] = {"name": campaign.name, "children": []}
    for r in rows:
        parent = nodes.get(r["invited_by_id"]) if r["invited_by_id"] else None
        (parent or root)["children"].append(nodes[r["id"]])
    return root


# ---------------------------------------------------------------------------------------------------------------
# The shopper's side


@dataclass(frozen=True)
class Progress:
    campaign: Campaign
    participant: Participant | None
    counted: int
    pending: int
    target: int
    completed: bool
    rewards: int
    helped: int = 0


def running(enterprise_id: int, at: datetime | None = None) -> QuerySet[Campaign]:
    moment = at or timezone.now()
    return Campaign.objects.filter(enterprise_id=enterprise_id, is_active=True, starts_at__lte=moment,
                                   ends_at__gt=moment).order_by("ends_at", "id")


def progress_of(*, enterprise_id: int, customer_id: int) -> list[Progress]:
    """Each running campaign with the shopper's part in it: invitees counted (inside the window for a task),
    waiting, the target and whether it was reached."""
    found = list(running(enterprise_id)[:50])
    mine = {p.campaign_id: p for p in Participant.objects.filter(customer_id=customer_id,
                                                                 campaign__in=[c.pk for c in found])}
    out = []
    for campaign in found:
        participant = mine.get(campaign.pk)
        counts: dict[str, int] = {}
        rewards = helped = 0
        if participant is not None:
            helped = participant.helps.count() if campaign.kind == CampaignKind.ASSIST else 0
            counts = dict(participant.invitations.values("status").annotate(n=Count("id"))
                          .values_list("status", "n"))
            rewards = participant.rewards.filter(status=RewardStatus.GRANTED).count()
        out.append(Progress(
            campaign=campaign, participant=participant, counted=counts.get(InvitationStatus.COUNTED, 0),
            pending=counts.get(InvitationStatus.PENDING, 0) + counts.get(InvitationStatus.CLAIMED, 0),
            target=campaign.target_count if campaign.kind != CampaignKind.INVITE else 0,
            completed=participant is not None and participant.completed_at is not None, rewards=rewards,
            helped=helped))
    return out


def invitations_of(*, enterprise_id: int, customer_id: int, campaign_id: int) -> list[Invitation]:
    participant = Participant.objects.filter(campaign_id=campaign_id, campaign__enterprise_id=enterprise_id,
                                             customer_id=customer_id).first()
    if participant is None:
        raise NotFound(_("you have not joined this campaign"), field="campaign_id")
    return list(participant.invitations.select_related("invitee").order_by("-id")[:200])


def participant_by_token(token: str) -> Participant | None:
    return Participant.objects.select_related("campaign").filter(token=token).first()


def contact_way_config(participant: Participant) -> str:
    """The WeCom config id of the participant's contact way, once WeCom has made it (else empty)."""
    if participant.channel_code_id is None:
        return ""
    found = (wecom_queries.codes(Scope.hq(participant.campaign.enterprise_id)).filter(pk=participant.channel_code_id)
             .values_list("config_id", flat=True).first())
    return str(found or "")


@dataclass(frozen=True)
class Assistance:
    campaign_id: int
    name: str
    starter: str
    helped: int
    target: int
    deadline_at: datetime | None
    expired: bool
    completed: bool
    helped_by_me: bool
    token: str


def assistance(*, enterprise_id: int, token: str, customer_id: int | None = None,
               at: datetime | None = None) -> Assistance:
    """An assistance someone shared, as a friend sees it (the brand's own only: another brand's token is 404)."""
    found = (Participant.objects.select_related("campaign", "customer")
             .filter(token=token, campaign__enterprise_id=enterprise_id, campaign__kind=CampaignKind.ASSIST).first())
    if found is None:
        raise NotFound(_("this assistance link is not known"), field="token")
    moment = at or timezone.now()
    helps = Help.objects.filter(participant=found)
    return Assistance(
        campaign_id=found.campaign_id, name=found.campaign.name, starter=found.customer.name,
        helped=helps.count(), target=found.campaign.target_count, deadline_at=found.deadline_at,
        expired=found.deadline_at is not None and moment >= found.deadline_at,
        completed=found.completed_at is not None,
        helped_by_me=customer_id is not None and helps.filter(helper_id=customer_id).exists(), token=token)


def mall_code(participant: Participant) -> str:
    """The brand's mall code (the /m/<code>/ path) a participant's campaign belongs to."""
    return str(Campaign.objects.filter(pk=participant.campaign_id).values_list("enterprise__code", flat=True)
               .first() or "")
