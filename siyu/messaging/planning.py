"""Planning a campaign, set-based: one INSERT ... SELECT writes a Delivery row per audience member with the channel it
will go by, or the reason it will not go, its variant and its holdout bucket.

The statement is built in layers. Its inputs are common table expressions, each read once for the whole plan: the
audience (one Django queryset, so scoping comes from the app that owns it), the contacts other campaigns planned or
made in the day / the rolling week / the WeCom month (one range scan of the deliveries, grouped by customer), the
do-not-disturb list, open after-sales, recent purchases, the latest consent per channel (a window over the consent
records), the first identity per channel and the sending staff member (a window over the follows). They are joined
to the audience by customer id into `s` (hash joins on PostgreSQL, automatic indexes on SQLite), never a correlated
subquery per customer. The layer above picks the first reachable channel in the campaign's order and a stable hash;
the top one writes the reason and the status. Every integer spliced into the SQL comes from the database or a
validated choice, every other value is a parameter. A small audience (a journey's one-customer step, a short list)
restricts each input to its members through the customer indexes instead of reading the enterprise's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet

from siyu.channels.models import ChannelAccount
from siyu.core.timeutil import SHANGHAI, day_bounds, local_day
from siyu.customers import consent
from siyu.customers.models import (
    Consent,
    Customer,
    CustomerTag,
    Identity,
    IdentityKind,
    MarketingChannel,
    Relationship,
    RelationshipStatus,
)
from siyu.messaging.models import Campaign, ContactPolicy, Delivery, DeliveryStatus, DoNotDisturb, SendChannel
from siyu.orders.models import OPEN_AFTER_SALE, AfterSale, Order
from siyu.org.models import Staff

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
# Up to this many customers, a plan reads each input through the customer indexes for the audience's members only;
# above it, once for the enterprise (a range scan or a grouped pass), joined to the audience.
NARROW_MAX = 2000


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


def _account_app_id(account_id: int | None) -> str:
    """The app id an identity must name (or leave empty) to count for the campaign's account; "" when any will do."""
    if not account_id:
        return ""
    return str(ChannelAccount.objects.filter(pk=account_id).values_list("app_id", flat=True).first() or "")


@dataclass(frozen=True)
class Flags:
    """The planner's inputs as common table expressions (`WITH` list without the keyword) ending in `s`, one row per
    audience member with the columns the layers above read; `params` in the order of their placeholders."""

    sql: str
    params: list[Any]
    narrow: bool


class _Sql:
    """Raw SQL with its parameters, built in order (every value a placeholder, every name from the models)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> None:
        self.parts.append(text)
        self.params.extend(params)

    def values(self, items: list[Any] | tuple[Any, ...]) -> str:
        self.params.extend(items)
        return "(" + ", ".join(["%s"] * len(items)) + ")"


def _at(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


STALE_SHARE = 0.2  # of a table's rows changed since it was last analyzed


def fresh_statistics() -> list[str]:
    """PostgreSQL: ANALYZE the tables a wide plan reads whose statistics are missing or stale (never analyzed, or more
    than a fifth of their rows changed since), and return their names. The grouped inputs are joined by hash only
    when the planner knows their sizes: with no statistics (a database just bulk-loaded, autovacuum off or behind) it
    chose nested loops, and a 100k plan took 433 s instead of 7 s (bench/campaign.py, 2026-12-08). ANALYZE reads a
    fixed sample, a second or so per table whatever its size. A no-op on SQLite."""
    if connection.vendor != "postgresql":
        return []
    models = (Customer, Identity, Relationship, Consent, Delivery, DoNotDisturb, Order, AfterSale, Staff)
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) AND ("
            "(last_analyze IS NULL AND last_autoanalyze IS NULL) "
            "OR n_mod_since_analyze > %s * GREATEST(n_live_tup, 1000))", [tables, STALE_SHARE])
        stale = sorted(str(row[0]) for row in cursor.fetchall())
        for table in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return stale


def _is_narrow(customers: QuerySet[Any]) -> bool:
    """A small audience (at most NARROW_MAX) reads each member's rows through the customer indexes; a larger one
    reads each input once for the enterprise. Counting stops at NARROW_MAX + 1 rows, so this costs little."""
    return customers.order_by().values("pk")[: NARROW_MAX + 1].count() <= NARROW_MAX


def _rows(q: _Sql, narrow: bool, table: str, enterprise_id: int, *, staff_join: bool = False) -> str:
    """`FROM ... WHERE ...` of an input (alias t): the audience's rows (narrow; CROSS JOIN keeps the audience the
    outer loop on SQLite, so each member's rows come through the customer index) or the enterprise's (wide)."""
    join = f" INNER JOIN {Staff._meta.db_table} st ON st.id = t.staff_id" if staff_join else ""
    if narrow:
        return f"FROM aud n CROSS JOIN {table} t{join} WHERE t.customer_id = n.cid"
    q.params.append(enterprise_id)
    return f"FROM {table} t{join} WHERE {'st' if staff_join else 't'}.enterprise_id = %s"


def _deliveries(q: _Sql, campaign: Campaign, w: Windows, narrow: bool) -> None:
    """Contacts (planned or sent by other campaigns, or by this journey before) per customer in the cap windows: one
    range scan of the deliveries due in the union of the windows, grouped by customer."""
    low, high = min(w.week[0], w.month[0], w.day[0]), max(w.week[1], w.month[1], w.day[1])

    def within(span: tuple[datetime, datetime], channel: str = "") -> str:
        test = "t.due_at >= %s AND t.due_at < %s"
        q.params.extend([_at(span[0]), _at(span[1])])
        if channel:
            test += " AND t.channel = %s"
            q.params.append(channel)
        return f"SUM(CASE WHEN {test} THEN 1 ELSE 0 END)"

    cols = [f"{within(w.day)} AS n_day", f"{within(w.week)} AS n_week"]
    cols += [f"{within(w.day, c)} AS n_{c}" for c in campaign.channels]
    if SendChannel.WECOM in campaign.channels:
        cols.append(f"{within(w.month, SendChannel.WECOM)} AS n_month")
    q.add("dl AS MATERIALIZED (SELECT t.customer_id AS cid, " + ", ".join(cols) + " ")
    q.add(_rows(q, narrow, Delivery._meta.db_table, campaign.enterprise_id))
    q.add(" AND t.due_at >= %s AND t.due_at < %s", _at(low), _at(high))
    q.add(f" AND t.status IN {q.values(CONTACTS)}")
    if campaign.journey_version_id is None:  # a replan replaces its own rows; a journey's earlier sends count
        q.add(" AND t.campaign_id <> %s", campaign.pk)
    q.add(" GROUP BY t.customer_id), ")


def _suppressions(q: _Sql, campaign: Campaign, policy: ContactPolicy, w: Windows, narrow: bool) -> list[str]:
    """Do-not-disturb, open after-sales and recent purchases: each the set of customer ids it holds."""
    made = ["dnd"]
    q.add("dnd AS MATERIALIZED (SELECT t.customer_id AS cid ")
    q.add(_rows(q, narrow, DoNotDisturb._meta.db_table, campaign.enterprise_id))
    q.add(" AND t.enterprise_id = %s), " if narrow else "), ", *([campaign.enterprise_id] if narrow else []))
    if policy.suppress_open_after_sale:
        made.append("aft")
        q.add("aft AS MATERIALIZED (SELECT DISTINCT t.customer_id AS cid ")
        q.add(_rows(q, narrow, AfterSale._meta.db_table, campaign.enterprise_id))
        q.add(f" AND t.status IN {q.values(list(OPEN_AFTER_SALE))}), ")
    if policy.recent_purchase_days:
        made.append("buy")
        q.add("buy AS MATERIALIZED (SELECT DISTINCT t.customer_id AS cid ")
        q.add(_rows(q, narrow, Order._meta.db_table, campaign.enterprise_id))
        q.add(" AND t.paid_at >= %s AND t.paid_at <= %s), ",
              _at(w.due_at - timedelta(days=policy.recent_purchase_days)), _at(w.due_at))
    return made


def _consents(q: _Sql, campaign: Campaign, narrow: bool) -> None:
    """Each customer's latest consent record per channel (by recorded_at, then id), pivoted to one row."""
    marketing = [CONSENT_CHANNEL[c] for c in campaign.channels]
    pivot = ", ".join(f"MAX(CASE WHEN channel = %s THEN g END) AS g_{c}" for c in campaign.channels)
    q.params.extend(marketing)
    q.add(f"con AS MATERIALIZED (SELECT cid, {pivot} FROM (SELECT t.customer_id AS cid, t.channel, "  # noqa: S608
          "CASE WHEN t.granted THEN 1 ELSE 0 END AS g, ROW_NUMBER() OVER (PARTITION BY t.customer_id, t.channel "
          "ORDER BY t.recorded_at DESC, t.id DESC) AS rn ")
    q.add(_rows(q, narrow, Consent._meta.db_table, campaign.enterprise_id))
    q.add(f" AND t.channel IN {q.values(marketing)}) x WHERE rn = 1 GROUP BY cid), ")


def _identities(q: _Sql, campaign: Campaign, narrow: bool) -> None:
    """Per customer the first (lowest id) WeCom external userid and Official Account openid of the campaign's
    accounts (or of no account): the address a send goes to."""
    kinds = []
    if SendChannel.WECOM in campaign.channels:
        wecom_app = _account_app_id(campaign.wecom_account_id)
        kinds.append((SendChannel.WECOM, IdentityKind.WECOM_EXTERNAL_USERID, wecom_app))
    if SendChannel.OFFICIAL_ACCOUNT in campaign.channels:
        kinds.append((SendChannel.OFFICIAL_ACCOUNT, IdentityKind.OA_OPENID, _account_app_id(campaign.oa_account_id)))
    if not kinds:
        return
    cols = ", ".join(f"MIN(CASE WHEN t.kind = %s THEN t.id END) AS i_{c}" for c, _k, _a in kinds)
    q.params.extend(k for _c, k, _a in kinds)
    q.add(f"idn AS MATERIALIZED (SELECT t.customer_id AS cid, {cols} ")
    q.add(_rows(q, narrow, Identity._meta.db_table, campaign.enterprise_id) + " AND (")
    tests = []
    for _c, kind, app_id in kinds:
        if app_id:
            q.params.extend([kind, app_id])
            tests.append("(t.kind = %s AND (t.account = %s OR t.account = ''))")
        else:
            q.params.append(kind)
            tests.append("t.kind = %s")
    q.add(" OR ".join(tests) + ") GROUP BY t.customer_id), ")


def _follows(q: _Sql, campaign: Campaign, narrow: bool) -> None:
    """Per customer the staff member who sends a WeCom 1:1 message: the earliest active follow (added_at, then id)
    by an active staff member with a WeCom userid."""
    # grouped again by customer (one row each already) so that SQLite joins it through an automatic index
    q.add("rel AS MATERIALIZED (SELECT cid, MIN(staff_id) AS staff_id FROM (SELECT t.customer_id AS cid, t.staff_id, "
          "ROW_NUMBER() OVER (PARTITION BY t.customer_id ORDER BY t.added_at, t.id) AS rn ")
    q.add(_rows(q, narrow, Relationship._meta.db_table, campaign.enterprise_id, staff_join=True))
    q.add(" AND t.status = %s AND st.is_active AND st.wecom_userid <> '') x WHERE rn = 1 GROUP BY cid), ",
          RelationshipStatus.ACTIVE)


def _joined(q: _Sql, campaign: Campaign, made: list[str]) -> None:
    """`s`: the audience with every input joined by customer id (absent is 0, or the consent default)."""
    identity = Identity._meta.db_table
    cols = ["a.cid", "COALESCE(dl.n_day, 0) AS n_day", "COALESCE(dl.n_week, 0) AS n_week"]
    cols += [f"CASE WHEN {name}.cid IS NULL THEN 0 ELSE 1 END AS {column}"
             for name, column in (("dnd", "dnd"), ("aft", "after_sale"), ("buy", "purchase")) if name in made]
    cols += [f"0 AS {column}" for name, column in (("aft", "after_sale"), ("buy", "purchase")) if name not in made]
    joins = ["LEFT JOIN dl ON dl.cid = a.cid", "LEFT JOIN con ON con.cid = a.cid"]
    joins += [f"LEFT JOIN {name} ON {name}.cid = a.cid" for name in made]
    for channel in campaign.channels:
        default = 1 if consent.DEFAULTS[CONSENT_CHANNEL[channel]] else 0
        cols += [f"COALESCE(con.g_{channel}, {default}) AS ok_{channel}", f"COALESCE(dl.n_{channel}, 0) AS n_{channel}"]
        if channel == SendChannel.SMS:
            cols += ["CASE WHEN a.phone <> '' THEN 1 ELSE 0 END AS id_sms", "a.phone AS t_sms"]
            continue
        joins.append(f"LEFT JOIN {identity} i_{channel} ON i_{channel}.id = idn.i_{channel}")
        cols.append(f"i_{channel}.value AS t_{channel}")
        if channel == SendChannel.OFFICIAL_ACCOUNT:
            cols.append("CASE WHEN idn.i_official_account IS NULL THEN 0 ELSE 1 END AS id_official_account")
            continue
        cols += ["CASE WHEN idn.i_wecom IS NOT NULL AND rel.staff_id IS NOT NULL THEN 1 ELSE 0 END AS id_wecom",
                 "rel.staff_id AS staff_wecom", "COALESCE(dl.n_month, 0) AS n_month"]
    if SendChannel.WECOM in campaign.channels or SendChannel.OFFICIAL_ACCOUNT in campaign.channels:
        joins.insert(2, "LEFT JOIN idn ON idn.cid = a.cid")
    if SendChannel.WECOM in campaign.channels:
        joins.append("LEFT JOIN rel ON rel.cid = a.cid")
    q.add("s AS MATERIALIZED (SELECT " + ", ".join(cols) + " FROM aud a " + " ".join(joins) + ")")  # noqa: S608


def flags(customers: QuerySet[Any], campaign: Campaign, policy: ContactPolicy, w: Windows, *,
          narrow: bool | None = None) -> Flags:
    """The planner's per-customer inputs, set-based: each input (contacts in the cap windows, do-not-disturb, open
    after-sales, recent purchases, latest consent per channel, identities, the sending staff) is read once for the
    plan with one GROUP BY (or window) and joined to the audience by customer id, instead of a correlated subquery
    per customer and input. `narrow` (by default: the audience has at most NARROW_MAX members) restricts each input
    to the audience through the customer indexes, so a journey's one-customer step reads a handful of rows."""
    narrow = _is_narrow(customers) if narrow is None else narrow
    aud_sql, aud_params = customers.order_by().annotate(cid=F("pk")).values("cid", "phone").query.sql_with_params()
    q = _Sql()
    q.add(f"aud AS MATERIALIZED ({aud_sql}), ", *aud_params)
    _deliveries(q, campaign, w, narrow)
    made = _suppressions(q, campaign, policy, w, narrow)
    _consents(q, campaign, narrow)
    _identities(q, campaign, narrow)
    if SendChannel.WECOM in campaign.channels:
        _follows(q, campaign, narrow)
    _joined(q, campaign, made)
    return Flags(sql="".join(q.parts), params=q.params, narrow=narrow)


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


def insert_sql(campaign: Campaign, policy: ContactPolicy, inner: Flags, created_at: datetime,
               *, key: str = "", due_at: datetime | None = None) -> tuple[str, list[Any]]:
    """The INSERT ... SELECT (variant names are validated [A-Za-z0-9_-]; channels come from SendChannel). A
    journey's send step gives its own `key` (one customer) and `due_at`."""
    chosen = "CASE " + " ".join(f"WHEN s.id_{c} = 1 AND s.ok_{c} = 1 AND {_room(c, policy)} THEN '{c}'"
                                for c in campaign.channels) + " ELSE '' END"
    salt = int(campaign.pk) * HASH_SALT
    # The flags layer `s` is a MATERIALIZED common table expression, computed once per customer: the CASEs below
    # name its columns several times (as a derived table pulled up into them, an expression would be evaluated at
    # every reference; see docs/campaigns.md).
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
        f"WITH {inner.sql} "  # noqa: S608
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
    return sql, [*inner.params, *([key] if key else []), ops.adapt_datetimefield_value(due),
                 ops.adapt_datetimefield_value(created_at)]


def campaign_due(campaign: Campaign, now: datetime, policy: ContactPolicy) -> datetime:
    start = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > now else now
    return due_time(start, policy)
