"""Referral writes: campaigns (HQ), joining one (a participant and their share token), the conversion scan over the
event log, settling invitations after their 24 hours, granting rewards and reversing them on a refund.

How an invitee is attributed: each participant's token is the `state` of their own contact way (a copy of the
campaign's channel code) and the path of their share link; the add-staff callback writes the state into the event
log (`wecom_contact_added`, `campaign` = state), so the scan joins new events to participants on it, set-based under
the enterprise's cursor lock (two workers take turns). For a first-order campaign the invitee opens the share link in
the mall (`claim`), and the scan counts their first `order_paid` after it.

Anti-abuse, decided in SQL when an invitation is written: an invitee who is the inviter (identity merge moves the
events of a second account to the survivor, so a merged second account is the inviter too) is `self_invite`; an
invitee known before the add (an earlier event, relationship, or the customer row older than the add) is
`invitee_not_new`. At settlement, 24 hours after the add, an invitee who deleted the staff meanwhile is
`deleted_within_24h`; the per-inviter cap is honoured when rewards are granted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from siyu.channels.sms import services as sms_services
from siyu.channels.sms.models import SmsPurpose, SmsStatus
from siyu.channels.wecom import channel_codes, group_codes
from siyu.channels.wecom import queries as wecom_queries
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.customers.consent import allowed_filter
from siyu.customers.models import Customer, Event, Relationship
from siyu.loyalty import services as loyalty_services
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services
from siyu.referrals.models import (
    Campaign,
    CampaignKind,
    Conversion,
    Help,
    Invitation,
    InvitationStatus,
    NoticeStatus,
    Participant,
    ProgressNotice,
    Reward,
    RewardKind,
    RewardStatus,
    ScanCursor,
)

MAX_REWARD_POINTS = 1_000_000
MAX_CAP = 10_000
MAX_TARGET = 100
MAX_WINDOW_DAYS = 90
MAX_WINDOW_HOURS = 720
COUNT_AFTER = timedelta(hours=24)
NEW_CUSTOMER_SLACK = timedelta(days=1)
SETTLE_BATCH = 500
NOTICE_BATCH = 1000


CAMPAIGN_FIELDS = ("kind", "name", "starts_at", "ends_at", "conversion", "reward_kind", "reward_points",
                   "coupon_template_id", "per_inviter_cap", "target_count", "window_days", "channel_code_id",
                   "group_code_id", "window_hours", "helpers_must_be_new", "is_active")


@dataclass(frozen=True)
class CampaignInput:
    kind: str
    name: str
    starts_at: datetime
    ends_at: datetime
    conversion: str = Conversion.ADD_STAFF
    reward_kind: str = RewardKind.POINTS
    reward_points: int = 0
    coupon_template_id: int | None = None
    per_inviter_cap: int = 0
    target_count: int = 0
    window_days: int = 0
    channel_code_id: int | None = None
    group_code_id: int | None = None
    window_hours: int = 0
    helpers_must_be_new: bool = True
    is_active: bool = True


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage referral campaigns"))


def _check_range(value: int, field: str, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationFailed(_("%(field)s is %(low)s-%(high)s") % {"field": field, "low": low, "high": high},
                               field=field, code="out_of_range")


def _check_window(data: CampaignInput) -> None:
    if timezone.is_naive(data.starts_at) or timezone.is_naive(data.ends_at):
        raise ValidationFailed(_("give times with their time zone"), field="starts_at", code="naive_time")
    if data.ends_at <= data.starts_at:
        raise ValidationFailed(_("the campaign ends after it starts"), field="ends_at", code="ends_before_start")


def _check_reward(scope: Scope, data: CampaignInput) -> None:
    if data.reward_kind not in RewardKind.values:
        raise ValidationFailed(_("unknown reward kind"), field="reward_kind", code="unknown_reward_kind")
    if data.reward_kind == RewardKind.POINTS:
        _check_range(data.reward_points, "reward_points", 1, MAX_REWARD_POINTS)
    elif data.coupon_template_id is None:
        raise ValidationFailed(_("pick the coupon to give"), field="coupon_template_id", code="coupon_required")
    else:
        promotion_queries.get_coupon_template(scope, data.coupon_template_id)


def _check_kind(data: CampaignInput) -> None:
    if data.kind not in CampaignKind.values:
        raise ValidationFailed(_("unknown campaign kind"), field="kind", code="unknown_campaign_kind")
    if data.conversion not in Conversion.values:
        raise ValidationFailed(_("unknown conversion"), field="conversion", code="unknown_conversion")
    if data.conversion != KIND_CONVERSION.get(data.kind, data.conversion) or (
            data.kind == CampaignKind.INVITE and data.conversion not in INVITE_CONVERSIONS):
        raise ValidationFailed(_("this kind of campaign counts something else"), field="conversion",
                               code=f"{data.kind}_needs_{KIND_CONVERSION.get(data.kind, 'add_staff')}")
    if data.kind in (CampaignKind.TASK, CampaignKind.GROUP):
        _check_range(data.target_count, "target_count", 1, MAX_TARGET)
        _check_range(data.window_days, "window_days", 1, MAX_WINDOW_DAYS)
    if data.kind == CampaignKind.ASSIST:
        _check_range(data.target_count, "target_count", 1, MAX_TARGET)
        _check_range(data.window_hours, "window_hours", 1, MAX_WINDOW_HOURS)


# What each kind counts: a task fission people who add staff, a group fission people who join a group through
# the participant's join way, an assistance friends who tap help; an invite campaign an add or a first order.
KIND_CONVERSION = {CampaignKind.TASK.value: Conversion.ADD_STAFF.value,
                   CampaignKind.GROUP.value: Conversion.JOIN_GROUP.value,
                   CampaignKind.ASSIST.value: Conversion.HELP.value}
INVITE_CONVERSIONS = (Conversion.ADD_STAFF.value, Conversion.FIRST_ORDER.value)
FISSION_KINDS = (CampaignKind.TASK.value, CampaignKind.GROUP.value)


def _check_codes(scope: Scope, data: CampaignInput) -> None:
    if data.channel_code_id is not None:
        wecom_queries.get_code(scope, data.channel_code_id)
    if data.kind == CampaignKind.GROUP:
        if data.group_code_id is None:
            raise ValidationFailed(_("pick the group code whose groups people join"), field="group_code_id",
                                   code="group_code_required")
        try:
            wecom_queries.get_group_code(scope, data.group_code_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="group_code_id") from exc


def _check_campaign(scope: Scope, data: CampaignInput) -> str:
    name = data.name.strip()
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    _check_kind(data)
    _check_window(data)
    _check_reward(scope, data)
    _check_range(data.per_inviter_cap, "per_inviter_cap", 0, MAX_CAP)
    _check_codes(scope, data)
    return name


def save_campaign(*, scope: Scope, data: CampaignInput, campaign_id: int | None = None,
                  actor: Actor = None) -> Campaign:
    """Create or change a campaign (HQ; audited `referrals.campaign`). Its kind and conversion are fixed once anyone
    has joined (the invitations already counted were counted under them)."""
    _require_hq(scope)
    name = _check_campaign(scope, data)
    fields = {
        "kind": data.kind, "name": name, "starts_at": data.starts_at, "ends_at": data.ends_at,
        "conversion": data.conversion, "reward_kind": data.reward_kind,
        "reward_points": data.reward_points if data.reward_kind == RewardKind.POINTS else 0,
        "coupon_template_id": data.coupon_template_id if data.reward_kind == RewardKind.COUPON else None,
        "per_inviter_cap": data.per_inviter_cap,
        "target_count": data.target_count if data.kind != CampaignKind.INVITE else 0,
        "window_days": data.window_days if data.kind in FISSION_KINDS else 0,
        "window_hours": data.window_hours if data.kind == CampaignKind.ASSIST else 0,
        "helpers_must_be_new": data.helpers_must_be_new,
        "group_code_id": data.group_code_id if data.kind == CampaignKind.GROUP else None,
        "channel_code_id": data.channel_code_id if data.kind in (CampaignKind.INVITE, CampaignKind.TASK) else None,
        "is_active": data.is_active,
    }
    with transaction.atomic():
        if campaign_id is None:
            campaign = Campaign.objects.create(enterprise_id=scope.enterprise_id, created_by=audit.user_of(actor),
                                               **fields)
        else:
            found = Campaign.objects.select_for_update().filter(pk=campaign_id,
                                                                enterprise_id=scope.enterprise_id).first()
            if found is None:
                raise NotFound(_("campaign %(id)s not found") % {"id": campaign_id}, field="campaign_id")
            started = found.participants.exists()
            if started and (found.kind != data.kind or found.conversion != data.conversion):
                raise Conflict(_("people have joined: the kind and what counts stay as they are"), field="kind",
                               code="campaign_started")
            for name_, value in fields.items():
                setattr(found, name_, value)
            found.save()
            campaign = found
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="referrals.campaign",
                     target_type="referral_campaign", target_id=campaign.pk, summary=campaign.name,
                     changes={k: str(v) for k, v in fields.items()})
    return campaign


# ---------------------------------------------------------------------------------------------------------------
# Joining: a participant, their token and their contact way


def _new_token() -> str:
    return "rf" + secrets.token_hex(8)


def _live_campaign(enterprise_id: int, campaign_id: int, at: datetime) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id, enterprise_id=enterprise_id).first()
    if campaign is None:
        raise NotFound(_("campaign %(id)s not found") % {"id": campaign_id}, field="campaign_id")
    if not campaign.is_active or not campaign.starts_at <= at < campaign.ends_at:
        raise Conflict(_("this campaign is not running"), field="campaign_id", code="campaign_not_running")
    return campaign


def _open_contact_way(campaign: Campaign, participant: Participant) -> int | None:
    """A group fission's participant gets their own join way over the campaign's group code instead (its state is
    the token: group_codes.open_share_way; `share_way_seen` keeps its config id and QR when WeCom answers).

    Otherwise the participant's own contact way: the campaign's code copied (its staff, tags and welcome) with the
    token as its `state`. Written through the channel's outbox (a row now, the WeCom call after commit)."""
    if campaign.kind == CampaignKind.GROUP and campaign.group_code_id is not None:
        group_codes.open_share_way(scope=Scope.hq(campaign.enterprise_id), group_code_id=campaign.group_code_id,
                                   state=participant.token)
        return None
    if campaign.channel_code_id is None:
        return None
    scope = Scope.hq(campaign.enterprise_id)
    base = wecom_queries.get_code(scope, campaign.channel_code_id)
    code = channel_codes.create_channel_code(
        scope=scope, account_id=base.account_id, name=f"{campaign.name[:40]} #{participant.pk}",
        staff_ids=[m.staff_id for m in base.members.all()], tag_ids=[t.pk for t in base.tags.all()],
        welcome_text=base.welcome_text, welcome_attachments=base.welcome_attachments, state=participant.token,
        skip_verify=base.skip_verify)
    return code.pk


def _deadline(campaign: Campaign, joined: datetime) -> datetime | None:
    if campaign.kind in FISSION_KINDS:
        return joined + timedelta(days=campaign.window_days)
    if campaign.kind == CampaignKind.ASSIST:
        return joined + timedelta(hours=campaign.window_hours)
    return None


def share_way_seen(state: str, config_id: str, qr_code: str) -> None:
    """group_codes' listener: WeCom made (or described) a participant's join way; keep its config id and QR."""
    fields = {"join_config_id": config_id[:64]} if config_id else {}
    if qr_code:
        fields["join_qr"] = qr_code[:500]
    if fields:
        Participant.objects.filter(token=state).update(**fields)


def join_campaign(*, enterprise_id: int, campaign_id: int, customer_id: int, now: datetime | None = None
                  ) -> Participant:
    """A customer takes part (the storefront's join): their participant row, once per campaign (a second call
    answers the first). Someone brought by another participant's token joins one generation below them."""
    moment = now or timezone.now()
    campaign = _live_campaign(enterprise_id, campaign_id, moment)
    existing = Participant.objects.filter(campaign=campaign, customer_id=customer_id).first()
    if existing is not None:
        return existing
    brought = (Invitation.objects.filter(campaign=campaign, invitee_id=customer_id, status=InvitationStatus.COUNTED)
               .select_related("inviter").first())
    parent = brought.inviter if brought is not None else None
    try:
        with transaction.atomic():
            participant = Participant.objects.create(
                campaign=campaign, customer_id=customer_id, token=_new_token(), invited_by=parent,
                generation=parent.generation + 1 if parent is not None else 0, joined_at=moment,
                deadline_at=_deadline(campaign, moment))
            code_id = _open_contact_way(campaign, participant)
            if code_id is not None:
                Participant.objects.filter(pk=participant.pk).update(channel_code_id=code_id)
                participant.channel_code_id = code_id
    except IntegrityError:  # joined meanwhile (a double tap): the first row stands
        return Participant.objects.get(campaign=campaign, customer_id=customer_id)
    return participant


def _root(customer_id: int) -> int:
    """The customer a merged customer now is (merges chain survivor to survivor)."""
    seen = 0
    while seen < 20:
        into = Customer.objects.filter(pk=customer_id).values_list("merged_into_id", flat=True).first()
        if into is None:
            return customer_id
        customer_id, seen = into, seen + 1
    return customer_id


def _is_known_before(customer_id: int, at: datetime) -> bool:
    customer = Customer.objects.filter(pk=customer_id).values_list("created_at", flat=True).first()
    if customer is not None and customer < at - NEW_CUSTOMER_SLACK:
        return True
    if Relationship.objects.filter(customer_id=customer_id, added_at__lt=at).exists():
        return True
    return Event.objects.filter(customer_id=customer_id, name="order_created", occurred_at__lt=at).exists()


def claim(*, enterprise_id: int, customer_id: int, token: str, now: datetime | None = None) -> Invitation:
    """A shopper opened a first-order campaign's share link in the mall: the invitation waits for their first paid
    order. Refused: their own link (`self_invite`), a customer the brand knew before (`invitee_not_new`: an order or
    a staff relationship before, or signed up more than a day before the link), a second inviter (the first
    stands: `already_invited`)."""
    moment = now or timezone.now()
    participant = Participant.objects.select_related("campaign").filter(
        token=token, campaign__enterprise_id=enterprise_id).first()
    if participant is None:
        raise NotFound(_("this invitation link is not known"), field="token")
    campaign = _live_campaign(enterprise_id, participant.campaign_id, moment)
    if campaign.conversion != Conversion.FIRST_ORDER:
        raise Conflict(_("this campaign counts people who add staff: scan the poster's code"), field="token",
                       code="claim_not_needed")
    invitee = _root(customer_id)
    if invitee == _root(participant.customer_id):
        raise Conflict(_("you cannot invite yourself"), field="token", code="self_invite")
    if _is_known_before(invitee, moment):
        raise Conflict(_("only customers new to the brand can be invited"), field="token", code="invitee_not_new")
    existing = Invitation.objects.filter(campaign=campaign, invitee_id=invitee).first()
    if existing is not None:
        if existing.inviter_id != participant.pk:
            raise Conflict(_("someone else invited you first"), field="token", code="already_invited")
        return existing
    try:
        with transaction.atomic():
            return Invitation.objects.create(campaign=campaign, inviter=participant, invitee_id=invitee,
                                             status=InvitationStatus.CLAIMED, occurred_at=moment)
    except IntegrityError:
        return Invitation.objects.get(campaign=campaign, invitee_id=invitee)


# ---------------------------------------------------------------------------------------------------------------
# The conversion scan (set-based over the new events) and the settlement


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _sql(statement: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return max(cursor.rowcount, 0)


def _json_int(column: str, key: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST({column} ->> '{key}' AS BIGINT)"
    return f"CAST(json_extract({column}, '$.{key}') AS INTEGER)"


def _added_sql(event_name: str) -> str:
    """INSERT the invitations new add-staff (or group join) events bring (the first per campaign and invitee), each
    decided at once: rejected as a self-invite or an invitee known before, else pending for 24 hours. The event's
    `campaign` column holds the state of the contact way (or join way) it came through: a participant's token."""
    inv, ev, par, cam = _table(Invitation), _table(Event), _table(Participant), _table(Campaign)
    rel, cus = _table(Relationship), _table(Customer)
    self_invite = "e.customer_id = p.customer_id"
    known = (f"(cu.created_at < e.occurred_at OR EXISTS (SELECT 1 FROM {ev} x "  # noqa: S608 - names from models
             f"WHERE x.customer_id = e.customer_id "
             f"AND x.occurred_at < e.occurred_at) OR EXISTS (SELECT 1 FROM {rel} r WHERE r.customer_id = "
             f"e.customer_id AND r.added_at < e.occurred_at))")
    first = (f"SELECT MIN(e2.id) FROM {ev} e2 JOIN {par} p2 ON p2.token = e2.campaign "  # noqa: S608 - names from models
             f"WHERE e2.enterprise_id = %s AND e2.name = '{event_name}' AND e2.id > %s AND e2.id <= %s "
             f"GROUP BY p2.campaign_id, e2.customer_id")
    return (f"INSERT INTO {inv} (campaign_id, inviter_id, invitee_id, status, reason, staff_id, occurred_at, "  # noqa: S608
            f"converted_at, order_id, counted_at, rewarded) "
            f"SELECT p.campaign_id, p.id, e.customer_id, "
            f"CASE WHEN {self_invite} OR {known} THEN %s ELSE %s END, "
            f"CASE WHEN {self_invite} THEN 'self_invite' WHEN {known} THEN 'invitee_not_new' ELSE '' END, "
            f"e.staff_id, e.occurred_at, e.occurred_at, NULL, NULL, %s "
            f"FROM {ev} e JOIN {par} p ON p.token = e.campaign JOIN {cam} c ON c.id = p.campaign_id "
            f"JOIN {cus} cu ON cu.id = e.customer_id "
            f"WHERE e.id IN ({first}) AND c.enterprise_id = %s AND c.conversion = %s AND c.is_active = %s "
            f"AND e.occurred_at >= c.starts_at AND e.occurred_at < c.ends_at "
            f"AND NOT EXISTS (SELECT 1 FROM {inv} i WHERE i.campaign_id = p.campaign_id "
            f"AND i.invitee_id = e.customer_id) ON CONFLICT DO NOTHING")


def _paid_sql() -> str:
    """Claimed first-order invitations whose invitee paid an order after the claim: pending, with that order."""
    inv, ev, cam = _table(Invitation), _table(Event), _table(Campaign)
    paid = (f"FROM {ev} e WHERE e.customer_id = {inv}.invitee_id AND e.enterprise_id = %s "  # noqa: S608
            f"AND e.name = 'order_paid' AND e.id > %s AND e.id <= %s AND e.occurred_at >= {inv}.occurred_at")
    return (f"UPDATE {inv} SET status = %s, "  # noqa: S608 - names from models, values are placeholders
            f"converted_at = (SELECT MIN(e.occurred_at) {paid}), "
            f"order_id = (SELECT {_json_int('e.properties', 'order_id')} {paid} ORDER BY e.id LIMIT 1) "
            f"WHERE status = %s AND EXISTS (SELECT 1 {paid}) AND campaign_id IN "
            f"(SELECT id FROM {cam} WHERE enterprise_id = %s)")


# What undoes each conversion within its first 24 hours: (the conversion, the event, the reason recorded).
UNDONE_WITHIN_24H = (("add_staff", "wecom_contact_deleted", "deleted_within_24h"),
                     ("join_group", "group_left", "left_group_within_24h"))
ADDED_EVENTS = (("wecom_contact_added", "add_staff"), ("group_joined", "join_group"))


def _settle_sql(event_name: str, reason: str) -> tuple[str, str]:
    """Pending invitations due (24 hours after the add or join; a paid first order at once): rejected when the
    invitee deleted the staff (left the group) within those 24 hours, counted otherwise."""
    inv, ev, cam = _table(Invitation), _table(Event), _table(Campaign)
    due = (f"status = %s AND campaign_id IN (SELECT id FROM {cam} WHERE enterprise_id = %s) "  # noqa: S608
           f"AND (occurred_at <= %s OR order_id IS NOT NULL)")
    deleted = (f"EXISTS (SELECT 1 FROM {ev} d WHERE d.customer_id = {inv}.invitee_id "  # noqa: S608
               f"AND d.name = '{event_name}' AND d.occurred_at >= {inv}.occurred_at "
               f"AND d.occurred_at <= %s AND {inv}.order_id IS NULL)")
    reject = (f"UPDATE {inv} SET status = %s, reason = '{reason}' WHERE {due} AND {deleted} "  # noqa: S608
              f"AND campaign_id IN (SELECT id FROM {cam} WHERE conversion = %s)")
    count = f"UPDATE {inv} SET status = %s, counted_at = %s WHERE {due}"  # noqa: S608
    return reject, count


def scan(*, enterprise_id: int, now: datetime | None = None) -> int:
    """Read what is new in the event log (adds by a participant's state, paid orders of claimed invitees), then
    settle what is due and grant the rewards it earns. Under the cursor's row lock; safe to run twice."""
    moment = now or timezone.now()
    with transaction.atomic():
        ScanCursor.objects.get_or_create(enterprise_id=enterprise_id)
        cursor = ScanCursor.objects.select_for_update().get(enterprise_id=enterprise_id)
        top = Event.objects.filter(enterprise_id=enterprise_id).order_by("-id").values_list("id", flat=True).first()
        found = 0
        if top is not None and top > cursor.last_event_id:
            after = cursor.last_event_id
            for event_name, conversion in ADDED_EVENTS:
                found += _sql(_added_sql(event_name), [
                    InvitationStatus.REJECTED.value, InvitationStatus.PENDING.value,
                    False, enterprise_id, after, top, enterprise_id, conversion, True])
            paid = [enterprise_id, after, top]
            found += _sql(_paid_sql(), [InvitationStatus.PENDING.value, *paid, *paid,
                                        InvitationStatus.CLAIMED.value, *paid, enterprise_id])
            ScanCursor.objects.filter(pk=cursor.pk).update(last_event_id=top)
        settle(enterprise_id=enterprise_id, now=moment)
    return found


def settle(*, enterprise_id: int, now: datetime) -> int:
    """Count or reject the invitations due, then grant what they earn (invite rewards within each inviter's cap; a
    task's reward to each participant who reached the target within the window)."""
    at = connection.ops.adapt_datetimefield_value
    cutoff = at(now - COUNT_AFTER)
    due = [InvitationStatus.PENDING.value, enterprise_id, cutoff]
    count = ""
    for conversion, event_name, reason in UNDONE_WITHIN_24H:
        reject, count = _settle_sql(event_name, reason)
        _sql(reject, [InvitationStatus.REJECTED.value, *due, cutoff, conversion])
    counted = _sql(count, [InvitationStatus.COUNTED.value, at(now), *due])
    granted = _grant_invite_rewards(enterprise_id, now)
    granted += _grant_task_rewards(enterprise_id, now)
    record_progress_notices(enterprise_id=enterprise_id, now=now)
    return counted + granted


def _rewarded_count(participant_id: int) -> int:
    return Invitation.objects.filter(inviter_id=participant_id, rewarded=True).count()


def _grant_invite_rewards(enterprise_id: int, now: datetime) -> int:
    """Each counted, unrewarded invitation of an invite campaign: the inviter's reward, keyed by (campaign,
    invitee), unless the inviter has had the campaign's cap (then it stays counted, unrewarded)."""
    due = list(Invitation.objects.filter(
        campaign__enterprise_id=enterprise_id, campaign__kind=CampaignKind.INVITE, status=InvitationStatus.COUNTED,
        rewarded=False, reward__isnull=True).select_related("campaign", "inviter").order_by("id")[:SETTLE_BATCH])
    granted = 0
    for invitation in due:
        campaign = invitation.campaign
        if campaign.per_inviter_cap and _rewarded_count(invitation.inviter_id) >= campaign.per_inviter_cap:
            continue
        reward = _grant(campaign, invitation.inviter, key=f"referral:{campaign.pk}:{invitation.invitee_id}",
                        invitation=invitation, now=now)
        if reward is not None and reward.status == RewardStatus.GRANTED:
            Invitation.objects.filter(pk=invitation.pk).update(rewarded=True)
            granted += 1
    return granted


def _grant_task_rewards(enterprise_id: int, now: datetime) -> int:
    """Participants of a task fission who brought the target within their window and have no reward yet."""
    inside = Q(invitations__status=InvitationStatus.COUNTED, invitations__occurred_at__lte=F("deadline_at"))
    done = list(Participant.objects.filter(
        campaign__enterprise_id=enterprise_id, campaign__kind__in=FISSION_KINDS, completed_at__isnull=True)
        .annotate(brought=Count("invitations", filter=inside)).filter(brought__gte=F("campaign__target_count"))
        .select_related("campaign").order_by("id")[:SETTLE_BATCH])
    for participant in done:
        Participant.objects.filter(pk=participant.pk).update(completed_at=now)
        _grant(participant.campaign, participant, key=f"fission:{participant.campaign_id}:{participant.pk}",
               invitation=None, now=now)
    return len(done)


def _grant(campaign: Campaign, participant: Participant, *, key: str, invitation: Invitation | None,
           now: datetime) -> Reward | None:
    """Record the reward (its key) and grant it with that key, in one savepoint: a grant refused (a coupon sold
    out, no points program) leaves the reward `failed` with the refusal's code, for the results page."""
    try:
        with transaction.atomic():
            reward = Reward.objects.create(
                enterprise_id=campaign.enterprise_id, campaign=campaign, participant=participant,
                invitation=invitation, key=key, kind=campaign.reward_kind, granted_at=now)
    except IntegrityError:
        return Reward.objects.filter(enterprise_id=campaign.enterprise_id, key=key).first()
    customer_id = _root(participant.customer_id)
    try:
        with transaction.atomic():
            if campaign.reward_kind == RewardKind.POINTS:
                lot = loyalty_services.grant_referral_points(
                    enterprise_id=campaign.enterprise_id, customer_id=customer_id, points=campaign.reward_points,
                    key=key, reason=campaign.name, at=now)
                if lot is None:
                    raise Conflict(_("points are switched off"), code="no_points_program")
                fields: dict[str, Any] = {"points": lot.points, "cost_fen": lot.points * lot.fen_per_point}
            else:
                template_id = int(campaign.coupon_template_id or 0)
                coupon = promotion_services.issue_coupon(
                    enterprise_id=campaign.enterprise_id, template_id=template_id, customer_id=customer_id,
                    idempotency_key=key, now=now)
                template = promotion_queries.get_coupon_template(Scope.hq(campaign.enterprise_id), template_id)
                fields = {"coupon_id": coupon.pk, "cost_fen": template.amount_off_fen}
            Reward.objects.filter(pk=reward.pk).update(**fields)
    except (Conflict, ValidationFailed, NotFound) as refused:
        Reward.objects.filter(pk=reward.pk).update(status=RewardStatus.FAILED, error=refused.code[:64])
        reward.status = RewardStatus.FAILED
    return reward


def scan_all(*, now: datetime | None = None) -> int:
    moment = now or timezone.now()
    enterprises = (Campaign.objects.filter(ends_at__gt=moment - COUNT_AFTER - timedelta(days=MAX_WINDOW_DAYS))
                   .order_by("enterprise_id").values_list("enterprise_id", flat=True).distinct())
    return sum(scan(enterprise_id=e, now=moment) for e in list(enterprises))


# ---------------------------------------------------------------------------------------------------------------
# Refunds and merges


def reverse_for_refund(enterprise_id: int, order_id: int, after_sale_id: int, at: datetime) -> int:
    """A refund of an invitation's qualifying order completed (orders' refund hook, inside its transaction): the
    invitation is reversed (not yet counted: rejected) and its points reward taken back once; a coupon reward is
    voided while unused, else the reward is recorded `unrecoverable` (docs/referrals.md)."""
    found = list(Invitation.objects.filter(order_id=order_id, campaign__enterprise_id=enterprise_id,
                                           status__in=[InvitationStatus.PENDING, InvitationStatus.COUNTED]))
    for invitation in found:
        reversed_status = (InvitationStatus.REVERSED if invitation.status == InvitationStatus.COUNTED
                           else InvitationStatus.REJECTED)
        Invitation.objects.filter(pk=invitation.pk).update(status=reversed_status, reason="refunded")
        reward = Reward.objects.filter(invitation=invitation, status=RewardStatus.GRANTED).first()
        if reward is None:
            continue
        status = RewardStatus.REVERSED
        if reward.kind == RewardKind.POINTS:
            loyalty_services.take_back_referral_points(enterprise_id=enterprise_id, key=reward.key,
                                                       reason=f"refund {after_sale_id}", at=at)
        elif reward.coupon_id is not None and not promotion_services.void_coupon(
                enterprise_id=enterprise_id, coupon_id=reward.coupon_id, reason=f"refund {after_sale_id}", at=at):
            status = RewardStatus.UNRECOVERABLE  # used already: recorded, not taken back
        Reward.objects.filter(pk=reward.pk).update(status=status, reversed_at=at)
    return len(found)


def merge_customer_referrals(absorbed_id: int, survivor_id: int) -> int:
    """A customers merge step: an invitee merged into another customer was known under that other identity, so
    its invitations not yet counted are rejected (`invitee_not_new`, or `self_invite` when the survivor is the
    inviter); participants follow the survivor where it has none in that campaign."""
    waiting = Invitation.objects.filter(invitee_id=absorbed_id,
                                        status__in=[InvitationStatus.CLAIMED, InvitationStatus.PENDING])
    waiting.filter(inviter__customer_id=survivor_id).update(status=InvitationStatus.REJECTED, reason="self_invite")
    waiting.update(status=InvitationStatus.REJECTED, reason="invitee_not_new")
    taken = Participant.objects.filter(customer_id=survivor_id).values_list("campaign_id", flat=True)
    moved = Participant.objects.filter(customer_id=absorbed_id).exclude(campaign_id__in=list(taken)).update(
        customer_id=survivor_id)
    return int(moved)



# ---------------------------------------------------------------------------------------------------------------
# Assistance (助力): N friends help within T hours


@dataclass(frozen=True)
class HelpResult:
    help: Help
    helped: int
    target: int
    completed: bool


def _check_helper(campaign: Campaign, participant: Participant, helper: int, moment: datetime) -> None:
    if not campaign.is_active or not campaign.starts_at <= moment < campaign.ends_at:
        raise Conflict(_("this campaign is not running"), field="token", code="campaign_not_running")
    if participant.deadline_at is not None and moment >= participant.deadline_at:
        raise Conflict(_("this assistance has expired"), field="token", code="assistance_expired")
    if participant.completed_at is not None:
        raise Conflict(_("this assistance already has all the help it needs"), field="token",
                       code="assistance_complete")
    if helper == _root(participant.customer_id):
        raise Conflict(_("you cannot help yourself"), field="token", code="self_help")
    if campaign.helpers_must_be_new and _is_known_before(helper, moment):
        raise Conflict(_("only customers new to the brand can help"), field="token", code="helper_not_new")


def help_assistance(*, enterprise_id: int, customer_id: int, token: str, now: datetime | None = None) -> HelpResult:
    """A friend signed in to the mall taps help on a participant's assistance: once per (assistance, helper) — a
    second tap answers the first. The participant's row is locked, so helps to one assistance take turns: the help
    that reaches N completes it and grants the reward once (keyed `assist:<campaign>:<participant>`), however many
    friends tap at once. Refused with nothing written: expired, complete, self-help, a helper known before."""
    moment = now or timezone.now()
    found = Participant.objects.filter(token=token, campaign__enterprise_id=enterprise_id,
                                       campaign__kind=CampaignKind.ASSIST).values_list("pk", flat=True).first()
    if found is None:
        raise NotFound(_("this assistance link is not known"), field="token")
    helper = _root(customer_id)
    with transaction.atomic():
        participant = Participant.objects.select_for_update().select_related("campaign").get(pk=found)
        campaign = participant.campaign
        existing = Help.objects.filter(participant=participant, helper_id=helper).first()
        if existing is None:
            _check_helper(campaign, participant, helper, moment)
            existing = Help.objects.create(campaign=campaign, participant=participant, helper_id=helper,
                                           helped_at=moment)
            helped = Help.objects.filter(participant=participant).count()
            _notice(participant, helped, campaign.target_count, moment)
            if helped >= campaign.target_count:
                Participant.objects.filter(pk=participant.pk).update(completed_at=moment)
                participant.completed_at = moment
                _grant(campaign, participant, key=f"assist:{campaign.pk}:{participant.pk}", invitation=None,
                       now=moment)
        helped = Help.objects.filter(participant=participant).count()
    return HelpResult(help=existing, helped=helped, target=campaign.target_count,
                      completed=participant.completed_at is not None)


# ---------------------------------------------------------------------------------------------------------------
# Progress pushed to participants: a notice row per (campaign, participant, count), recorded with the business
# change, sent by the worker (outside any transaction) through the SMS sender with the same key.


def _notice_key(campaign_id: int, participant_id: int, count: int) -> str:
    return f"referral-progress:{campaign_id}:{participant_id}:{count}"


def _notice(participant: Participant, count: int, target: int, at: datetime) -> None:
    allowed = Participant.objects.filter(pk=participant.pk).filter(allowed_filter("sms")).exclude(
        customer__phone="").exists()
    if allowed:
        ProgressNotice.objects.bulk_create([ProgressNotice(
            enterprise_id=participant.campaign.enterprise_id, campaign_id=participant.campaign_id,
            participant=participant, key=_notice_key(participant.campaign_id, participant.pk, count), count=count,
            target=target, created_at=at)], ignore_conflicts=True)


def record_progress_notices(*, enterprise_id: int, now: datetime) -> int:
    """One statement reads every participant whose counted invitees (inside the window, for a fission) now number
    more than their last notice says, among those whose SMS consent allows it and who have a phone; their notices
    are inserted in one batch (a key seen before is skipped)."""
    counted = Q(invitations__status=InvitationStatus.COUNTED) & (
        Q(deadline_at__isnull=True) | Q(invitations__occurred_at__lte=F("deadline_at")))
    notified = ProgressNotice.objects.filter(participant_id=OuterRef("pk")).order_by("-count").values("count")[:1]
    rows = list(Participant.objects.filter(campaign__enterprise_id=enterprise_id,
                                           campaign__kind__in=[CampaignKind.INVITE, *FISSION_KINDS])
                .filter(allowed_filter("sms")).exclude(customer__phone="")
                .annotate(n=Count("invitations", filter=counted), last=Coalesce(Subquery(notified), 0))
                .filter(n__gt=F("last")).values("pk", "campaign_id", "n", "campaign__target_count")[:NOTICE_BATCH])
    made = ProgressNotice.objects.bulk_create([ProgressNotice(
        enterprise_id=enterprise_id, campaign_id=r["campaign_id"], participant_id=r["pk"],
        key=_notice_key(r["campaign_id"], r["pk"], r["n"]), count=r["n"], target=r["campaign__target_count"],
        created_at=now) for r in rows], ignore_conflicts=True)
    return len(made)


def _notice_text(notice: ProgressNotice) -> str:
    name = notice.campaign.name
    if notice.target and notice.count >= notice.target:
        return str(_("【%(name)s】You have brought %(count)s of %(target)s: your reward is unlocked.")
                   % {"name": name, "count": notice.count, "target": notice.target})
    if notice.target:
        return str(_("【%(name)s】%(count)s of %(target)s done, %(left)s to go.")
                   % {"name": name, "count": notice.count, "target": notice.target,
                      "left": notice.target - notice.count})
    return str(_("【%(name)s】%(count)s friends you invited have counted.") % {"name": name, "count": notice.count})


def send_progress_notices(*, limit: int = NOTICE_BATCH) -> int:
    """The worker: each pending notice is sent through the SMS sender with the notice's key (a repeat after a lost
    answer finds the same SMS row: one message), outside any transaction; a provider out of reach leaves it
    pending for the next run, a refusal (consent withdrawn since, a bad number) fails it."""
    sent = 0
    for notice in ProgressNotice.objects.filter(status=NoticeStatus.PENDING).select_related(
            "campaign", "participant__customer").order_by("id")[:limit]:
        customer = notice.participant.customer
        try:
            with translation.override(settings.LANGUAGE_CODE):
                text = _notice_text(notice)
            row = sms_services.send_sms(enterprise_id=notice.enterprise_id, customer_id=customer.pk,
                                        phone=customer.phone, text=text, key=notice.key,
                                        purpose=SmsPurpose.MARKETING)
        except DomainError as exc:
            ProgressNotice.objects.filter(pk=notice.pk).update(status=NoticeStatus.FAILED, error=exc.code[:200])
            continue
        if row.status == SmsStatus.FAILED:
            ProgressNotice.objects.filter(pk=notice.pk).update(status=NoticeStatus.FAILED, error=row.error[:200])
        elif row.status != SmsStatus.QUEUED:
            ProgressNotice.objects.filter(pk=notice.pk).update(status=NoticeStatus.SENT, sent_at=timezone.now())
            sent += 1
    return sent
