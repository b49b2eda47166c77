"""Points read paths: a customer's balance, lots and history, scoped like the customer's profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog import queries as catalog_queries
from siyu.core.errors import PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.core.timeutil import day_bounds, local_day
from siyu.customers import queries as customer_queries
from siyu.loyalty.models import (
    CategoryRate,
    CheckIn,
    CheckInRule,
    CustomerTier,
    LotSource,
    LotStatus,
    Membership,
    MembershipCoupon,
    MembershipPlan,
    MembershipPurchase,
    MembershipStatus,
    OperationKind,
    PointsLot,
    PointsOperation,
    PointsProgram,
    Redemption,
    Reward,
    Tier,
    TierBasis,
    TierChange,
    TierPolicy,
)
from siyu.orders import queries as order_queries
from siyu.orders.queries import MemberSavings
from siyu.org.scope import Scope
from siyu.promotions.pricing import MemberOffer, PointsOffer

EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    kind: str  # earn_order / earn_adjustment / earn_reward / redeem / reverse / expire / adjust
    points: int  # signed: + earned, - taken
    status: str  # a lot's status (pending / available / cancelled), "" for an operation
    reason: str
    order_id: int | None
    shortfall: int = 0


@dataclass(frozen=True)
class PointsSummary:
    customer_id: int
    balance: int  # available and unexpired: what may be redeemed now
    pending: int  # earned, waiting for the return window
    expiring_soon: int  # of the balance, what expires within EXPIRING_SOON_DAYS
    expiring_before: datetime
    lots: list[PointsLot] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)


def _sum(qs: QuerySet[Any], column: str = "remaining") -> int:
    return int(qs.aggregate(total=Sum(column))["total"] or 0)


def balance(enterprise_id: int, customer_id: int, *, now: datetime | None = None) -> int:
    """What the customer may redeem now: the remaining points of available, unexpired lots."""
    moment = now or timezone.now()
    return _sum(PointsLot.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                         status=LotStatus.AVAILABLE, expires_at__gt=moment))


def checkout_offer(*, enterprise_id: int, customer_id: int, requested: int, now: datetime) -> PointsOffer:
    """What the pricing engine needs to let points pay part of an order: the customer's balance and the programme's
    checkout rate and share (a rate of 0, no programme or an inactive one: points are not accepted)."""
    row = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    rate, share = (row.checkout_points_per_yuan, row.checkout_max_percent) if row is not None else (0, 0)
    return PointsOffer(requested=requested, balance=balance(enterprise_id, customer_id, now=now),
                       points_per_yuan=rate, max_percent=share)


def require_customer(scope: Scope, customer_id: int) -> None:
    """A 404 when the customer is not in the caller's scope (or enterprise)."""
    customer_queries.get_customer(scope, customer_id)


def points_summary(scope: Scope, customer_id: int, *, now: datetime | None = None, limit: int = 50) -> PointsSummary:
    customer = customer_queries.get_customer(scope, customer_id)  # the gate: a customer out of scope is a 404
    moment = now or timezone.now()
    soon = moment + timedelta(days=EXPIRING_SOON_DAYS)
    lots = PointsLot.objects.filter(enterprise_id=scope.enterprise_id, customer_id=customer.pk)
    usable = lots.filter(status=LotStatus.AVAILABLE, expires_at__gt=moment)
    # what is left and still usable (expired lots the nightly job has not emptied yet are not shown as points held)
    open_lots = list(lots.filter(Q(status=LotStatus.PENDING) | Q(status=LotStatus.AVAILABLE, expires_at__gt=moment),
                                 remaining__gt=0).order_by("expires_at", "id")[:limit])
    history = [HistoryRow(at=lot.earned_at, kind=f"earn_{lot.source}", points=lot.points, status=lot.status,
                          reason=lot.reason, order_id=lot.order_id)
               for lot in lots.order_by("-earned_at", "-id")[:limit]]
    history += [HistoryRow(at=op.created_at, kind=op.kind, points=-op.points, status="", reason=op.reason,
                           order_id=op.order_id, shortfall=op.shortfall)
                for op in PointsOperation.objects.filter(enterprise_id=scope.enterprise_id, customer_id=customer.pk)
                .order_by("-created_at", "-id")[:limit]]
    history.sort(key=lambda row: row.at, reverse=True)
    return PointsSummary(
        customer_id=customer.pk, balance=_sum(usable), pending=_sum(lots.filter(status=LotStatus.PENDING)),
        expiring_soon=_sum(usable.filter(expires_at__lte=soon)), expiring_before=soon, lots=open_lots,
        history=history[:limit])


@dataclass(frozen=True)
class ProgramView:
    configured: bool
    is_active: bool
    points_per_yuan: int
    fen_per_point: int
    return_window_days: int
    expiry_days: int
    category_rates: list[tuple[int, int]]
    ugc_points: int
    follow_oa_points: int = 0
    add_staff_points: int = 0
    profile_points: int = 0
    checkout_points_per_yuan: int = 0
    checkout_max_percent: int = 50


def program(scope: Scope) -> ProgramView:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may read the points rules"))
    row = PointsProgram.objects.filter(enterprise_id=scope.enterprise_id).first()
    rates = list(CategoryRate.objects.filter(enterprise_id=scope.enterprise_id).order_by("category_id")
                 .values_list("category_id", "points_per_yuan"))
    if row is None:
        return ProgramView(False, False, 1, 1, 7, 365, rates, 0)
    return ProgramView(True, row.is_active, row.points_per_yuan, row.fen_per_point, row.return_window_days,
                       row.expiry_days, rates, row.ugc_points, row.follow_oa_points, row.add_staff_points,
                       row.profile_points, row.checkout_points_per_yuan, row.checkout_max_percent)


def get_operation(scope: Scope, operation_id: int) -> PointsOperation:
    return PointsOperation.objects.get(pk=operation_id, enterprise_id=scope.enterprise_id)


def get_lot(scope: Scope, lot_id: int) -> PointsLot:
    return PointsLot.objects.get(pk=lot_id, enterprise_id=scope.enterprise_id)


def window_start(policy: TierPolicy, now: datetime) -> datetime:
    """The first instant of the rolling window: the start of the Shanghai day `window_days - 1` days before today."""
    return day_bounds(local_day(now) - timedelta(days=policy.window_days - 1))[0]


def value_sql(basis: str) -> str:
    """What one lot adds to a customer's value, as SQL over the lots table."""
    if basis == TierBasis.POINTS:
        return "points - points_reversed"
    return "growth - growth_reversed"


def counted_sources(basis: str) -> list[str]:
    return [LotSource.ORDER.value, LotSource.REWARD.value] if basis == TierBasis.POINTS else [LotSource.ORDER.value]


def tier_value(policy: TierPolicy, customer_id: int, now: datetime) -> int:
    """The customer's growth value (or points) over the window ending now."""
    lots = PointsLot.objects.filter(enterprise_id=policy.enterprise_id, customer_id=customer_id,
                                    source__in=counted_sources(policy.basis),
                                    earned_at__gte=window_start(policy, now), earned_at__lte=now)
    if policy.basis == TierBasis.POINTS:
        total = lots.aggregate(v=Sum(F("points") - F("points_reversed")))["v"]
    else:
        total = lots.aggregate(v=Sum(F("growth") - F("growth_reversed")))["v"]
    return int(total or 0)


@dataclass(frozen=True)
class TierSettings:
    configured: bool
    basis: str
    window_days: int
    grace_days: int
    tiers: list[Tier]


def tier_settings(scope: Scope) -> TierSettings:
    """The tier rules and the active tiers, lowest first (HQ)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may read the tier rules"))
    policy = TierPolicy.objects.filter(enterprise_id=scope.enterprise_id).first()
    tiers = list(Tier.objects.filter(enterprise_id=scope.enterprise_id, is_active=True).order_by("rank"))
    if policy is None:
        return TierSettings(False, TierBasis.GROWTH, 365, 30, tiers)
    return TierSettings(True, policy.basis, policy.window_days, policy.grace_days, tiers)


@dataclass(frozen=True)
class TierChangeRow:
    at: datetime
    direction: str
    from_tier: str
    to_tier: str
    value: int


@dataclass(frozen=True)
class TierStatus:
    customer_id: int
    configured: bool
    basis: str
    value: int  # growth value or points over the window ending now
    window_start: datetime | None
    tier: Tier | None
    next_tier: Tier | None
    to_next: int  # how much more value reaches the next tier (0: none above)
    below_since: date | None  # the grace period's first day, when the customer has fallen below their tier
    downgrade_on: date | None  # the first evaluation day that may move them down
    history: list[TierChangeRow] = field(default_factory=list)


def tier_status(scope: Scope, customer_id: int, *, now: datetime | None = None, limit: int = 20) -> TierStatus:
    """A customer's tier, value over the window, the next tier and what it takes, the grace, and the history;
    scoped like the customer (out of scope: 404)."""
    customer = customer_queries.get_customer(scope, customer_id)
    return _tier_status(scope.enterprise_id, customer.pk, now or timezone.now(), limit)


def shopper_tier(*, enterprise_id: int, customer_id: int, now: datetime | None = None) -> TierStatus:
    """The shopper's own tier (the mall's session names the customer: no scope to check), without the history."""
    return _tier_status(enterprise_id, customer_id, now or timezone.now(), 0)


def _tier_status(enterprise_id: int, customer_id: int, moment: datetime, limit: int) -> TierStatus:
    policy = TierPolicy.objects.filter(enterprise_id=enterprise_id).first()
    if policy is None:
        return TierStatus(customer_id, False, TierBasis.GROWTH, 0, None, None, None, 0, None, None)
    value = tier_value(policy, customer_id, moment)
    held = CustomerTier.objects.filter(customer_id=customer_id, enterprise_id=enterprise_id).select_related(
        "tier").first()
    tier = held.tier if held is not None and held.tier is not None and held.tier.is_active else None
    next_tier = Tier.objects.filter(enterprise_id=enterprise_id, is_active=True,
                                    rank__gt=tier.rank if tier else 0).order_by("rank").first()
    below = held.below_since if held is not None and tier is not None else None
    history = [TierChangeRow(c.at, c.direction, c.from_tier.name if c.from_tier else "",
                             c.to_tier.name if c.to_tier else "", c.value)
               for c in TierChange.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
               .select_related("from_tier", "to_tier").order_by("-at", "-id")[:limit]] if limit else []
    return TierStatus(
        customer_id=customer_id, configured=True, basis=policy.basis, value=value,
        window_start=window_start(policy, moment), tier=tier, next_tier=next_tier,
        to_next=max(next_tier.threshold - value, 0) if next_tier else 0, below_since=below,
        downgrade_on=below + timedelta(days=policy.grace_days) if below else None, history=history)


__all__ = ["LotSource", "OperationKind"]


def tier_counts(scope: Scope) -> list[tuple[str, int]]:
    """How many customers hold each active tier, lowest first (HQ's rules page)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may read the tier rules"))
    held = dict(CustomerTier.objects.filter(enterprise_id=scope.enterprise_id, tier__isnull=False)
                .values_list("tier_id").annotate(n=Count("id")).order_by())
    return [(t.name, int(held.get(t.pk, 0))) for t in Tier.objects.filter(enterprise_id=scope.enterprise_id,
                                                                           is_active=True).order_by("rank")]


@dataclass(frozen=True)
class CheckInCalendar:
    open: bool
    today: date
    checked_in_today: bool
    streak: int  # the streak as it stands: today's, else yesterday's (still alive until today ends), else 0
    next_points: int  # what checking in next earns (today if not yet, else tomorrow if the streak goes on)
    month: str
    days: list[date]
    daily_points: int
    streak_bonuses: list[dict[str, int]]


def check_in_calendar(*, enterprise_id: int, customer_id: int, month: date | None = None,
                      now: datetime | None = None) -> CheckInCalendar:
    """The shopper's own check-in calendar for a month (the storefront: the caller is the customer)."""
    moment = now or timezone.now()
    today = local_day(moment)
    first = (month or today).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    mine = CheckIn.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    days = list(mine.filter(day__gte=first, day__lt=following).order_by("day").values_list("day", flat=True))
    recent = dict(mine.filter(day__gte=today - timedelta(days=1)).values_list("day", "streak"))
    done = today in recent
    streak = recent.get(today) or recent.get(today - timedelta(days=1)) or 0
    rule = CheckInRule.objects.filter(enterprise_id=enterprise_id).first()
    bonuses = [{"day": int(b["day"]), "points": int(b["points"])} for b in (rule.streak_bonuses if rule else [])]
    next_streak = streak + 1
    next_points = (rule.daily_points if rule else 0) + sum(b["points"] for b in bonuses if b["day"] == next_streak)
    is_open = bool(rule and rule.is_active and PointsProgram.objects.filter(enterprise_id=enterprise_id,
                                                                           is_active=True).exists())
    return CheckInCalendar(is_open, today, done, streak, next_points if is_open else 0, first.strftime("%Y-%m"),
                           days, rule.daily_points if rule else 0, bonuses)


def check_in_rule(scope: Scope) -> CheckInRule | None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may read the check-in rules"))
    return CheckInRule.objects.filter(enterprise_id=scope.enterprise_id).first()


# ---------------------------------------------------------------------------------------------------------------
# The points catalogue and its redemptions


@dataclass(frozen=True)
class CatalogueItem:
    id: int
    kind: str
    name: str
    points: int
    in_stock: int | None  # a gift: its SKU's stock; a coupon: None (the template's own limits apply)
    sku_id: int | None
    coupon_template_id: int | None


def catalogue(enterprise_id: int) -> list[CatalogueItem]:
    """What a shopper may take for points now: the rewards on offer, a gift with its SKU's stock (an inactive SKU
    shows 0)."""
    rows = list(Reward.objects.filter(enterprise_id=enterprise_id, is_active=True))
    skus = [r.sku_id for r in rows if r.sku_id is not None]
    stock = dict(catalog_queries.skus(Scope.hq(enterprise_id)).filter(pk__in=skus, is_active=True)
                 .values_list("pk", "stock"))
    return [CatalogueItem(r.pk, r.kind, r.name, r.points, stock.get(r.sku_id, 0) if r.sku_id is not None else None,
                          r.sku_id, r.coupon_template_id) for r in rows]


def rewards(scope: Scope) -> QuerySet[Reward]:
    """Every reward, on offer or not (HQ: the catalogue page)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage the points catalogue"))
    return Reward.objects.filter(enterprise_id=scope.enterprise_id).order_by("-is_active", "points", "id")


def redemptions(scope: Scope, *, page: int = 1, page_size: int = 20,
                customer_id: int | None = None) -> Page[Redemption]:
    """Redemptions of the customers the caller may see, newest first."""
    qs = Redemption.objects.filter(enterprise_id=scope.enterprise_id,
                                   customer_id__in=customer_queries.visible_customer_ids(scope))
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    return paginate(qs.select_related("reward", "customer").order_by("-created_at", "-id"), page=page,
                    page_size=page_size)


def get_redemption(enterprise_id: int, redemption_id: int) -> Redemption:
    return Redemption.objects.select_related("reward").get(enterprise_id=enterprise_id, pk=redemption_id)


@dataclass(frozen=True)
class ShopperPoints:
    balance: int
    pending: int
    expiring_soon: int
    expiring_before: datetime
    checkout_points_per_yuan: int
    checkout_max_percent: int


def expiring_lots(*, enterprise_id: int, customer_id: int, now: datetime | None = None,
                  limit: int = 5) -> list[PointsLot]:
    """The shopper's available lots that still hold points, soonest expiry first (what to spend first)."""
    moment = now or timezone.now()
    return list(PointsLot.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                         status=LotStatus.AVAILABLE, remaining__gt=0, expires_at__gt=moment)
                .order_by("expires_at", "id")[:limit])


def shopper_points(*, enterprise_id: int, customer_id: int, now: datetime | None = None) -> ShopperPoints:
    """The shopper's own points (the storefront's token names the customer: no scope to check)."""
    moment = now or timezone.now()
    soon = moment + timedelta(days=30)
    mine = PointsLot.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id)
    row = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    return ShopperPoints(
        balance=balance(enterprise_id, customer_id, now=moment),
        pending=_sum(mine.filter(status=LotStatus.PENDING)),
        expiring_soon=_sum(mine.filter(status=LotStatus.AVAILABLE, expires_at__gt=moment, expires_at__lte=soon)),
        expiring_before=soon, checkout_points_per_yuan=row.checkout_points_per_yuan if row else 0,
        checkout_max_percent=row.checkout_max_percent if row else 0)


# ---------------------------------------------------------------------------------------------------------------
# Paid membership


def membership_plans(scope: Scope) -> QuerySet[MembershipPlan]:
    """Every plan, on sale or not (HQ: the plans page)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage the paid membership plans"))
    return MembershipPlan.objects.filter(enterprise_id=scope.enterprise_id).order_by("-is_active", "price_fen", "id")


def plans_on_sale(enterprise_id: int, *, now: datetime | None = None) -> list[MembershipPlan]:
    moment = now or timezone.now()
    return list(MembershipPlan.objects.filter(enterprise_id=enterprise_id, is_active=True).filter(
        Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=moment)).order_by("price_fen", "id"))


@dataclass(frozen=True)
class MembershipView:
    status: str  # none / active / expired
    plan: MembershipPlan | None
    started_at: datetime | None
    ends_at: datetime | None
    days_left: int
    coupons_issued: int
    purchases: list[MembershipPurchase]


def membership_of(*, enterprise_id: int, customer_id: int, now: datetime | None = None,
                  limit: int = 20) -> MembershipView:
    """A customer's paid membership as it stands (expired as soon as its end has passed, before the worker runs)."""
    moment = now or timezone.now()
    row = Membership.objects.select_related("plan").filter(enterprise_id=enterprise_id,
                                                           customer_id=customer_id).first()
    purchases = list(MembershipPurchase.objects.select_related("plan").filter(
        enterprise_id=enterprise_id, customer_id=customer_id).order_by("-created_at", "-id")[:limit])
    coupons = sum(len(ids) for ids in MembershipCoupon.objects.filter(
        enterprise_id=enterprise_id, customer_id=customer_id).values_list("coupon_ids", flat=True))
    if row is None or row.started_at == row.ends_at:
        return MembershipView("none", None, None, None, 0, coupons, purchases)
    active = row.status == MembershipStatus.ACTIVE and row.ends_at > moment
    left = (row.ends_at - moment).days + (1 if (row.ends_at - moment).seconds else 0) if active else 0
    return MembershipView("active" if active else "expired", row.plan, row.started_at, row.ends_at, left, coupons,
                          purchases)


def checkout_member_offer(*, enterprise_id: int, customer_id: int, now: datetime) -> MemberOffer | None:
    """The paid plan's benefits the pricing engine applies to this customer's order now (member prices, the plan's
    share of the list price, free shipping), or None when they hold no running membership."""
    row = Membership.objects.select_related("plan").filter(
        enterprise_id=enterprise_id, customer_id=customer_id, status=MembershipStatus.ACTIVE, ends_at__gt=now,
    ).exclude(started_at=F("ends_at")).first()
    if row is None:
        return None
    return MemberOffer(plan=row.plan.name, price_percent=row.plan.member_price_percent,
                       free_shipping=row.plan.free_shipping)


def membership_savings(*, enterprise_id: int, customer_id: int, membership: MembershipView) -> MemberSavings | None:
    """What the membership has saved the customer since it started (None without one): the reason they renew."""
    if membership.started_at is None:
        return None
    return order_queries.member_savings(enterprise_id=enterprise_id, customer_id=customer_id,
                                        since=membership.started_at)


def customer_membership(scope: Scope, customer_id: int, *, now: datetime | None = None) -> MembershipView:
    require_customer(scope, customer_id)  # the gate: a customer out of scope is a 404
    return membership_of(enterprise_id=scope.enterprise_id, customer_id=customer_id, now=now)


def members(scope: Scope, *, page: int = 1, page_size: int = 20, status: str = "") -> Page[Membership]:
    """Paid members of the customers the caller may see, soonest end first (status: active / expired / all)."""
    qs = Membership.objects.filter(enterprise_id=scope.enterprise_id,
                                   customer_id__in=customer_queries.visible_customer_ids(scope)).exclude(
        started_at=F("ends_at"))
    if status in MembershipStatus.values:
        qs = qs.filter(status=status)
    return paginate(qs.select_related("plan", "customer").order_by("ends_at", "id"), page=page, page_size=page_size)


def get_purchase(enterprise_id: int, purchase_id: int) -> MembershipPurchase:
    return MembershipPurchase.objects.select_related("plan").get(enterprise_id=enterprise_id, pk=purchase_id)
