"""Planning a campaign, set-based: one INSERT ... SELECT writes a Delivery row per audience member with the channel it
will go by, or the reason it will not go, its variant and its holdout bucket.

The SELECT is built in three layers over one Django queryset of the audience (so scoping and consent come from the
apps that own them): the queryset gives per customer flags and counts (identity on each channel, consent, contacts
already planned or sent by other campaigns in the day / the rolling week / the WeCom month, DND, recent purchase,
open after-sale); the layer above picks the first reachable channel in the campaign's order and a stable hash; the
top one writes the reason and the status. Every integer spliced into the SQL comes from the database or a validated
choice, every user string is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from siyu.channels.models import ChannelAccount
from siyu.core.timeutil import SHANGHAI, day_bounds, local_day
from siyu.customers import consent
from siyu.customers.models import (
    CustomerTag,
    Identity,
    IdentityKind,
    MarketingChannel,
    Relationship,
    RelationshipStatus,
)
from siyu.messaging.models import Campaign, ContactPolicy, Delivery, DeliveryStatus, DoNotDisturb, SendChannel
from siyu.orders.models import OPEN_AFTER_SALE, AfterSale, Order

# Rows that are or will be a contact: they count toward every cap (a holdout or an exclusion is no contact).
CONTACTS = [DeliveryStatus.PLANNED, DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
            DeliveryStatus.CONFIRMED, DeliveryStatus.WAITING]
CONSENT_CHANNEL = {
    SendChannel.WECOM: MarketingChannel.WECOM,
    SendChannel.OFFICIAL_ACCOUNT: MarketingChannel.OFFICIAL_ACCOUNT,
    SendChannel.SMS: MarketingChannel.SMS,
}
HASH_MULTIPLIER = 1103515245
HASH_MODULUS = 2147483648
HASH_SALT = 7919


def stable_hash(customer_id: int, campaign_id: int) -> int:
    """The bucket hash the SQL computes (documented here so a reader, and a test, can compute it by hand)."""
    return (customer_id * HASH_MULTIPLIER + campaign_id * HASH_SALT) % HASH_MODULUS


@dataclass(frozen=True)
class Windows:
    due_at: datetime
    day: tuple[datetime, datetime]
    week: tuple[datetime, datetime]
    month: tuple[datetime, datetime]


def in_quiet_hours(moment: datetime, policy: ContactPolicy) -> bool:
    start, end = policy.quiet_start_hour, policy.quiet_end_hour
    hour = moment.astimezone(SHANGHAI).hour
    if start == end:
        return False
    if start > end:
        return hour >= start or hour < end
    return start <= hour < end


def due_time(start: datetime, policy: ContactPolicy) -> datetime:
    """`start`, or the end of the quiet hours it falls in (Asia/Shanghai): a send waits rather than being dropped."""
    if not in_quiet_hours(start, policy):
        return start
    local = start.astimezone(SHANGHAI)
    day = local.date()
    if policy.quiet_start_hour > policy.quiet_end_hour and local.hour >= policy.quiet_start_hour:
        day += timedelta(days=1)
    return datetime.combine(day, time(policy.quiet_end_hour), tzinfo=SHANGHAI).astimezone(start.tzinfo)


def windows(due_at: datetime) -> Windows:
    day = local_day(due_at)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Windows(
        due_at=due_at,
        day=day_bounds(day),
        # a rolling week either side: no 7-day window that holds this send may exceed the weekly cap
        week=(due_at - timedelta(days=7), due_at + timedelta(days=7)),
        month=(day_bounds(first)[0], day_bounds(following)[0]),
    )


def _flag(condition: Any) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def _contacts(campaign: Campaign, span: tuple[datetime, datetime], channel: str = "") -> Coalesce:
    rows = Delivery.objects.filter(customer_id=OuterRef("pk"), status__in=CONTACTS, due_at__gte=span[0],
                                   due_at__lt=span[1])
    if campaign.journey_version_id is None:  # a replan replaces its own rows; a journey's earlier sends count
        rows = rows.exclude(campaign_id=campaign.pk)
    if channel:
        rows = rows.filter(channel=channel)
    counted = rows.order_by().values("customer_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted), Value(0), output_field=IntegerField())


def audience(base: QuerySet[Any], campaign: Campaign, segment_ids: QuerySet[Any] | None) -> QuerySet[Any]:
    """The campaign's customers inside `base` (the planner's visible customers)."""
    qs = base.filter(erased_at__isnull=True)
    if campaign.audience_kind == "segment" and segment_ids is not None:
        return qs.filter(pk__in=segment_ids)
    if campaign.audience_kind == "tags":
        tag_ids = [int(t) for t in campaign.tag_ids]
        if campaign.tag_match == "all":
            for tag_id in tag_ids:
                qs = qs.filter(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id=tag_id)))
            return qs
        return qs.filter(Exists(CustomerTag.objects.filter(customer_id=OuterRef("pk"), tag_id__in=tag_ids)))
    return qs.filter(pk__in=[int(c) for c in campaign.customer_ids])


def _account_filter(account_id: int | None) -> Q:
    if not account_id:
        return Q()
    app_id = ChannelAccount.objects.filter(pk=account_id).values_list("app_id", flat=True).first()
    return Q(account=app_id) | Q(account="") if app_id else Q()


def _channel_columns(campaign: Campaign, policy: ContactPolicy, w: Windows) -> dict[str, Any]:
    """Per channel: has an identity (id_), consent allows (ok_), today's contacts there (n_), the target (t_)."""
    cols: dict[str, Any] = {}
    for channel in campaign.channels:
        cols[f"ok_{channel}"] = _flag(consent.allowed_filter(CONSENT_CHANNEL[channel], customer_ref="pk"))
        cols[f"n_{channel}"] = _contacts(campaign, w.day, channel)
        if channel == SendChannel.SMS:
            cols["id_sms"] = _flag(~Q(phone=""))
            cols["t_sms"] = F("phone")
            continue
        kind = IdentityKind.WECOM_EXTERNAL_USERID if channel == SendChannel.WECOM else IdentityKind.OA_OPENID
        account = campaign.wecom_account_id if channel == SendChannel.WECOM else campaign.oa_account_id
        ids = Identity.objects.filter(customer_id=OuterRef("pk"), kind=kind).filter(_account_filter(account))
        cols[f"t_{channel}"] = Subquery(ids.order_by("id").values("value")[:1])
        if channel == SendChannel.OFFICIAL_ACCOUNT:
            cols["id_official_account"] = _flag(Exists(ids))
            continue
        follows = Relationship.objects.filter(customer_id=OuterRef("pk"), status=RelationshipStatus.ACTIVE,
                                              staff__is_active=True).exclude(staff__wecom_userid="")
        cols["id_wecom"] = _flag(Exists(ids) & Exists(follows))
        cols["staff_wecom"] = Subquery(follows.order_by("added_at", "id").values("staff_id")[:1])
        cols["n_month"] = _contacts(campaign, w.month, SendChannel.WECOM)
    return cols


def flags(customers: QuerySet[Any], campaign: Campaign, policy: ContactPolicy, w: Windows) -> QuerySet[Any]:
    cols: dict[str, Any] = {
        "cid": F("pk"),
        "dnd": _flag(Exists(DoNotDisturb.objects.filter(enterprise_id=campaign.enterprise_id,
                                                        customer_id=OuterRef("pk")))),
        "after_sale": _flag(Exists(AfterSale.objects.filter(customer_id=OuterRef("pk"), status__in=OPEN_AFTER_SALE)))
        if policy.suppress_open_after_sale else Value(0, output_field=IntegerField()),
        "purchase": _flag(Exists(Order.objects.filter(
            customer_id=OuterRef("pk"), paid_at__gte=w.due_at - timedelta(days=policy.recent_purchase_days),
            paid_at__lte=w.due_at))) if policy.recent_purchase_days else Value(0, output_field=IntegerField()),
        "n_day": _contacts(campaign, w.day),
        "n_week": _contacts(campaign, w.week),
    }
    cols.update(_channel_columns(campaign, policy, w))
    return customers.order_by().annotate(**cols).values(*cols)


def _room(channel: str, policy: ContactPolicy) -> str:
    cap = int((policy.channel_caps or {}).get(channel) or 0)
    parts = [f"s.n_{channel} < {cap}"] if cap else []
    if channel == SendChannel.WECOM and policy.wecom_monthly_limit:
        parts.append(f"s.n_month < {int(policy.wecom_monthly_limit)}")
    return " AND ".join(parts) or "1=1"


def _reason(campaign: Campaign, policy: ContactPolicy) -> str:
    channels = list(campaign.channels)
    cases = ["WHEN m.dnd = 1 THEN 'dnd'", "WHEN m.after_sale = 1 THEN 'open_after_sale'",
             "WHEN m.purchase = 1 THEN 'recent_purchase'"]
    if policy.max_per_day:
        cases.append(f"WHEN m.n_day >= {int(policy.max_per_day)} THEN 'daily_cap'")
    if policy.max_per_week:
        cases.append(f"WHEN m.n_week >= {int(policy.max_per_week)} THEN 'weekly_cap'")
    cases.append("WHEN m.ch <> '' THEN ''")
    if SendChannel.WECOM in channels and policy.wecom_monthly_limit:
        cases.append(f"WHEN m.id_wecom = 1 AND m.ok_wecom = 1 AND m.n_month >= {int(policy.wecom_monthly_limit)} "
                     "THEN 'wecom_monthly_limit'")
    consented = " OR ".join(f"(m.id_{c} = 1 AND m.ok_{c} = 1)" for c in channels)
    cases.append(f"WHEN {consented} THEN 'channel_cap'")
    cases.append("WHEN " + " OR ".join(f"m.id_{c} = 1" for c in channels) + " THEN 'opted_out'")
    return "CASE " + " ".join(cases) + " ELSE 'no_channel' END"


def _variant(campaign: Campaign) -> str:
    names = [str(v["name"]) for v in campaign.variants] or ["A"]
    if len(names) == 1:
        return f"'{names[0]}'"
    whens = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(names))
    return f"CASE (r.h / 100) %% {len(names)} {whens} END"


def insert_sql(campaign: Campaign, policy: ContactPolicy, inner: QuerySet[Any], created_at: datetime,
               *, key: str = "", due_at: datetime | None = None) -> tuple[str, list[Any]]:
    """The INSERT ... SELECT (variant names are validated [A-Za-z0-9_-]; channels come from SendChannel). A
    journey's send step gives its own `key` (one customer) and `due_at`."""
    inner_sql, inner_params = inner.query.sql_with_params()
    chosen = "CASE " + " ".join(f"WHEN s.id_{c} = 1 AND s.ok_{c} = 1 AND {_room(c, policy)} THEN '{c}'"
                                for c in campaign.channels) + " ELSE '' END"
    salt = int(campaign.pk) * HASH_SALT
    # The flags layer is a MATERIALIZED common table expression: computed once per customer. As a plain derived
    # table both SQLite and PostgreSQL pull it up into the layers above and run each correlated subquery again at
    # every reference to its column (the CASEs below name most of them several times): 80x a bare INSERT of the
    # rows at 20k customers on SQLite, measured by bench/campaign.py; materialized, see docs/campaigns.md.
    middle = (f"SELECT s.*, {chosen} AS ch, ((s.cid * {HASH_MULTIPLIER} + {salt}) %% {HASH_MODULUS}) AS h "  # noqa: S608
              "FROM s")
    reasoned = f"SELECT m.*, {_reason(campaign, policy)} AS reason FROM ({middle}) m"  # noqa: S608
    targets = " ".join(f"WHEN '{c}' THEN r.t_{c}" for c in campaign.channels)
    staff = "r.staff_wecom" if SendChannel.WECOM in campaign.channels else "CAST(NULL AS BIGINT)"
    holdout = int(campaign.holdout_pct)
    # a test share: the variants go to the customers whose second hash digit pair is under it, the rest wait for
    # the winner (the digits are independent of the holdout's and the variant's)
    in_test = f"(r.h / 10000) %% 100 < {int(campaign.test_pct)}" if campaign.test_pct else "1=1"
    table = Delivery._meta.db_table
    key_sql = "%s" if key else f"'campaign:{int(campaign.pk)}:customer:' || CAST(r.cid AS VARCHAR(20))"
    sql = (
        f"WITH s AS MATERIALIZED ({inner_sql}) "  # noqa: S608
        f"INSERT INTO {table} (campaign_id, enterprise_id, customer_id, \"key\", channel, variant, holdout, bucket, "
        "status, reason, staff_id, target, due_at, attempts, claim, provider_ref, error, coupon_code, created_at) "
        f"SELECT {int(campaign.pk)}, {int(campaign.enterprise_id)}, r.cid, {key_sql}, "
        "CASE WHEN r.reason = '' THEN r.ch ELSE '' END, "
        f"CASE WHEN r.reason = '' AND r.h %% 100 >= {holdout} AND {in_test} THEN {_variant(campaign)} ELSE '' END, "
        f"(r.reason = '' AND r.h %% 100 < {holdout}), r.h %% 100, "
        f"CASE WHEN r.reason <> '' THEN 'excluded' WHEN r.h %% 100 < {holdout} THEN 'holdout' "
        f"WHEN NOT ({in_test}) THEN 'waiting' ELSE 'planned' END, "
        f"r.reason, CASE WHEN r.reason = '' AND r.ch = 'wecom' THEN {staff} ELSE CAST(NULL AS BIGINT) END, "
        f"CASE WHEN r.reason <> '' THEN '' ELSE COALESCE(CASE r.ch {targets} END, '') END, "
        "%s, 0, '', '', '', '', %s "
        f"FROM ({reasoned}) r"
    )
    ops = connection.ops
    due = due_at or campaign_due(campaign, created_at, policy)
    return sql, [*inner_params, *([key] if key else []), ops.adapt_datetimefield_value(due),
                 ops.adapt_datetimefield_value(created_at)]


def campaign_due(campaign: Campaign, now: datetime, policy: ContactPolicy) -> datetime:
    start = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > now else now
    return due_time(start, policy)
