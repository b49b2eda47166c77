"""Campaign writes: create, plan, launch, cancel, send, credit conversions; the contact policy and the DND list.

Sending is an outbox over Delivery rows: a worker claims due rows in a short transaction (status sending, a claim
token and a lease), sends each outside any transaction with the row's key as the provider's idempotency key, and
records the outcome with an UPDATE that names its claim. A worker killed mid-send leaves rows whose lease runs out;
the next claim takes them again and the key makes the provider (or our own keyed outbox rows for the Official
Account and WeCom) answer the repeat with the first message, so nobody gets two and nobody is dropped.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Left, NullIf
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.audiences import queries as audience_queries
from siyu.channels.official_account import services as oa_services
from siyu.channels.official_account.models import SendStatus as OaSendStatus
from siyu.channels.official_account.models import TemplateSend
from siyu.channels.sms.models import SmsStatus
from siyu.channels.wecom import mass_sends
from siyu.channels.wecom.models import MassSendRecipient, RecipientStatus
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import now as utcnow
from siyu.customers import consent
from siyu.customers import queries as customer_queries
from siyu.loyalty import queries as loyalty_queries
from siyu.messaging import best_hour, links, planning, rewards, senders, winner
from siyu.messaging.models import (
    AudienceKind,
    Campaign,
    CampaignStatus,
    ContactPolicy,
    Conversion,
    Delivery,
    DeliveryStatus,
    DoNotDisturb,
    ExclusionReason,
    SendChannel,
    Touch,
)
from siyu.org.models import Role
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries

log = logging.getLogger(__name__)

MAX_LIST = 100_000
MAX_TEXT = 500
MAX_VARIANTS = 5
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,16}")
LEASE_S = 60  # a claim's lease; SIYU_CAMPAIGN_LEASE_S overrides it (the killed-worker test uses a short one)
BATCH = 200
MAX_ATTEMPTS = 5
MAX_POINTS = 100_000
MAX_RATE = 1_000_000
SENT_STATES = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.CONFIRMED]


# ---------------------------------------------------------------------------------------------------------------
# Who may market


def check_can_market(scope: Scope) -> None:
    """HQ markets to the enterprise; region and store managers to their own customers; store staff do not launch
    campaigns (their 1:1 tasks come to them through WeCom)."""
    if scope.role == Role.STORE_STAFF:
        raise PermissionDenied(_("store staff cannot create or launch campaigns"), field="scope")


def policy_for(enterprise_id: int) -> ContactPolicy:
    found = ContactPolicy.objects.filter(enterprise_id=enterprise_id).first()
    return found or ContactPolicy(enterprise_id=enterprise_id)


def _clean_rates(given: Any) -> dict[str, int]:
    rates = {}
    for channel, value in dict(given or {}).items():
        if channel not in SendChannel.values:
            raise ValidationFailed(_("unknown channel"), field=f"send_rates.{channel}", code="invalid_choice")
        if value in (None, ""):
            continue  # the platform's default
        if not 1 <= int(value) <= MAX_RATE:
            raise ValidationFailed(_("a send rate is 1 to 1,000,000 a minute"), field=f"send_rates.{channel}",
                                   code="out_of_range")
        rates[channel] = int(value)
    return rates


@transaction.atomic
def set_policy(*, scope: Scope, values: dict[str, Any], actor: Actor = None) -> ContactPolicy:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ sets the contact budget"), field="scope")
    policy, _created = ContactPolicy.objects.select_for_update().get_or_create(enterprise_id=scope.enterprise_id)
    for name in ("max_per_day", "max_per_week", "quiet_start_hour", "quiet_end_hour", "recent_purchase_days",
                 "wecom_monthly_limit"):
        if name in values:
            value = int(values[name])
            if not 0 <= value <= (23 if "hour" in name else 1000):
                raise ValidationFailed(_("out of range"), field=name, code="out_of_range")
            setattr(policy, name, value)
    if "suppress_open_after_sale" in values:
        policy.suppress_open_after_sale = bool(values["suppress_open_after_sale"])
    if "send_rates" in values:
        policy.send_rates = _clean_rates(values["send_rates"])
    if "channel_caps" in values:
        policy.channel_caps = {str(k): int(v) for k, v in dict(values["channel_caps"]).items()
                               if k in SendChannel.values}
    policy.save()
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.policy.update",
                 target_type="contact_policy", target_id=policy.pk,
                 summary=audit.text(N_("Contact budget changed")),
                 changes={k: values[k] for k in values if isinstance(values[k], int | bool | dict)})
    return policy


def _check_dnd(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ keeps the do-not-disturb list"), field="scope")


@transaction.atomic
def add_do_not_disturb(*, scope: Scope, customer_id: int, reason: str = "", actor: Actor = None) -> bool:
    """Put a visible customer on the enterprise's do-not-disturb list (HQ). Returns False when already there."""
    _check_dnd(scope)
    if not customer_queries.customers(scope).filter(pk=customer_id).exists():
        raise NotFound(_("customer not found"), field="customer_id")
    _row, created = DoNotDisturb.objects.get_or_create(enterprise_id=scope.enterprise_id, customer_id=customer_id,
                                                       defaults={"reason": reason[:200]})
    if created:
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.dnd.add",
                     target_type="customer", target_id=customer_id,
                     summary=audit.text(N_("Added to the do-not-disturb list")))
    return created


@transaction.atomic
def remove_do_not_disturb(*, scope: Scope, customer_id: int, actor: Actor = None) -> None:
    """Take a customer off the list (HQ); a customer not on it, or another enterprise's, is NotFound."""
    _check_dnd(scope)
    deleted, _rows = DoNotDisturb.objects.filter(enterprise_id=scope.enterprise_id, customer_id=customer_id).delete()
    if not deleted:
        raise NotFound(_("this customer is not on the do-not-disturb list"), field="customer_id")
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.dnd.remove",
                 target_type="customer", target_id=customer_id,
                 summary=audit.text(N_("Removed from the do-not-disturb list")))


# ---------------------------------------------------------------------------------------------------------------
# Create


@dataclass
class CampaignInput:
    name: str
    audience_kind: str
    channels: list[str]
    content: dict[str, str]
    segment_id: int | None = None
    tag_ids: list[int] = field(default_factory=list)
    tag_match: str = "any"
    customer_ids: list[int] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    holdout_pct: int = 0
    primary_metric: str = "conversion"
    attribution_days: int = 7
    cost_fen: int = 0
    baseline_bp: int = 500
    mde_bp: int = 100
    scheduled_at: datetime | None = None
    wecom_account_id: int | None = None
    oa_account_id: int | None = None
    oa_template_id: str = ""
    sms_sign: str = ""
    coupon_template_id: int | None = None
    points: int = 0
    best_hour: bool = False
    test_pct: int = 0
    evaluate_at: datetime | None = None


def _clean_channels(data: CampaignInput) -> list[str]:
    if not data.channels:
        raise ValidationFailed(_("pick at least one channel"), field="channels", code="required")
    for index, channel in enumerate(data.channels):
        if channel not in SendChannel.values:
            raise ValidationFailed(_("unknown channel"), field="channels", index=index, code="invalid_choice")
    if len(set(data.channels)) != len(data.channels):
        raise ValidationFailed(_("each channel once"), field="channels", code="duplicate")
    for channel in data.channels:
        text = (data.content.get(channel) or "").strip()
        if not text:
            raise ValidationFailed(_("write the text for each channel"), field=f"content.{channel}", code="required")
        if len(text) > MAX_TEXT:
            raise ValidationFailed(_("the text is at most 500 characters"), field=f"content.{channel}",
                                   code="too_long")
        links.check(text, field=f"content.{channel}")
    if SendChannel.WECOM in data.channels and not data.wecom_account_id:
        raise ValidationFailed(_("pick the WeCom account"), field="wecom_account_id", code="required")
    if SendChannel.OFFICIAL_ACCOUNT in data.channels and not (data.oa_account_id and data.oa_template_id):
        raise ValidationFailed(_("pick the Official Account and its template"), field="oa_template_id",
                               code="required")
    return list(data.channels)


def _clean_variants(data: CampaignInput) -> list[dict[str, Any]]:
    if len(data.variants) > MAX_VARIANTS:
        raise ValidationFailed(_("at most 5 variants"), field="variants", code="too_many")
    out, seen = [], set()
    for index, variant in enumerate(data.variants):
        name = str(variant.get("name", ""))
        if not VARIANT_NAME.fullmatch(name) or name in seen:
            raise ValidationFailed(_("variant names are 1-16 letters, digits, - or _, each once"),
                                   field="variants", index=index, code="invalid")
        seen.add(name)
        content = {str(k): str(v).strip()[:MAX_TEXT] for k, v in dict(variant.get("content") or {}).items()
                   if k in data.channels and str(v).strip()}
        for channel, text in content.items():
            links.check(text, field=f"variants.{index}.content.{channel}")
        out.append({"name": name, "content": content})
    return out


def _clean_numbers(data: CampaignInput) -> None:
    if not 0 <= data.holdout_pct <= 50:
        raise ValidationFailed(_("the holdout is 0 to 50 percent"), field="holdout_pct", code="out_of_range")
    if not 1 <= data.attribution_days <= 90:
        raise ValidationFailed(_("the attribution window is 1 to 90 days"), field="attribution_days",
                               code="out_of_range")
    if data.cost_fen < 0:
        raise ValidationFailed(_("the cost cannot be negative"), field="cost_fen", code="out_of_range")
    if data.primary_metric not in ("conversion", "revenue"):
        raise ValidationFailed(_("the primary metric is conversion or revenue"), field="primary_metric",
                               code="invalid_choice")
    if not 1 <= data.baseline_bp <= 9_998:
        raise ValidationFailed(_("the expected conversion is between 0.01 % and 99.98 %"), field="baseline_bp",
                               code="out_of_range")
    if not 1 <= data.mde_bp < 10_000 - data.baseline_bp:
        raise ValidationFailed(_("the lift to detect is at least 0.01 % and keeps the rate under 100 %"),
                               field="mde_bp", code="out_of_range")
    if data.scheduled_at is not None and data.scheduled_at.tzinfo is None:
        raise ValidationFailed(_("the time needs a timezone"), field="scheduled_at", code="invalid")


def _clean_audience(scope: Scope, data: CampaignInput) -> None:
    if data.audience_kind == AudienceKind.SEGMENT:
        if data.segment_id is None:
            raise ValidationFailed(_("pick a segment"), field="segment_id", code="required")
        audience_queries.get_segment(scope, data.segment_id)
    elif data.audience_kind == AudienceKind.TAGS:
        if not data.tag_ids or data.tag_match not in ("any", "all"):
            raise ValidationFailed(_("pick tags, matching any or all"), field="tag_ids", code="required")
        known = set(customer_queries.tags(scope).filter(id__in=data.tag_ids).values_list("id", flat=True))
        for index, tag_id in enumerate(data.tag_ids):
            if tag_id not in known:
                raise NotFound(_("unknown tag"), field="tag_ids", index=index)
    elif data.audience_kind == AudienceKind.LIST:
        if not data.customer_ids:
            raise ValidationFailed(_("the list is empty"), field="customer_ids", code="required")
        if len(data.customer_ids) > MAX_LIST:
            raise ValidationFailed(_("at most 100,000 customers in a list"), field="customer_ids", code="too_many")
    else:
        raise ValidationFailed(_("the audience is a segment, tags or a list"), field="audience_kind",
                               code="invalid_choice")


def _clean_rewards(scope: Scope, data: CampaignInput) -> None:
    """A coupon template of the enterprise; points only from HQ, with the points program active."""
    if data.coupon_template_id is not None:
        try:
            promotion_queries.get_coupon_template(scope, data.coupon_template_id)
        except NotFound:
            raise NotFound(_("coupon template not found"), field="coupon_template_id") from None
    if not 0 <= data.points <= MAX_POINTS:
        raise ValidationFailed(_("attach 0 to 100,000 points"), field="points", code="out_of_range")
    if data.points:
        if not scope.is_hq:
            raise PermissionDenied(_("only HQ attaches points"), field="points")
        if not loyalty_queries.program(scope).is_active:
            raise ValidationFailed(_("turn the points program on before attaching points"), field="points",
                                   code="no_points_program")


def _clean_test(data: CampaignInput) -> None:
    """A test fraction needs at least two variants to choose between."""
    if not 0 <= data.test_pct <= 90:
        raise ValidationFailed(_("the test share is 0 to 90 percent"), field="test_pct", code="out_of_range")
    if data.test_pct and len(data.variants) < 2:
        raise ValidationFailed(_("a test needs at least two variants"), field="test_pct", code="needs_variants")
    if data.evaluate_at is not None and (not data.test_pct or data.evaluate_at.tzinfo is None):
        raise ValidationFailed(_("an evaluation time needs a test share and a timezone"), field="evaluate_at",
                               code="invalid")


def create_campaign(*, scope: Scope, data: CampaignInput, actor: Actor = None) -> Campaign:
    check_can_market(scope)
    name = data.name.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("the name is 1 to 64 characters"), field="name", code="invalid")
    channels = _clean_channels(data)
    variants = _clean_variants(data)
    _clean_numbers(data)
    _clean_test(data)
    _clean_audience(scope, data)
    _clean_rewards(scope, data)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            enterprise_id=scope.enterprise_id, name=name, audience_kind=data.audience_kind,
            segment_id=data.segment_id, tag_ids=list(dict.fromkeys(data.tag_ids)), tag_match=data.tag_match,
            customer_ids=list(dict.fromkeys(data.customer_ids)), channels=channels,
            content={c: data.content[c].strip() for c in channels}, variants=variants,
            holdout_pct=data.holdout_pct, primary_metric=data.primary_metric, attribution_days=data.attribution_days,
            cost_fen=data.cost_fen, baseline_bp=data.baseline_bp, mde_bp=data.mde_bp,
            scheduled_at=data.scheduled_at, wecom_account_id=data.wecom_account_id,
            oa_account_id=data.oa_account_id, oa_template_id=data.oa_template_id[:64], sms_sign=data.sms_sign[:20],
            coupon_template_id=data.coupon_template_id, points=data.points, best_hour=data.best_hour,
            test_pct=data.test_pct, evaluate_at=data.evaluate_at,
            owner_store_id=None if scope.is_hq else min(scope.store_ids, default=None),
            owner_staff_id=None if scope.is_hq else scope.staff_id,
            created_by=audit.user_of(actor),
        )
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.campaign.create",
                     target_type="campaign", target_id=campaign.pk, summary=name)
    return campaign


# ---------------------------------------------------------------------------------------------------------------
# A journey's send step: a hidden campaign per (journey version, node), one keyed row per step


@dataclass(frozen=True)
class JourneySend:
    channels: list[str]
    content: dict[str, str]
    wecom_account_id: int | None = None
    oa_account_id: int | None = None
    oa_template_id: str = ""
    sms_sign: str = ""


def check_journey_send(enterprise_id: int, send: JourneySend, *, field_prefix: str) -> None:
    """The send step's channels and texts as a campaign's (and its accounts are the enterprise's own)."""
    from siyu.channels.models import ChannelAccount  # noqa: PLC0415 - read only

    data = CampaignInput(name="-", audience_kind=AudienceKind.LIST, channels=list(send.channels),
                         content=dict(send.content), wecom_account_id=send.wecom_account_id,
                         oa_account_id=send.oa_account_id, oa_template_id=send.oa_template_id)
    try:
        _clean_channels(data)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, field=f"{field_prefix}.{exc.field}", code=exc.code) from exc
    for name in ("wecom_account_id", "oa_account_id"):
        account_id = getattr(send, name)
        if account_id and not ChannelAccount.objects.filter(pk=account_id, enterprise_id=enterprise_id).exists():
            raise ValidationFailed(_("unknown account"), field=f"{field_prefix}.{name}", code="unknown_account")


def journey_campaign(*, enterprise_id: int, version_id: int, node: str, name: str, send: JourneySend) -> int:
    """The hidden campaign that carries a journey version's send step (made once; the version never changes)."""
    found = Campaign.objects.filter(enterprise_id=enterprise_id, journey_version_id=version_id,
                                    journey_node=node).values_list("pk", flat=True).first()
    if found is not None:
        return int(found)
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                enterprise_id=enterprise_id, name=name[:64], status=CampaignStatus.SENDING,
                audience_kind=AudienceKind.LIST, channels=list(send.channels),
                content={c: send.content[c].strip() for c in send.channels}, wecom_account_id=send.wecom_account_id,
                oa_account_id=send.oa_account_id, oa_template_id=send.oa_template_id[:64], sms_sign=send.sms_sign[:20],
                journey_version_id=version_id, journey_node=node)
    except IntegrityError:  # another worker made it a moment ago
        return int(Campaign.objects.get(enterprise_id=enterprise_id, journey_version_id=version_id,
                                        journey_node=node).pk)
    return int(campaign.pk)


@dataclass(frozen=True)
class Planned:
    status: str  # planned, or excluded with the reason
    reason: str
    channel: str
    due_at: datetime | None


def plan_journey_send(*, enterprise_id: int, campaign_id: int, customer_id: int, key: str,
                      now: datetime) -> Planned:
    """One customer's send step, planned as a campaign plans (the same SQL): the channel or why not (DND, caps,
    the WeCom monthly limit, consent, no channel), due after quiet hours. Runs inside the caller's transaction and
    locks the contact policy row, so two steps (or a step and a plan) never both spend the last of a budget. Keyed:
    a second call with the same key finds the first row and writes nothing."""
    existing = Delivery.objects.filter(enterprise_id=enterprise_id, key=key).values_list(
        "status", "reason", "channel", "due_at").first()
    if existing is None:
        ContactPolicy.objects.get_or_create(enterprise_id=enterprise_id)
        policy = ContactPolicy.objects.select_for_update().get(enterprise_id=enterprise_id)
        campaign = Campaign.objects.get(pk=campaign_id, enterprise_id=enterprise_id)
        from siyu.customers.models import Customer  # noqa: PLC0415 - one customer, unscoped by role: a journey's

        due = planning.due_time(now, policy)
        customers = Customer.objects.filter(pk=customer_id, enterprise_id=enterprise_id, erased_at__isnull=True)
        inner = planning.flags(customers, campaign, policy, planning.windows(due), narrow=True)
        sql, params = planning.insert_sql(campaign, policy, inner, now, key=key, due_at=due)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        existing = Delivery.objects.filter(enterprise_id=enterprise_id, key=key).values_list(
            "status", "reason", "channel", "due_at").first()
        if existing is None:
            return Planned(status=DeliveryStatus.EXCLUDED, reason="no_customer", channel="", due_at=None)
    status, reason, channel, due_at = existing
    return Planned(status=str(status), reason=str(reason), channel=str(channel), due_at=due_at)


def kick_sender() -> None:
    """Ask the worker to send what is due now (after the caller's transaction commits)."""
    transaction.on_commit(lambda: _kick(), robust=True)


# ---------------------------------------------------------------------------------------------------------------
# Plan, launch, cancel


def _locked(scope: Scope, campaign_id: int) -> Campaign:
    from siyu.messaging import queries  # noqa: PLC0415 - the scoped read; queries imports no services

    visible = queries.campaigns(scope).filter(pk=campaign_id).values_list("pk", flat=True)
    campaign = Campaign.objects.select_for_update().filter(pk__in=list(visible)).first()
    if campaign is None:
        raise NotFound(_("campaign not found"), field="id")
    return campaign


def _waterfall(campaign: Campaign) -> dict[str, Any]:
    from django.db.models import Count  # noqa: PLC0415

    rows = Delivery.objects.filter(campaign=campaign).values("status", "channel", "reason").annotate(n=Count("id"))
    plan: dict[str, Any] = {"audience": 0, "channels": {}, "excluded": {}, "holdout": 0}
    for row in rows:
        plan["audience"] += row["n"]
        if row["status"] == DeliveryStatus.EXCLUDED:
            plan["excluded"][row["reason"]] = plan["excluded"].get(row["reason"], 0) + row["n"]
        elif row["status"] == DeliveryStatus.HOLDOUT:
            plan["holdout"] += row["n"]
        else:
            plan["channels"][row["channel"]] = plan["channels"].get(row["channel"], 0) + row["n"]
    return plan


def plan_campaign(*, scope: Scope, campaign_id: int, actor: Actor = None) -> Campaign:
    """Write the campaign's Delivery rows (again, while it is a draft or planned): one INSERT ... SELECT.

    Plans of one enterprise run one at a time (the contact policy row is locked), so two overlapping campaigns
    planned together still see each other's contacts."""
    check_can_market(scope)
    moment = utcnow()
    planning.fresh_statistics()  # before the lock: PostgreSQL's plan for the grouped inputs needs table sizes
    with transaction.atomic():
        ContactPolicy.objects.get_or_create(enterprise_id=scope.enterprise_id)
        policy = ContactPolicy.objects.select_for_update().get(enterprise_id=scope.enterprise_id)
        campaign = _locked(scope, campaign_id)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PLANNED):
            raise Conflict(_("only a draft or planned campaign can be planned"), field="status",
                           code="not_plannable")
        Delivery.objects.filter(campaign=campaign).delete()
        segment_ids = (audience_queries.segment_member_ids(scope, campaign.segment_id)
                       if campaign.audience_kind == AudienceKind.SEGMENT and campaign.segment_id else None)
        customers = planning.audience(customer_queries.customers(scope), campaign, segment_ids)
        due = planning.campaign_due(campaign, moment, policy)
        inner = planning.flags(customers, campaign, policy, planning.windows(due))
        sql, params = planning.insert_sql(campaign, policy, inner, moment)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        if campaign.best_hour:
            best_hour.apply(campaign, policy, due)
        campaign.plan = {**_waterfall(campaign), "due_at": due.isoformat()}
        campaign.status, campaign.planned_at = CampaignStatus.PLANNED, moment
        campaign.save(update_fields=["plan", "status", "planned_at", "updated_at"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.campaign.plan",
                     target_type="campaign", target_id=campaign.pk, summary=campaign.name,
                     changes={"audience": campaign.plan["audience"]})
    return campaign


def launch_campaign(*, scope: Scope, campaign_id: int, actor: Actor = None) -> Campaign:
    check_can_market(scope)
    with transaction.atomic():
        campaign = _locked(scope, campaign_id)
        if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.DONE):
            return campaign  # a double submit
        if campaign.status != CampaignStatus.PLANNED:
            raise Conflict(_("plan the campaign before launching it"), field="status", code="not_planned")
        moment = utcnow()
        later = campaign.scheduled_at is not None and campaign.scheduled_at > moment
        campaign.status = CampaignStatus.SCHEDULED if later else CampaignStatus.SENDING
        campaign.launched_at = moment
        campaign.save(update_fields=["status", "launched_at", "updated_at"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.campaign.launch",
                     target_type="campaign", target_id=campaign.pk, summary=campaign.name)
        transaction.on_commit(lambda: _kick(), robust=True)
    return campaign


def _kick() -> None:
    from siyu.core import jobs  # noqa: PLC0415

    jobs.get("messaging.send_due").enqueue()


def cancel_campaign(*, scope: Scope, campaign_id: int, actor: Actor = None) -> Campaign:
    check_can_market(scope)
    with transaction.atomic():
        campaign = _locked(scope, campaign_id)
        if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
            return campaign
        campaign.status = CampaignStatus.CANCELLED
        campaign.finished_at = utcnow()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
        Delivery.objects.filter(campaign=campaign, status__in=[DeliveryStatus.PLANNED, DeliveryStatus.WAITING]).update(
            status=DeliveryStatus.CANCELLED)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.campaign.cancel",
                     target_type="campaign", target_id=campaign.pk, summary=campaign.name)
    return campaign


# ---------------------------------------------------------------------------------------------------------------
# A test's winner promoted to the rest of the audience


def _decision(scope: Scope, campaign: Campaign, chosen: str, force: bool) -> winner.Decision:
    from siyu.messaging import queries  # noqa: PLC0415 - the scoped read; queries imports no services

    if campaign.winner:
        raise Conflict(_("the winner was already promoted"), field="winner", code="already_promoted")
    if not campaign.test_pct or campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SCHEDULED):
        raise Conflict(_("only a launched campaign with a test share has a winner to promote"), field="status",
                       code="no_test")
    running = Delivery.objects.filter(campaign=campaign, status__in=[DeliveryStatus.PLANNED, DeliveryStatus.SENDING])
    if running.exists():
        raise Conflict(_("the test is still being sent: wait until it has gone out"), field="status",
                       code="test_running")
    decision = winner.decide(queries.variant_results(scope, campaign.pk), campaign.primary_metric, chosen=chosen)
    if decision is None:
        raise ValidationFailed(_("pick a variant that was sent"), field="variant", code="invalid_choice")
    if not decision.significant and not force:
        raise Conflict(_("%(winner)s is not significantly better than %(against)s (p = %(p).3f): wait for more "
                         "results, or force it") % {"winner": decision.winner, "against": decision.against,
                                                    "p": decision.p_value}, field="variant", code="not_significant")
    return decision


def promote_winner(*, scope: Scope, campaign_id: int, variant: str = "", force: bool = False,
                   actor: Actor = None) -> Campaign:
    """The rest of the audience (deliveries waiting for the winner) is planned with the winner's content, due now
    (after quiet hours). Refused while the test is being sent (`test_running`) and, unless forced, when the winner
    is not significantly better than the runner-up by the primary metric (`not_significant`). Audited."""
    check_can_market(scope)
    moment = utcnow()
    with transaction.atomic():
        campaign = _locked(scope, campaign_id)
        decision = _decision(scope, campaign, variant, force)
        due = planning.due_time(moment, policy_for(campaign.enterprise_id))
        moved = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.WAITING).update(
            status=DeliveryStatus.PLANNED, variant=decision.winner, due_at=due)
        if campaign.best_hour:
            best_hour.apply(campaign, policy_for(campaign.enterprise_id), moment)
        campaign.winner = decision.winner
        campaign.promotion = {"winner": decision.winner, "against": decision.against, "metric": decision.metric,
                              "p_value": decision.p_value, "significant": decision.significant,
                              "forced": bool(force and not decision.significant), "at": moment.isoformat(),
                              "promoted": moved, "by": "schedule" if actor is None else "operator"}
        campaign.status = CampaignStatus.SENDING
        campaign.save(update_fields=["winner", "promotion", "status", "updated_at"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="messaging.campaign.promote",
                     target_type="campaign", target_id=campaign.pk,
                     summary=audit.text(N_("Winner %(variant)s sent to the rest (%(n)s)"), variant=decision.winner,
                                        n=moved),
                     changes=campaign.promotion)
        transaction.on_commit(lambda: _kick(), robust=True)
    return campaign


def evaluate_due_tests(*, now: datetime | None = None) -> int:
    """The scheduled evaluation: each campaign whose `evaluate_at` has come promotes its winner when it is
    significant; when it is not, the outcome is recorded and the operator decides (a forced promotion). A test still
    being sent is looked at again on the next run. Returns how many were promoted."""
    moment = now or utcnow()
    promoted = 0
    due = Campaign.objects.filter(evaluate_at__lte=moment, test_pct__gt=0, winner="",
                                  status=CampaignStatus.SENDING).exclude(promotion__has_key="outcome")
    for campaign_id, enterprise_id in due.values_list("pk", "enterprise_id")[:100]:
        try:
            promote_winner(scope=Scope.hq(enterprise_id, label="schedule"), campaign_id=campaign_id)
            promoted += 1
        except Conflict as exc:
            if exc.code == "not_significant":
                Campaign.objects.filter(pk=campaign_id).update(promotion={
                    "outcome": "not_significant", "message": exc.message, "at": moment.isoformat()})
    return promoted


# ---------------------------------------------------------------------------------------------------------------
# Send


def _due_rows(moment: datetime) -> Q:
    due = (Q(status=DeliveryStatus.PLANNED, due_at__lte=moment,
             campaign__status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING])
           & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=moment)))
    lost = Q(status=DeliveryStatus.SENDING, lease_until__lt=moment)
    return due | lost


def _lease() -> timedelta:
    from django.conf import settings  # noqa: PLC0415

    return timedelta(seconds=int(getattr(settings, "SIYU_CAMPAIGN_LEASE_S", LEASE_S)))


def send_rate(policy: ContactPolicy, channel: str) -> int:
    return policy.send_rate(channel)


def _throttled_ids(moment: datetime, limit: int) -> list[int]:
    """Due rows, at most each enterprise's channel rate per minute window: what was claimed since the window
    began (claimed_at) counts, so two sender runs in one window share the allowance. The enterprise's policy row is
    locked while it is counted (claims of one enterprise are serial on PostgreSQL; SQLite serialises writers)."""
    window = moment.replace(second=0, microsecond=0)
    due = Delivery.objects.filter(_due_rows(moment))
    pairs = sorted(set(due.order_by().values_list("enterprise_id", "channel").distinct()))
    ids: list[int] = []
    for enterprise_id, channel in pairs:
        if len(ids) >= limit:
            break
        policy = (ContactPolicy.objects.select_for_update().filter(enterprise_id=enterprise_id).first()
                  or ContactPolicy(enterprise_id=enterprise_id))
        used = Delivery.objects.filter(enterprise_id=enterprise_id, channel=channel, claimed_at__gte=window,
                                       claimed_at__lte=moment).count()
        room = min(send_rate(policy, channel) - used, limit - len(ids))
        if room > 0:
            ids += list(due.filter(enterprise_id=enterprise_id, channel=channel).order_by("id")
                        .values_list("id", flat=True)[:room])
    return ids


def claim_batch(*, limit: int = BATCH, moment: datetime | None = None) -> str:
    """Claim up to `limit` due rows (and rows whose worker's lease ran out); returns the claim token. The UPDATE
    re-checks the rows' state, so two workers never both hold a row."""
    moment = moment or utcnow()
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = _throttled_ids(moment, limit)
        if ids:
            Delivery.objects.filter(Q(pk__in=ids) & _due_rows(moment)).update(
                status=DeliveryStatus.SENDING, claim=token, lease_until=moment + _lease(), attempts=F("attempts") + 1,
                claimed_at=moment)
            Campaign.objects.filter(status=CampaignStatus.SCHEDULED,
                                    pk__in=Delivery.objects.filter(claim=token).values("campaign_id")).update(
                status=CampaignStatus.SENDING)
    return token


def _recheck(token: str, moment: datetime) -> None:
    """At send time, set-based over the claim: a customer who went on the DND list or withdrew consent since the
    plan is excluded now, as is one who has had the day's contacts from elsewhere since."""
    rows = Delivery.objects.filter(claim=token, status=DeliveryStatus.SENDING)
    rows.filter(Exists(DoNotDisturb.objects.filter(enterprise_id=OuterRef("enterprise_id"),
                                                   customer_id=OuterRef("customer_id")))).update(
        status=DeliveryStatus.EXCLUDED, reason=ExclusionReason.DND)
    for channel, marketing in planning.CONSENT_CHANNEL.items():
        rows.filter(channel=channel).exclude(consent.allowed_filter(marketing)).update(
            status=DeliveryStatus.EXCLUDED, reason=ExclusionReason.OPTED_OUT)
    for enterprise_id in set(rows.values_list("enterprise_id", flat=True)):
        cap = policy_for(enterprise_id).max_per_day
        if not cap:
            continue
        start, end = planning.windows(moment).day
        sent_today = Delivery.objects.filter(customer_id=OuterRef("customer_id"), status__in=SENT_STATES,
                                             sent_at__gte=start, sent_at__lt=end).exclude(
            campaign_id=OuterRef("campaign_id"), campaign__journey_version_id__isnull=True)
        from django.db.models import Count, IntegerField, Subquery  # noqa: PLC0415
        from django.db.models.functions import Coalesce  # noqa: PLC0415

        counted = sent_today.order_by().values("customer_id").annotate(n=Count("id")).values("n")[:1]
        rows.filter(enterprise_id=enterprise_id).annotate(
            today=Coalesce(Subquery(counted), 0, output_field=IntegerField())).filter(today__gte=cap).update(
            status=DeliveryStatus.EXCLUDED, reason=ExclusionReason.DAILY_CAP)


def render(text: str, *, name: str, staff_name: str, store: str, coupon_code: str = "", points: str = "") -> str:
    return (text.replace("{name}", name).replace("{staff_name}", staff_name).replace("{store}", store)
            .replace("{coupon_code}", coupon_code).replace("{points}", points))


def _text(campaign: Campaign, delivery: Delivery) -> str:
    for variant in campaign.variants:
        if variant["name"] == delivery.variant and variant["content"].get(delivery.channel):
            return str(variant["content"][delivery.channel])
    return str(campaign.content.get(delivery.channel, ""))


def _personal(campaign: Campaign, delivery: Delivery, tokens: dict[int, str] | None = None) -> str:
    """The delivery's text: its links replaced by its own tracked links, then the variables filled in."""
    customer, staff = delivery.customer, delivery.staff
    store = customer.home_store.name if customer.home_store_id and customer.home_store else ""
    text = links.rewrite(_text(campaign, delivery), tokens or {})
    return render(text, name=customer.name, staff_name=staff.name if staff else "", store=store,
                  coupon_code=delivery.coupon_code, points=str(campaign.points or ""))


def _finish(delivery: Delivery, token: str, **values: Any) -> int:
    return Delivery.objects.filter(pk=delivery.pk, claim=token, status=DeliveryStatus.SENDING).update(
        lease_until=None, **values)


def backoff(attempt: int) -> timedelta:
    """30 s, 2 min, 8 min, 32 min: past a provider's hiccup or a rate-limit window."""
    return timedelta(seconds=30 * 4 ** max(0, attempt - 1))


def _failed(delivery: Delivery, token: str, error: str, *, retryable: bool) -> None:
    if retryable and delivery.attempts < MAX_ATTEMPTS:
        _finish(delivery, token, status=DeliveryStatus.PLANNED, error=error[:200],
                next_attempt_at=utcnow() + backoff(delivery.attempts))
    else:
        _finish(delivery, token, status=DeliveryStatus.FAILED, error=error[:200])


def _send_sms(campaign: Campaign, delivery: Delivery, token: str, tokens: dict[int, str] | None = None) -> None:
    try:
        receipt = senders.send_sms(enterprise_id=campaign.enterprise_id, customer_id=delivery.customer_id,
                                   phone=delivery.target, sign=campaign.sms_sign,
                                   text=_personal(campaign, delivery, tokens), key=delivery.key)
    except senders.SmsError as exc:
        _failed(delivery, token, str(exc), retryable=exc.retryable)
        return
    now = utcnow()
    if receipt.status == SmsStatus.DELIVERED:  # the provider's receipt came back before the send returned
        _finish(delivery, token, status=DeliveryStatus.DELIVERED, sent_at=now, delivered_at=now,
                provider_ref=receipt.message_id[:64])
        return
    _finish(delivery, token, status=DeliveryStatus.SENT, sent_at=now, provider_ref=receipt.message_id[:64])


def apply_sms_receipt(*, enterprise_id: int, key: str, status: str, reported_at: datetime, error: str = "") -> int:
    """The SMS provider's delivery receipt for a campaign's message (the SMS app's receipt hook): a sent delivery
    becomes delivered, or failed with the provider's error code. Keyed by the delivery's key; a delivery still being
    sent (the receipt raced the send's answer) or already settled is left alone. Returns the rows moved (0 or 1)."""
    if not key.startswith("campaign:"):
        return 0
    rows = Delivery.objects.filter(enterprise_id=enterprise_id, key=key, channel=SendChannel.SMS,
                                   status=DeliveryStatus.SENT)
    if status == SmsStatus.DELIVERED:
        return rows.update(status=DeliveryStatus.DELIVERED, delivered_at=reported_at)
    if status == SmsStatus.FAILED:
        return rows.update(status=DeliveryStatus.FAILED, error=(error or "undelivered")[:200])
    return 0


def _send_oa(campaign: Campaign, delivery: Delivery, token: str, tokens: dict[int, str] | None = None) -> None:
    """The Official Account's own keyed outbox row carries the send (and its retries and delivery report)."""
    request = oa_services.TemplateRequest(
        openid=delivery.target, template_id=campaign.oa_template_id, idempotency_key=delivery.key,
        data={"first": {"value": _personal(campaign, delivery, tokens)}}, customer_id=delivery.customer_id)
    try:
        row = oa_services.send_template_message(enterprise_id=campaign.enterprise_id,
                                                account_id=int(campaign.oa_account_id or 0), request=request)
    except DomainError as exc:
        _failed(delivery, token, exc.message, retryable=False)
        return
    _finish(delivery, token, status=DeliveryStatus.SENT, sent_at=utcnow(), provider_ref=f"oa:{row.pk}")


def _send_wecom(campaign: Campaign, staff_id: int, rows: Sequence[Delivery], token: str) -> None:
    """One mass send for a staff member's deliveries: the staff confirm it on their phone. The mass send is rows in
    our database (its own outbox calls WeCom), so it commits with our rows or not at all."""
    first = rows[0]
    staff_name = first.staff.name if first.staff else ""
    store = first.staff.store.name if first.staff and first.staff.store_id and first.staff.store else ""
    text = render(_text(campaign, first), name="", staff_name=staff_name, store=store,
                  points=str(campaign.points or ""))
    try:
        with transaction.atomic():
            mass_send = mass_sends.create_mass_send(
                scope=Scope.hq(campaign.enterprise_id), account_id=int(campaign.wecom_account_id or 0),
                kind="single", sender_ids=[staff_id], name=campaign.name[:64], text=text,
                customer_ids=[r.customer_id for r in rows], submit=True)
            Delivery.objects.filter(pk__in=[r.pk for r in rows], claim=token, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.SENT, sent_at=utcnow(), mass_send_id=mass_send.pk,
                provider_ref=f"mass_send:{mass_send.pk}", lease_until=None)
    except DomainError as exc:
        for row in rows:
            _failed(row, token, exc.message, retryable=False)


def send_batch(token: str) -> int:
    """Send what the claim holds (outside any transaction); returns how many rows it settled."""
    _recheck(token, utcnow())
    rows = list(Delivery.objects.filter(claim=token, status=DeliveryStatus.SENDING).select_related(
        "campaign", "customer", "customer__home_store", "staff", "staff__store").order_by("id"))
    # the attached coupon / points: issued once per delivery and recorded (committed) before any send
    unrewarded = rewards.issue(rows, token, utcnow())
    for row in rows:
        if row.pk in unrewarded:
            _finish(row, token, status=DeliveryStatus.FAILED, error=unrewarded[row.pk][:200])
    live = [r for r in rows if r.pk not in unrewarded]
    # WeCom's mass send is one text for all of a staff member's customers: its links stay as written
    tokens = links.prepare([(r, _text(r.campaign, r)) for r in live if r.channel != SendChannel.WECOM], now=utcnow())
    wecom: dict[tuple[int, int], list[Delivery]] = defaultdict(list)
    for row in live:
        if row.channel == SendChannel.SMS:
            _send_sms(row.campaign, row, token, tokens.get(row.pk))
        elif row.channel == SendChannel.OFFICIAL_ACCOUNT:
            _send_oa(row.campaign, row, token, tokens.get(row.pk))
        elif row.channel == SendChannel.WECOM and row.staff_id:
            wecom[(row.campaign_id, row.staff_id)].append(row)
        else:
            _failed(row, token, "no channel", retryable=False)
    for (_campaign_id, staff_id), group in wecom.items():
        _send_wecom(group[0].campaign, staff_id, group, token)
    return len(rows)


def _settle_campaigns() -> None:
    open_rows = Delivery.objects.filter(campaign_id=OuterRef("pk"), status__in=[
        DeliveryStatus.PLANNED, DeliveryStatus.SENDING, DeliveryStatus.WAITING])  # waiting: for the test's winner
    Campaign.objects.filter(status=CampaignStatus.SENDING, journey_version_id__isnull=True).exclude(
        Exists(open_rows)).update(
        status=CampaignStatus.DONE, finished_at=utcnow())


def sync_wecom_confirmations() -> int:
    """Sent WeCom deliveries whose staff confirmed (the mass send's recipient is sent): confirmed. One UPDATE."""
    confirmed = MassSendRecipient.objects.filter(mass_send_id=OuterRef("mass_send_id"),
                                                 customer_id=OuterRef("customer_id"), status=RecipientStatus.SENT)
    return Delivery.objects.filter(channel=SendChannel.WECOM, status=DeliveryStatus.SENT,
                                   mass_send_id__isnull=False).filter(Exists(confirmed)).update(
        status=DeliveryStatus.CONFIRMED, confirmed_at=utcnow())


def sync_channel_failures() -> int:
    """What the platforms refused after the hand-off, made visible on the deliveries (set-based, one UPDATE per
    channel). A WeCom delivery is handed to a mass send and an Official Account one to its keyed outbox row; either can
    still fail there: the template refused (48009 API not authorised, a retryable error past its last try), the
    customer no longer a friend or over WeCom's monthly limit, the follower gone (43004) or blocking the account (the
    platform's delivery report). Those deliveries become failed with the platform's reason, never stay "sent"."""
    failed_recipient = MassSendRecipient.objects.filter(
        mass_send_id=OuterRef("mass_send_id"), customer_id=OuterRef("customer_id"),
        status__in=[RecipientStatus.FAILED, RecipientStatus.OVER_LIMIT])
    moved = Delivery.objects.filter(channel=SendChannel.WECOM, status=DeliveryStatus.SENT,
                                    mass_send_id__isnull=False).filter(Exists(failed_recipient)).update(
        status=DeliveryStatus.FAILED, error=Subquery(failed_recipient.values("reason")[:1]))
    oa_rows = TemplateSend.objects.filter(idempotency_key=OuterRef("key"), account__enterprise_id=OuterRef(
        "enterprise_id"))
    oa_failed = oa_rows.filter(Q(status=OaSendStatus.FAILED) | Q(delivery__startswith="failed"))
    moved += Delivery.objects.filter(channel=SendChannel.OFFICIAL_ACCOUNT, status=DeliveryStatus.SENT).filter(
        Exists(oa_failed)).update(status=DeliveryStatus.FAILED, error=Subquery(oa_failed.annotate(
            reason=Left(Coalesce(NullIf("error", Value("")), "delivery"), 200)).values("reason")[:1]))
    moved += Delivery.objects.filter(channel=SendChannel.OFFICIAL_ACCOUNT, status=DeliveryStatus.SENT).filter(
        Exists(oa_rows.filter(delivery="success"))).update(status=DeliveryStatus.DELIVERED, delivered_at=utcnow())
    return moved


def send_due(*, max_batches: int = 50, batch: int = BATCH) -> int:
    """The worker's loop: claim, send, settle, until nothing is due (or `max_batches`)."""
    settled = 0
    for _batch in range(max_batches):
        token = claim_batch(limit=batch)
        done = send_batch(token)
        settled += done
        if done == 0:
            break
    sync_wecom_confirmations()
    sync_channel_failures()
    _settle_campaigns()
    return settled


# ---------------------------------------------------------------------------------------------------------------
# Conversions


def credit_conversions(enterprise_id: int, order_id: int, paid_at: datetime) -> int:
    """The orders' paid hook (inside the payment's transaction): credit the first and the last delivery sent to the
    buyer whose attribution window holds the payment. Keyed by (order, touch): safe to call twice."""
    from siyu.orders.models import Order  # noqa: PLC0415 - read only

    order = Order.objects.filter(pk=order_id, enterprise_id=enterprise_id)
    # One read whatever happens: the buyer's deliveries of the last 90 days, the order's amount beside each.
    touched = list(Delivery.objects.filter(
        enterprise_id=enterprise_id, customer_id=Subquery(order.values("customer_id")[:1]), status__in=SENT_STATES,
        sent_at__lte=paid_at, sent_at__gte=paid_at - timedelta(days=90)).annotate(
        amount_fen=Subquery(order.values("amount_fen")[:1])).values(
        "pk", "campaign_id", "sent_at", "campaign__attribution_days", "amount_fen").order_by("sent_at", "pk"))
    inside = [t for t in touched
              if t["sent_at"] is not None and t["sent_at"] >= paid_at - timedelta(days=t["campaign__attribution_days"])]
    if not inside:
        return 0
    rows = [Conversion(enterprise_id=enterprise_id, delivery_id=t["pk"], campaign_id=t["campaign_id"],
                       order_id=order_id, touch=touch, revenue_fen=int(t["amount_fen"] or 0), paid_at=paid_at)
            for touch, t in ((Touch.FIRST, inside[0]), (Touch.LAST, inside[-1]))]
    Conversion.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
