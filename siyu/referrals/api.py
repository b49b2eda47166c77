"""Referrals API, mounted at /api/referrals (HQ: campaigns and their results) and the shopper's part under
/api/storefront/referrals (running campaigns with their progress, joining, their invitations, claiming a link)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.org.schemas import ErrorOut
from siyu.referrals import queries, services
from siyu.storefront.api import CUSTOMER, shopper_of

router = Router()
storefront_router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class CampaignIO(Input):
    kind: str = Field(pattern="^(invite|task|group|assist)$",
                      description="invite: 邀请有礼; task: 任务宝; group: 群裂变; assist: 助力")
    name: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    ends_at: datetime
    conversion: str = Field(default="add_staff", pattern="^(add_staff|first_order|join_group|help)$",
                            description="invite: add_staff or first_order; task: add_staff; group: join_group; "
                                        "assist: help")
    reward_kind: str = Field(default="points", pattern="^(points|coupon)$")
    reward_points: int = Field(default=0, ge=0, le=services.MAX_REWARD_POINTS)
    coupon_template_id: int | None = Field(default=None, ge=1)
    per_inviter_cap: int = Field(default=0, ge=0, le=services.MAX_CAP, description="0: no cap")
    target_count: int = Field(default=0, ge=0, le=services.MAX_TARGET,
                              description="task / group: people to bring (N); assist: friends who help (N)")
    window_days: int = Field(default=0, ge=0, le=services.MAX_WINDOW_DAYS,
                             description="task / group: within days (T)")
    channel_code_id: int | None = Field(default=None, ge=1,
                                        description="each participant's contact way copies this code's staff")
    group_code_id: int | None = Field(default=None, ge=1,
                                      description="group: each participant's join way lists this code's groups")
    window_hours: int = Field(default=0, ge=0, le=services.MAX_WINDOW_HOURS, description="assist: within hours (T)")
    helpers_must_be_new: bool = Field(default=True, description="assist: a helper must be new to the brand")
    is_active: bool = True


class CampaignOut(CampaignIO):
    id: int


class GenerationOut(Schema):
    generation: int
    participants: int
    brought: int
    k_factor: float


class ResultsOut(Schema):
    campaign: CampaignOut
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
    notices: dict[str, int]
    generations: list[GenerationOut]


class NodeOut(Schema):
    participant_id: int
    customer_id: int
    customer_name: str
    generation: int
    invited_by: int | None = Field(description="the participant who brought them")
    brought: int
    completed: bool


class TreePageOut(Schema):
    items: list[NodeOut]
    total: int
    page: int
    pages: int


FIELDS = services.CAMPAIGN_FIELDS


def _campaign_out(campaign: Any) -> dict[str, Any]:
    return {"id": campaign.pk, **{f: getattr(campaign, f) for f in FIELDS}}


def _input(payload: CampaignIO) -> services.CampaignInput:
    return services.CampaignInput(**payload.model_dump())


@router.get("/campaigns", response={200: list[CampaignOut], **ERRORS}, summary="HQ: the referral campaigns")
def list_campaigns(request: HttpRequest) -> Any:
    return [_campaign_out(c) for c in queries.campaigns(scope_of(request))[:200]]


@router.post("/campaigns", response={201: CampaignOut, **WRITE_ERRORS},
             summary="HQ: add an invite (邀请有礼) or task fission (任务宝) campaign (audited)")
def create_campaign(request: HttpRequest, payload: CampaignIO) -> Status[Any]:
    campaign = services.save_campaign(scope=scope_of(request), data=_input(payload), actor=actor_of(request))
    return Status(201, _campaign_out(campaign))


@router.put("/campaigns/{campaign_id}", response={200: CampaignOut, **WRITE_ERRORS},
            summary="HQ: change a campaign (its kind and conversion are fixed once anyone joined: 409)")
def update_campaign(request: HttpRequest, campaign_id: int, payload: CampaignIO) -> Any:
    return _campaign_out(services.save_campaign(scope=scope_of(request), data=_input(payload),
                                                campaign_id=campaign_id, actor=actor_of(request)))


@router.get("/campaigns/{campaign_id}/results", response={200: ResultsOut, **ERRORS},
            summary="HQ: invitations, conversions, refusals by reason, reward cost, K-factor by generation")
def campaign_results(request: HttpRequest, campaign_id: int) -> Any:
    found = queries.results(scope_of(request), campaign_id)
    return {**vars(found), "campaign": _campaign_out(found.campaign),
            "generations": [vars(g) for g in found.generations]}


@router.get("/campaigns/{campaign_id}/tree", response={200: TreePageOut, **ERRORS},
            summary="HQ: the invitation tree, a page of participants by generation")
def campaign_tree(request: HttpRequest, campaign_id: int, page: int = 1) -> Any:
    found = queries.tree_page(scope_of(request), campaign_id, page=page)
    return {"items": [{"participant_id": p.pk, "customer_id": p.customer_id, "customer_name": p.customer.name,
                       "generation": p.generation, "invited_by": p.invited_by_id, "brought": getattr(p, "brought", 0),
                       "completed": p.completed_at is not None} for p in found.items],
            "total": found.total, "page": found.page, "pages": found.pages}


# ---------------------------------------------------------------------------------------------------------------
# The shopper's side


def share_url(request: HttpRequest, token: str, *, poster: bool = False) -> str:
    path = reverse("referrals:poster" if poster else "referrals:share", args=[token])
    base = str(getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


class ProgressOut(Schema):
    campaign_id: int
    name: str
    kind: str
    conversion: str
    ends_at: datetime
    reward_kind: str
    reward_points: int
    joined: bool
    share_url: str
    poster_url: str
    counted: int
    pending: int
    target: int
    completed: bool
    rewards: int
    helped: int = Field(description="assist: friends who helped")
    deadline_at: datetime | None = Field(description="task / group / assist: when the window closes")
    join_qr: str = Field(description="group: the QR of my own join way (empty until WeCom made it)")


class HelpIn(Input):
    token: str = Field(min_length=3, max_length=30, pattern="^[a-z0-9]+$")


class HelpOut(Schema):
    campaign_id: int
    helped: int
    target: int
    completed: bool


class AssistanceOut(Schema):
    campaign_id: int
    name: str
    starter: str = Field(description="who started it, name masked")
    helped: int
    target: int
    deadline_at: datetime | None
    expired: bool
    completed: bool
    helped_by_me: bool


class InvitationOut(Schema):
    invitee: str = Field(description="the invitee's name, masked")
    status: str
    reason: str
    occurred_at: datetime


class ClaimIn(Input):
    token: str = Field(min_length=3, max_length=30, pattern="^[a-z0-9]+$")


class ClaimOut(Schema):
    campaign_id: int
    status: str


def _mask(name: str) -> str:
    return (name[:1] + "**") if name else "**"


def _progress_out(request: HttpRequest, row: queries.Progress) -> dict[str, Any]:
    c, p = row.campaign, row.participant
    return {"campaign_id": c.pk, "name": c.name, "kind": c.kind, "conversion": c.conversion, "ends_at": c.ends_at,
            "reward_kind": c.reward_kind, "reward_points": c.reward_points, "joined": p is not None,
            "share_url": share_url(request, p.token) if p else "",
            "poster_url": share_url(request, p.token, poster=True) if p else "",
            "counted": row.counted, "pending": row.pending, "target": row.target, "completed": row.completed,
            "rewards": row.rewards, "helped": row.helped, "deadline_at": p.deadline_at if p else None,
            "join_qr": p.join_qr if p else ""}


@storefront_router.get("/referrals", auth=CUSTOMER, response={200: list[ProgressOut], **ERRORS},
                       summary="The running referral campaigns with my part: share link, poster, progress")
def shopper_referrals(request: HttpRequest) -> Any:
    shopper = shopper_of(request)
    return [_progress_out(request, row) for row in queries.progress_of(enterprise_id=shopper.enterprise_id,
                                                                      customer_id=shopper.customer_id)]


@storefront_router.post("/referrals/{campaign_id}/join", auth=CUSTOMER, response={201: ProgressOut, **WRITE_ERRORS},
                        summary="Take part: my share link and poster (a second call answers the first). "
                                "409 campaign_not_running")
def shopper_join(request: HttpRequest, campaign_id: int) -> Status[Any]:
    shopper = shopper_of(request)
    services.join_campaign(enterprise_id=shopper.enterprise_id, campaign_id=campaign_id,
                           customer_id=shopper.customer_id)
    rows = queries.progress_of(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id)
    return Status(201, next(_progress_out(request, r) for r in rows if r.campaign.pk == campaign_id))


@storefront_router.get("/referrals/{campaign_id}/invitations", auth=CUSTOMER,
                       response={200: list[InvitationOut], **ERRORS},
                       summary="The people my link brought and whether each counted (names masked)")
def shopper_invitations(request: HttpRequest, campaign_id: int) -> Any:
    shopper = shopper_of(request)
    rows = queries.invitations_of(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                  campaign_id=campaign_id)
    return [{"invitee": _mask(i.invitee.name), "status": i.status, "reason": i.reason,
             "occurred_at": i.occurred_at} for i in rows]


@storefront_router.post("/referrals/claim", auth=CUSTOMER, response={201: ClaimOut, **WRITE_ERRORS},
                        summary="I opened a first-order campaign's share link: my first paid order counts for the "
                                "inviter. 409 self_invite / invitee_not_new / already_invited")
def shopper_claim(request: HttpRequest, payload: ClaimIn) -> Status[Any]:
    shopper = shopper_of(request)
    invitation = services.claim(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                token=payload.token)
    return Status(201, {"campaign_id": invitation.campaign_id, "status": invitation.status})


@storefront_router.get("/referrals/assist/{assist_token}", auth=CUSTOMER, response={200: AssistanceOut, **ERRORS},
                       summary="An assistance (助力) a friend shared: who started it, help so far, the deadline")
def shopper_assistance(request: HttpRequest, assist_token: str) -> Any:
    shopper = shopper_of(request)
    found = queries.assistance(enterprise_id=shopper.enterprise_id, token=assist_token,
                               customer_id=shopper.customer_id)
    return {**vars(found), "starter": _mask(found.starter)}


@storefront_router.post("/referrals/help", auth=CUSTOMER, response={201: HelpOut, **WRITE_ERRORS},
                        summary="Help a friend's assistance (once; a second call answers the first). 409 "
                                "assistance_expired / assistance_complete / self_help / helper_not_new")
def shopper_help(request: HttpRequest, payload: HelpIn) -> Status[Any]:
    shopper = shopper_of(request)
    done = services.help_assistance(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                    token=payload.token)
    return Status(201, {"campaign_id": done.help.campaign_id, "helped": done.helped, "target": done.target,
                        "completed": done.completed})
