"""Campaigns API, mounted at /api/campaigns: create, read, list (paginated), plan (the waterfall), launch, cancel,
results (per variant with the holdout, first/last-touch credit). HQ and managers; store staff are refused (403)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.core.errors import ValidationFailed
from siyu.messaging import queries, services
from siyu.org.schemas import ErrorOut

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}
CHANNEL = "^(wecom|official_account|sms)$"


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class VariantIO(Input):
    name: str = Field(pattern="^[A-Za-z0-9_-]{1,16}$")
    content: dict[str, str] = Field(default_factory=dict, description="channel -> text overriding the campaign's")


class CampaignIn(Input):
    name: str = Field(min_length=1, max_length=64)
    audience_kind: str = Field(pattern="^(segment|tags|list)$")
    segment_id: int | None = Field(default=None, ge=1)
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    tag_match: str = Field(default="any", pattern="^(any|all)$")
    customer_ids: list[int] = Field(default_factory=list, max_length=services.MAX_LIST)
    channels: list[str] = Field(min_length=1, max_length=3, description="ordered preference")
    content: dict[str, str] = Field(description="channel -> text with {name} {staff_name} {store}")
    variants: list[VariantIO] = Field(default_factory=list, max_length=services.MAX_VARIANTS)
    holdout_pct: int = Field(default=0, ge=0, le=50)
    primary_metric: str = Field(default="conversion", pattern="^(conversion|revenue)$")
    attribution_days: int = Field(default=7, ge=1, le=90)
    cost_fen: int = Field(default=0, ge=0)
    baseline_bp: int = Field(default=500, ge=1, le=9998, description="A/B: expected conversion, 1/10000")
    mde_bp: int = Field(default=100, ge=1, le=9998, description="A/B: minimum detectable absolute lift, 1/10000")
    scheduled_at: datetime | None = None
    wecom_account_id: int | None = Field(default=None, ge=1)
    oa_account_id: int | None = Field(default=None, ge=1)
    oa_template_id: str = Field(default="", max_length=64)
    sms_sign: str = Field(default="", max_length=20)
    coupon_template_id: int | None = Field(default=None, ge=1, description="a coupon each recipient gets once")
    points: int = Field(default=0, ge=0, le=services.MAX_POINTS, description="points each recipient gets once")
    best_hour: bool = Field(default=False, description="send at each customer's usual active hour")
    test_pct: int = Field(default=0, ge=0, le=90, description="send the variants to this share first, then the winner")
    evaluate_at: datetime | None = Field(default=None, description="pick the winner by itself at this time")


class SampleSizeOut(Schema):
    baseline: float
    mde: float
    per_arm: int = Field(description="recipients each arm needs (two-sided, alpha 0.05, power 0.8)")
    arms: dict[str, int] = Field(description="recipients per arm in the plan ('holdout' for the holdout)")
    short: list[str] = Field(description="arms smaller than per_arm: the test cannot detect the declared lift")


class CampaignOut(Schema):
    id: int
    name: str
    status: str
    audience_kind: str
    channels: list[str]
    content: dict[str, str]
    variants: list[dict[str, Any]]
    holdout_pct: int
    attribution_days: int
    cost_fen: int
    scheduled_at: datetime | None
    plan: dict[str, Any]
    created_at: datetime
    baseline_bp: int
    mde_bp: int
    sample_size: SampleSizeOut | None = Field(default=None, description="the plan response: the A/B sample check")
    coupon_template_id: int | None
    points: int
    best_hour: bool
    test_pct: int
    evaluate_at: datetime | None
    winner: str
    promotion: dict[str, Any]


class PageOut(Schema):
    items: list[CampaignOut]
    total: int
    page: int
    pages: int


class VariantOut(Schema):
    variant: str = Field(description="'holdout' for the holdout group")
    recipients: int
    conversions: int
    revenue_fen: int


class SignificanceOut(Schema):
    variant: str
    against: str
    recipients: int
    control_rate: float
    variant_rate: float
    lift: float
    z: float
    p_value: float
    significant: bool


class RevenueOut(Schema):
    variant: str
    against: str
    recipients: int
    control_mean_fen: float
    variant_mean_fen: float
    difference_fen: float
    t: float
    df: float
    p_value: float
    significant: bool


class PromoteIn(Input):
    variant: str = Field(default="", pattern="^[A-Za-z0-9_-]{0,16}$", description="empty: the best by the metric")
    force: bool = Field(default=False, description="promote even when it is not significantly better")


class SendRatesIn(Input):
    sms: int | None = Field(default=None, ge=1, le=services.MAX_RATE, description="a minute; null: the platform's")
    wecom: int | None = Field(default=None, ge=1, le=services.MAX_RATE)
    official_account: int | None = Field(default=None, ge=1, le=services.MAX_RATE)


class SendRatesOut(Schema):
    rates: dict[str, int] = Field(description="in force, a minute per channel")
    custom: dict[str, int] = Field(description="the enterprise's own (the rest are the platforms' limits)")


class ClickOut(Schema):
    variant: str
    channel: str
    recipients: int = Field(description="deliveries sent")
    clicked: int = Field(description="recipients who opened one of their tracked links")
    clicks: int = Field(description="opens counted (at most one per link every 10 s)")


class ResultsOut(Schema):
    campaign: CampaignOut
    progress: dict[str, int]
    variants: list[VariantOut]
    attributed: dict[str, dict[str, int]]
    primary_metric: str
    significance: list[SignificanceOut]
    revenue_significance: list[RevenueOut] = Field(description="revenue per recipient, Welch's t-test")
    clicks: list[ClickOut]


def _out(c: Any) -> dict[str, Any]:
    return {"id": c.pk, "name": c.name, "status": c.status, "audience_kind": c.audience_kind, "channels": c.channels,
            "content": c.content, "variants": c.variants, "holdout_pct": c.holdout_pct,
            "attribution_days": c.attribution_days, "cost_fen": c.cost_fen, "scheduled_at": c.scheduled_at,
            "plan": c.plan, "created_at": c.created_at, "baseline_bp": c.baseline_bp, "mde_bp": c.mde_bp,
            "coupon_template_id": c.coupon_template_id, "points": c.points,
            "best_hour": c.best_hour, "test_pct": c.test_pct, "evaluate_at": c.evaluate_at, "winner": c.winner,
            "promotion": c.promotion}


class PolicyIO(Schema):
    max_per_day: int = Field(ge=0, le=1000, description="per customer, all campaigns and channels; 0: no cap")
    max_per_week: int = Field(ge=0, le=1000, description="per customer in a rolling 7 days; 0: no cap")
    channel_caps: dict[str, int] = Field(default_factory=dict, description="channel -> at most a day")
    quiet_start_hour: int = Field(ge=0, le=23, description="Asia/Shanghai")
    quiet_end_hour: int = Field(ge=0, le=23, description="Asia/Shanghai")
    recent_purchase_days: int = Field(ge=0, le=1000, description="0: no suppression")
    suppress_open_after_sale: bool
    wecom_monthly_limit: int = Field(ge=0, le=1000)


class PolicyIn(PolicyIO):
    model_config = ConfigDict(extra="forbid")


class DndIn(Input):
    customer_id: int = Field(ge=1)
    reason: str = Field(default="", max_length=200)


class DndQuery(Input):
    q: str = Field("", max_length=64, description="a name, a phone prefix or a customer number")
    page: int = Field(1, ge=1)


class DndOut(Schema):
    customer_id: int
    name: str
    reason: str
    created_at: datetime


class DndPageOut(Schema):
    items: list[DndOut]
    total: int
    page: int
    pages: int


def _policy_out(p: Any) -> dict[str, Any]:
    return {name: getattr(p, name) for name in PolicyIO.model_fields} | {"channel_caps": dict(p.channel_caps or {})}


@router.get("/policy", response={200: PolicyIO, **ERRORS}, summary="The contact budget (defaults until saved)")
def get_policy(request: HttpRequest) -> Any:
    return _policy_out(queries.contact_policy(scope_of(request)))


@router.put("/policy", response={200: PolicyIO, **WRITE_ERRORS}, summary="Set the contact budget (HQ, audited)")
def put_policy(request: HttpRequest, payload: PolicyIn) -> Any:
    for channel, cap in payload.channel_caps.items():
        if channel not in ("wecom", "official_account", "sms") or not 0 <= cap <= 1000:
            raise ValidationFailed(_("a channel cap is a known channel and 0 to 1000"),
                                   field=f"channel_caps.{channel[:20]}", code="invalid")
    return _policy_out(services.set_policy(scope=scope_of(request), values=payload.model_dump(),
                                           actor=actor_of(request)))


@router.get("/dnd", response={200: DndPageOut, **ERRORS},
            summary="The do-not-disturb list, newest first; q matches a name, phone prefix or customer number")
def list_dnd(request: HttpRequest, params: Query[DndQuery]) -> Any:
    found = queries.do_not_disturb_page(scope_of(request), search=params.q, page=params.page)
    return {"items": [{"customer_id": r.customer_id, "name": r.customer.name, "reason": r.reason,
                       "created_at": r.created_at} for r in found.items],
            "total": found.total, "page": found.page, "pages": found.pages}


@router.post("/dnd", response={200: dict[str, bool], 201: dict[str, bool], **WRITE_ERRORS},
             summary="Put a customer on the do-not-disturb list (HQ, audited; a repeat answers 200)")
def add_dnd(request: HttpRequest, payload: DndIn) -> Status[dict[str, bool]]:
    added = services.add_do_not_disturb(scope=scope_of(request), customer_id=payload.customer_id,
                                        reason=payload.reason, actor=actor_of(request))
    return Status(201 if added else 200, {"added": added})


@router.delete("/dnd/{int:customer_id}", response={204: None, **WRITE_ERRORS},
               summary="Take a customer off the do-not-disturb list (HQ, audited)")
def remove_dnd(request: HttpRequest, customer_id: int) -> Status[None]:
    services.remove_do_not_disturb(scope=scope_of(request), customer_id=customer_id, actor=actor_of(request))
    return Status(204, None)


@router.get("", response={200: PageOut, **ERRORS}, summary="Campaigns the caller may see, newest first")
def list_campaigns(request: HttpRequest, page: int = 1) -> Any:
    found = queries.campaign_page(scope_of(request), page=max(1, page))
    return {"items": [_out(c) for c in found.items], "total": found.total, "page": found.page, "pages": found.pages}


@router.post("", response={201: CampaignOut, **WRITE_ERRORS}, summary="Create a draft campaign (audited)")
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Status[Any]:
    data = services.CampaignInput(**{**payload.model_dump(), "variants": [v.model_dump() for v in payload.variants]})
    campaign = services.create_campaign(scope=scope_of(request), data=data, actor=actor_of(request))
    return Status(201, _out(campaign))


@router.get("/send-rates", response={200: SendRatesOut, **ERRORS}, summary="Send rates per channel (HQ)")
def get_send_rates(request: HttpRequest) -> Any:
    return queries.send_rates(scope_of(request))


@router.put("/send-rates", response={200: SendRatesOut, **WRITE_ERRORS},
            summary="Set the send rates a minute per channel (HQ; audited); null is the platform's limit")
def put_send_rates(request: HttpRequest, payload: SendRatesIn) -> Any:
    scope = scope_of(request)
    services.set_policy(scope=scope, values={"send_rates": payload.model_dump()}, actor=actor_of(request))
    return queries.send_rates(scope)


@router.get("/{messaging_campaign_id}", response={200: CampaignOut, **ERRORS}, summary="One campaign")
def get_campaign(request: HttpRequest, messaging_campaign_id: int) -> Any:
    return _out(queries.get_campaign(scope_of(request), messaging_campaign_id))


@router.post("/{messaging_campaign_id}/plan", response={200: CampaignOut, **WRITE_ERRORS},
             summary="Plan: a delivery row per customer; the waterfall (by channel, excluded by reason)")
def plan_campaign(request: HttpRequest, messaging_campaign_id: int) -> Any:
    scope = scope_of(request)
    campaign = services.plan_campaign(scope=scope, campaign_id=messaging_campaign_id, actor=actor_of(request))
    check = queries.sample_size(scope, campaign)
    return {**_out(campaign), "sample_size": vars(check) if check else None}


@router.post("/{messaging_campaign_id}/launch", response={200: CampaignOut, **WRITE_ERRORS},
             summary="Launch a planned campaign (a repeat answers the launched campaign)")
def launch_campaign(request: HttpRequest, messaging_campaign_id: int) -> Any:
    return _out(services.launch_campaign(scope=scope_of(request), campaign_id=messaging_campaign_id,
                                      actor=actor_of(request)))


@router.post("/{messaging_campaign_id}/cancel", response={200: CampaignOut, **WRITE_ERRORS},
             summary="Cancel: deliveries not yet sent are cancelled")
def cancel_campaign(request: HttpRequest, messaging_campaign_id: int) -> Any:
    return _out(services.cancel_campaign(scope=scope_of(request), campaign_id=messaging_campaign_id,
                                      actor=actor_of(request)))


@router.post("/{messaging_campaign_id}/promote", response={200: CampaignOut, **WRITE_ERRORS},
             summary="Send the test's winner to the rest of the audience (409 test_running / not_significant)")
def promote_winner(request: HttpRequest, messaging_campaign_id: int, payload: PromoteIn) -> Any:
    return _out(services.promote_winner(scope=scope_of(request), campaign_id=messaging_campaign_id,
                                        variant=payload.variant, force=payload.force, actor=actor_of(request)))


@router.get("/{messaging_campaign_id}/results", response={200: ResultsOut, **ERRORS},
            summary="Progress, per-variant recipients / conversions / revenue (with the holdout), touch credit")
def campaign_results(request: HttpRequest, messaging_campaign_id: int) -> Any:
    scope = scope_of(request)
    campaign = queries.get_campaign(scope, messaging_campaign_id)
    inputs = queries.ab_test_inputs(scope, messaging_campaign_id)
    return {"campaign": _out(campaign), "progress": queries.progress(scope, messaging_campaign_id),
            "variants": inputs["groups"], "attributed": queries.attributed(scope, messaging_campaign_id),
            "primary_metric": inputs["primary_metric"],
            "significance": [vars(row) for row in queries.campaign_significance(scope, messaging_campaign_id)],
            "revenue_significance": [vars(row) for row in
                                     queries.campaign_revenue_significance(scope, messaging_campaign_id)],
            "clicks": [vars(row) for row in queries.click_results(scope, messaging_campaign_id)]}
