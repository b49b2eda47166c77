"""Loyalty API, mounted at /api/loyalty: a customer's points (scoped like the customer), redeeming them (anyone who
can see the customer) and adjusting them (HQ); the points rules (HQ). Redemptions and adjustments are answered once
per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import KEY_HEADER_DOC, create_once
from siyu.core.errors import ValidationFailed
from siyu.loyalty import queries, services
from siyu.org.schemas import ErrorOut
from siyu.org.scope import Scope
from siyu.storefront.api import CUSTOMER, shopper_of

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class LotOut(Schema):
    id: int
    source: str
    points: int
    remaining: int
    status: str
    order_id: int | None
    earned_at: datetime
    available_at: datetime
    expires_at: datetime


class HistoryOut(Schema):
    at: datetime
    kind: str
    points: int
    status: str
    reason: str
    order_id: int | None
    shortfall: int


class PointsOut(Schema):
    customer_id: int
    balance: int = Field(description="available and unexpired: what may be redeemed now")
    pending: int = Field(description="earned, unlocking when the return window has passed")
    expiring_soon: int
    expiring_before: datetime
    lots: list[LotOut]
    history: list[HistoryOut]


class RedeemIn(Input):
    points: int = Field(ge=1, le=services.MAX_POINTS)
    reason: str = Field(min_length=1, max_length=200)
    idempotency_key: str = Field(default="", max_length=64)


class AdjustIn(Input):
    points: int = Field(ge=-services.MAX_POINTS, le=services.MAX_POINTS,
                        description="positive adds a lot (available at once), negative takes points")
    reason: str = Field(min_length=1, max_length=200)
    idempotency_key: str = Field(default="", max_length=64)


class CategoryRateIO(Input):
    category_id: int = Field(ge=1)
    points_per_yuan: int = Field(ge=0, le=services.MAX_RATE)


class ProgramIO(Input):
    is_active: bool = True
    points_per_yuan: int = Field(ge=0, le=services.MAX_RATE)
    fen_per_point: int = Field(ge=1, le=10_000)
    return_window_days: int = Field(ge=0, le=365)
    expiry_days: int = Field(ge=1, le=services.MAX_DAYS)
    category_rates: list[CategoryRateIO] = Field(default_factory=list, max_length=500)
    ugc_points: int = Field(default=0, ge=0, le=100_000, description="points for an approved review or photo")
    follow_oa_points: int = Field(default=0, ge=0, le=100_000, description="once per customer: following the OA")
    add_staff_points: int = Field(default=0, ge=0, le=100_000, description="once per customer: adding a staff member")
    profile_points: int = Field(default=0, ge=0, le=100_000,
                                description="once per customer: name, phone, gender and birthday all filled in")
    checkout_points_per_yuan: int = Field(default=0, ge=0, le=100_000,
                                          description="points that pay one yuan at checkout (0: not accepted)")
    checkout_max_percent: int = Field(default=50, ge=1, le=99,
                                      description="the most of an order's goods payable points may pay")


class ProgramOut(ProgramIO):
    configured: bool


def _owner(scope: Scope, request: HttpRequest) -> str:
    """Whose Idempotency-Keys these are: one operator's keys never meet another's."""
    actor = actor_of(request)
    return f"e{scope.enterprise_id}:s{scope.staff_id}:u{getattr(actor, 'pk', '')}"


def _points(scope: Scope, customer_id: int) -> queries.PointsSummary:
    return queries.points_summary(scope, customer_id)


@router.get("/customers/{customer_id}/points", response={200: PointsOut, **ERRORS},
            summary="A customer's points: balance, pending, expiring soon, the open lots and the history")
def customer_points(request: HttpRequest, customer_id: int) -> Any:
    return _points(scope_of(request), customer_id)


@router.post("/customers/{customer_id}/points/redeem", response={201: PointsOut, **WRITE_ERRORS},
             openapi_extra=KEY_HEADER_DOC,
             summary="Redeem (spend) a customer's points with a reason; more than held is 409 insufficient_points")
def redeem(request: HttpRequest, customer_id: int, payload: RedeemIn) -> Status[Any]:
    return _move_points(request, customer_id, payload, action="loyalty.redeem", move=services.redeem)


@router.post("/customers/{customer_id}/points/adjust", response={201: PointsOut, **WRITE_ERRORS},
             openapi_extra=KEY_HEADER_DOC,
             summary="HQ: add or remove a customer's points with a reason (audited)")
def adjust(request: HttpRequest, customer_id: int, payload: AdjustIn) -> Status[Any]:
    return _move_points(request, customer_id, payload, action="loyalty.adjust", move=services.adjust)


def _move_points(request: HttpRequest, customer_id: int, payload: RedeemIn | AdjustIn, *, action: str,
                 move: Callable[..., Any]) -> Status[Any]:
    """Redeem or adjust once per Idempotency-Key: the service's own key is the caller's, scoped to its owner."""
    scope, actor = scope_of(request), actor_of(request)
    owner = _owner(scope, request)

    def create(key: str) -> int:
        move(scope=scope, customer_id=customer_id, points=payload.points, reason=payload.reason,
             key=f"{owner}:{key}", actor=actor)
        return customer_id

    return create_once(request, action=action, owner=owner, payload=payload, create=create,
                       render=lambda cid: _points(scope, cid), path={"customer_id": customer_id})


def _program_out(view: queries.ProgramView) -> dict[str, Any]:
    return {"configured": view.configured, "is_active": view.is_active, "points_per_yuan": view.points_per_yuan,
            "fen_per_point": view.fen_per_point, "return_window_days": view.return_window_days,
            "expiry_days": view.expiry_days, "ugc_points": view.ugc_points,
            "follow_oa_points": view.follow_oa_points, "add_staff_points": view.add_staff_points,
            "profile_points": view.profile_points, "checkout_points_per_yuan": view.checkout_points_per_yuan,
            "checkout_max_percent": view.checkout_max_percent,
            "category_rates": [{"category_id": c, "points_per_yuan": r} for c, r in view.category_rates]}


@router.get("/program", response={200: ProgramOut, **ERRORS}, summary="HQ: the points rules")
def get_program(request: HttpRequest) -> Any:
    return _program_out(queries.program(scope_of(request)))


@router.put("/program", response={200: ProgramOut, **WRITE_ERRORS},
            summary="HQ: set the points rules (earn rate, per-category rates, value, return window, expiry)")
def put_program(request: HttpRequest, payload: ProgramIO) -> Any:
    scope = scope_of(request)
    services.configure_program(scope=scope, actor=actor_of(request), data=services.ProgramInput(
        points_per_yuan=payload.points_per_yuan, fen_per_point=payload.fen_per_point,
        return_window_days=payload.return_window_days, expiry_days=payload.expiry_days,
        is_active=payload.is_active, ugc_points=payload.ugc_points, follow_oa_points=payload.follow_oa_points,
        add_staff_points=payload.add_staff_points, profile_points=payload.profile_points,
        checkout_points_per_yuan=payload.checkout_points_per_yuan, checkout_max_percent=payload.checkout_max_percent,
        category_rates=tuple((x.category_id, x.points_per_yuan) for x in payload.category_rates)))
    return _program_out(queries.program(scope))


class TierIO(Input):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="stable id, e.g. gold")
    name: str = Field(min_length=1, max_length=40)
    threshold: int = Field(ge=1, le=services.MAX_THRESHOLD, description="growth value or points that reach it")
    multiplier_percent: int = Field(default=100, ge=100, le=1000, description="earn multiplier: 150 is ×1.5")
    benefits: str = Field(default="", max_length=500)


class TiersIO(Input):
    basis: str = Field(default="growth", pattern="^(growth|points)$",
                       description="growth: 1 per yuan paid; points: points earned on orders and rewards")
    window_days: int = Field(default=365, ge=1, le=services.MAX_DAYS)
    grace_days: int = Field(default=30, ge=0, le=365)
    tiers: list[TierIO] = Field(default_factory=list, max_length=services.MAX_TIERS,
                                description="lowest first, thresholds increasing")


class TiersOut(TiersIO):
    configured: bool


class TierChangeOut(Schema):
    at: datetime
    direction: str
    from_tier: str
    to_tier: str
    value: int


class CustomerTierOut(Schema):
    customer_id: int
    configured: bool
    basis: str
    value: int
    window_start: datetime | None
    tier: TierIO | None
    next_tier: TierIO | None
    to_next: int
    below_since: date | None = Field(description="the first day of the grace period, when below the tier")
    downgrade_on: date | None
    history: list[TierChangeOut]


def _tier_out(tier: Any) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {"code": tier.code, "name": tier.name, "threshold": tier.threshold,
            "multiplier_percent": tier.multiplier_percent, "benefits": tier.benefits}


def _tiers_out(view: queries.TierSettings) -> dict[str, Any]:
    return {"configured": view.configured, "basis": view.basis, "window_days": view.window_days,
            "grace_days": view.grace_days, "tiers": [_tier_out(t) for t in view.tiers]}


@router.get("/tiers", response={200: TiersOut, **ERRORS}, summary="HQ: the tiers and how customers qualify")
def get_tiers(request: HttpRequest) -> Any:
    return _tiers_out(queries.tier_settings(scope_of(request)))


@router.put("/tiers", response={200: TiersOut, **WRITE_ERRORS},
            summary="HQ: set the tiers (lowest first) and how customers qualify; a held tier cannot be removed")
def put_tiers(request: HttpRequest, payload: TiersIO) -> Any:
    scope = scope_of(request)
    services.configure_tiers(scope=scope, actor=actor_of(request), data=services.TierPolicyInput(
        basis=payload.basis, window_days=payload.window_days, grace_days=payload.grace_days,
        tiers=tuple(services.TierInput(code=t.code, name=t.name, threshold=t.threshold,
                                       multiplier_percent=t.multiplier_percent, benefits=t.benefits)
                    for t in payload.tiers)))
    return _tiers_out(queries.tier_settings(scope))


@router.get("/customers/{customer_id}/tier", response={200: CustomerTierOut, **ERRORS},
            summary="A customer's tier: value over the window, the next tier, the grace period and the history")
def customer_tier(request: HttpRequest, customer_id: int) -> Any:
    status = queries.tier_status(scope_of(request), customer_id)
    return {"customer_id": status.customer_id, "configured": status.configured, "basis": status.basis,
            "value": status.value, "window_start": status.window_start, "tier": _tier_out(status.tier),
            "next_tier": _tier_out(status.next_tier), "to_next": status.to_next, "below_since": status.below_since,
            "downgrade_on": status.downgrade_on,
            "history": [vars(row) for row in status.history]}


# ---------------------------------------------------------------------------------------------------------------
# Daily check-in: HQ's rules here; the shopper's check-in on the storefront router (/api/storefront/check-in)


class StreakBonusIO(Input):
    day: int = Field(ge=2, le=services.MAX_STREAK_DAY, description="the streak length that earns the bonus")
    points: int = Field(ge=1, le=100_000)


class CheckInRuleIO(Input):
    is_active: bool = True
    daily_points: int = Field(ge=0, le=100_000)
    streak_bonuses: list[StreakBonusIO] = Field(default_factory=list, max_length=31)


class CheckInRuleOut(CheckInRuleIO):
    configured: bool


def _rule_out(rule: Any) -> dict[str, Any]:
    if rule is None:
        return {"configured": False, "is_active": False, "daily_points": 0, "streak_bonuses": []}
    return {"configured": True, "is_active": rule.is_active, "daily_points": rule.daily_points,
            "streak_bonuses": rule.streak_bonuses}


@router.get("/check-in", response={200: CheckInRuleOut, **ERRORS}, summary="HQ: the daily check-in rules")
def get_check_in_rule(request: HttpRequest) -> Any:
    return _rule_out(queries.check_in_rule(scope_of(request)))


@router.put("/check-in", response={200: CheckInRuleOut, **WRITE_ERRORS},
            summary="HQ: set the daily check-in points and the streak bonuses")
def put_check_in_rule(request: HttpRequest, payload: CheckInRuleIO) -> Any:
    scope = scope_of(request)
    services.configure_check_in(scope=scope, actor=actor_of(request), is_active=payload.is_active,
                                daily_points=payload.daily_points,
                                bonuses=tuple(services.StreakBonus(b.day, b.points) for b in payload.streak_bonuses))
    return _rule_out(queries.check_in_rule(scope))


storefront_router = Router()


class CalendarOut(Schema):
    open: bool
    today: date
    checked_in_today: bool
    streak: int
    next_points: int
    month: str
    days: list[date]
    daily_points: int
    streak_bonuses: list[StreakBonusIO]


class CheckInOut(Schema):
    day: date
    streak: int
    points: int
    first: bool = Field(description="false: already checked in today, nothing more granted")
    balance: int


@storefront_router.post("/check-in", auth=CUSTOMER, response={200: CheckInOut, 201: CheckInOut, **WRITE_ERRORS},
                        summary="Check in for today (Shanghai day): 201 the first time, 200 with the same answer after")
def shopper_check_in(request: HttpRequest) -> Status[Any]:
    shopper = shopper_of(request)
    row, first = services.check_in(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id)
    body = {"day": row.day, "streak": row.streak, "points": row.points, "first": first,
            "balance": queries.balance(shopper.enterprise_id, shopper.customer_id)}
    return Status(201 if first else 200, body)


@storefront_router.get("/check-in", auth=CUSTOMER, response={200: CalendarOut, **ERRORS},
                       summary="My check-in calendar for a month (?month=2026-12; default this month) and streak")
def shopper_calendar(request: HttpRequest, month: str = "") -> Any:
    shopper = shopper_of(request)
    first: date | None = None
    if month:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ValidationFailed(_("a month as YYYY-MM"), field="month", code="invalid") from None
    return vars(queries.check_in_calendar(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                          month=first))


# ---------------------------------------------------------------------------------------------------------------
# The points catalogue: HQ manages it; shoppers see it and redeem


class RewardIO(Input):
    kind: str = Field(pattern="^(gift|coupon)$")
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(ge=1, le=services.MAX_REWARD_POINTS)
    sku_id: int | None = Field(default=None, ge=1, description="a gift: the SKU given (its stock is the SKU's)")
    coupon_template_id: int | None = Field(default=None, ge=1, description="a coupon: the template issued")
    is_active: bool = True


class RewardOut(RewardIO):
    id: int


class RedemptionOut(Schema):
    id: int
    customer_id: int
    reward_id: int
    reward_name: str
    kind: str
    quantity: int
    points: int
    order_id: int | None
    coupon_id: int | None
    created_at: datetime


class RedemptionPageOut(Schema):
    items: list[RedemptionOut]
    total: int
    page: int
    pages: int


def _reward_out(reward: Any) -> dict[str, Any]:
    return {"id": reward.pk, "kind": reward.kind, "name": reward.name, "points": reward.points,
            "sku_id": reward.sku_id, "coupon_template_id": reward.coupon_template_id, "is_active": reward.is_active}


def _redemption_out(row: Any) -> dict[str, Any]:
    return {"id": row.pk, "customer_id": row.customer_id, "reward_id": row.reward_id, "reward_name": row.reward.name,
            "kind": row.reward.kind, "quantity": row.quantity, "points": row.points, "order_id": row.order_id,
            "coupon_id": row.coupon_id, "created_at": row.created_at}


def _reward_input(payload: RewardIO) -> services.RewardInput:
    return services.RewardInput(kind=payload.kind, name=payload.name, points=payload.points, sku_id=payload.sku_id,
                                coupon_template_id=payload.coupon_template_id, is_active=payload.is_active)


@router.get("/rewards", response={200: list[RewardOut], **ERRORS}, summary="HQ: the points catalogue")
def list_rewards(request: HttpRequest) -> Any:
    return [_reward_out(r) for r in queries.rewards(scope_of(request))[:500]]


@router.post("/rewards", response={201: RewardOut, **WRITE_ERRORS},
             summary="HQ: add a gift (a SKU) or a coupon (a template) to the points catalogue (audited)")
def create_reward(request: HttpRequest, payload: RewardIO) -> Status[Any]:
    reward = services.save_reward(scope=scope_of(request), data=_reward_input(payload), actor=actor_of(request))
    return Status(201, _reward_out(reward))


@router.put("/rewards/{reward_id}", response={200: RewardOut, **WRITE_ERRORS},
            summary="HQ: change a reward (is_active false takes it off offer; its redemptions stay)")
def update_reward(request: HttpRequest, reward_id: int, payload: RewardIO) -> Any:
    reward = services.save_reward(scope=scope_of(request), data=_reward_input(payload), reward_id=reward_id,
                                  actor=actor_of(request))
    return _reward_out(reward)


@router.get("/redemptions", response={200: RedemptionPageOut, **ERRORS},
            summary="Redemptions of the customers the caller may see, newest first")
def list_redemptions(request: HttpRequest, page: int = 1, customer_id: int | None = None) -> Any:
    found = queries.redemptions(scope_of(request), page=page, customer_id=customer_id)
    return {"items": [_redemption_out(r) for r in found.items], "total": found.total, "page": found.page,
            "pages": found.pages}


class ShopperPointsOut(Schema):
    balance: int
    pending: int
    expiring_soon: int
    expiring_before: datetime
    checkout_points_per_yuan: int = Field(description="points that pay one yuan at checkout (0: not accepted)")
    checkout_max_percent: int


class CatalogueItemOut(Schema):
    id: int
    kind: str
    name: str
    points: int
    in_stock: int | None
    sku_id: int | None
    coupon_template_id: int | None


class CatalogueOut(Schema):
    balance: int
    items: list[CatalogueItemOut]


class AddressIO(Input):
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=32)
    detail: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=200)


class RedeemRewardIn(Input):
    quantity: int = Field(default=1, ge=1, le=services.MAX_GIFT_QUANTITY)
    fulfillment: str = Field(default="delivery", pattern="^(delivery|pickup)$")
    store_id: int | None = None
    address: AddressIO | None = None
    idempotency_key: str = Field(default="", max_length=64)


@storefront_router.get("/points", auth=CUSTOMER, response={200: ShopperPointsOut, **ERRORS},
                       summary="My points: balance, pending, expiring soon, and what points pay at checkout")
def shopper_points(request: HttpRequest) -> Any:
    shopper = shopper_of(request)
    return vars(queries.shopper_points(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id))


@storefront_router.get("/rewards", auth=CUSTOMER, response={200: CatalogueOut, **ERRORS},
                       summary="The points catalogue on offer, with my balance")
def shopper_rewards(request: HttpRequest) -> Any:
    shopper = shopper_of(request)
    return {"balance": queries.balance(shopper.enterprise_id, shopper.customer_id),
            "items": [vars(i) for i in queries.catalogue(shopper.enterprise_id)]}


@storefront_router.post("/rewards/{reward_id}/redeem", auth=CUSTOMER, response={201: RedemptionOut, **WRITE_ERRORS},
                        openapi_extra=KEY_HEADER_DOC,
                        summary="Take a reward for points (a gift needs an address or a pickup store). Needs an "
                                "Idempotency-Key; 409 insufficient_points / out_of_stock write nothing")
def shopper_redeem(request: HttpRequest, reward_id: int, payload: RedeemRewardIn) -> Status[Any]:
    shopper = shopper_of(request)
    owner = f"e{shopper.enterprise_id}:c{shopper.customer_id}"
    delivery = services.CheckoutInput(
        fulfillment=payload.fulfillment, store_id=payload.store_id,
        address=payload.address.model_dump(exclude_defaults=True) if payload.address else {})

    def create(key: str) -> int:
        return services.redeem_reward(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                      reward_id=reward_id, key=f"{owner}:{key}", quantity=payload.quantity,
                                      delivery=delivery).pk

    return create_once(request, action="storefront.redeem_reward", owner=owner, payload=payload, create=create,
                       render=lambda pk: _redemption_out(queries.get_redemption(shopper.enterprise_id, pk)),
                       path={"reward_id": reward_id})


# ---------------------------------------------------------------------------------------------------------------
# Paid membership: HQ sets the plans; shoppers buy a period (paid through /api/storefront/orders/{id}/pay)


class PlanIO(Input):
    code: str = Field(pattern="^[a-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    price_fen: int = Field(ge=1, le=services.MAX_PLAN_PRICE_FEN)
    period_days: int = Field(ge=1, le=services.MAX_PERIOD_DAYS)
    points_multiplier_percent: int = Field(default=100, ge=100, le=1000, description="150: points ×1.5")
    member_price_percent: int = Field(default=100, ge=1, le=100, description="95: members pay 95% of list")
    free_shipping: bool = False
    coupon_template_id: int | None = Field(default=None, ge=1)
    coupons_per_month: int = Field(default=0, ge=0, le=services.MAX_MONTHLY_COUPONS)
    refund_policy: str = Field(default="pro_rata", pattern="^(pro_rata|none)$")
    sale_ends_at: datetime | None = None
    is_active: bool = True


class PlanOut(PlanIO):
    id: int


class PurchaseOut(Schema):
    id: int
    plan_id: int
    plan_name: str
    order_id: int
    price_fen: int
    period_days: int
    status: str
    starts_at: datetime | None
    ends_at: datetime | None
    paid_at: datetime | None
    refunded_at: datetime | None


class MembershipOut(Schema):
    status: str = Field(description="none / active / expired")
    plan: PlanOut | None
    started_at: datetime | None
    ends_at: datetime | None
    days_left: int
    coupons_issued: int
    purchases: list[PurchaseOut]


class MemberOut(Schema):
    customer_id: int
    customer_name: str
    plan_id: int
    plan_name: str
    status: str
    started_at: datetime
    ends_at: datetime


class MemberPageOut(Schema):
    items: list[MemberOut]
    total: int
    page: int
    pages: int


class RefundIn(Input):
    reason: str = Field(min_length=1, max_length=200)


class RefundOut(Schema):
    refund_id: int
    out_refund_no: str
    amount_fen: int
    status: str


class ShopperMembershipOut(Schema):
    membership: MembershipOut
    plans: list[PlanOut]


def _plan_out(plan: Any) -> dict[str, Any]:
    fields = ("code", "name", "price_fen", "period_days", "points_multiplier_percent", "member_price_percent",
              "free_shipping", "coupon_template_id", "coupons_per_month", "refund_policy", "sale_ends_at",
              "is_active")
    return {"id": plan.pk, **{f: getattr(plan, f) for f in fields}}


def _purchase_out(row: Any) -> dict[str, Any]:
    return {"id": row.pk, "plan_id": row.plan_id, "plan_name": row.plan.name, "order_id": row.order_id,
            "price_fen": row.price_fen, "period_days": row.period_days, "status": row.status,
            "starts_at": row.starts_at, "ends_at": row.ends_at, "paid_at": row.paid_at, "refunded_at": row.refunded_at}


def _membership_out(view: queries.MembershipView) -> dict[str, Any]:
    return {"status": view.status, "plan": _plan_out(view.plan) if view.plan else None,
            "started_at": view.started_at, "ends_at": view.ends_at, "days_left": view.days_left,
            "coupons_issued": view.coupons_issued, "purchases": [_purchase_out(p) for p in view.purchases]}


def _plan_input(payload: PlanIO) -> services.PlanInput:
    return services.PlanInput(**payload.model_dump())


@router.get("/membership/plans", response={200: list[PlanOut], **ERRORS}, summary="HQ: the paid membership plans")
def list_plans(request: HttpRequest) -> Any:
    return [_plan_out(p) for p in queries.membership_plans(scope_of(request))[:200]]


@router.post("/membership/plans", response={201: PlanOut, **WRITE_ERRORS},
             summary="HQ: add a paid plan (price, period, benefits, refund policy; audited)")
def create_plan(request: HttpRequest, payload: PlanIO) -> Status[Any]:
    plan = services.save_plan(scope=scope_of(request), data=_plan_input(payload), actor=actor_of(request))
    return Status(201, _plan_out(plan))


@router.put("/membership/plans/{plan_id}", response={200: PlanOut, **WRITE_ERRORS},
            summary="HQ: change a paid plan (is_active false takes it off sale; members keep what they paid for)")
def update_plan(request: HttpRequest, plan_id: int, payload: PlanIO) -> Any:
    plan = services.save_plan(scope=scope_of(request), data=_plan_input(payload), plan_id=plan_id,
                              actor=actor_of(request))
    return _plan_out(plan)


@router.get("/members", response={200: MemberPageOut, **ERRORS},
            summary="Paid members among the customers the caller may see (?status=active|expired), soonest end first")
def list_members(request: HttpRequest, page: int = 1, status: str = "") -> Any:
    found = queries.members(scope_of(request), page=page, status=status)
    return {"items": [{"customer_id": m.customer_id, "customer_name": m.customer.name, "plan_id": m.plan_id,
                       "plan_name": m.plan.name, "status": m.status, "started_at": m.started_at,
                       "ends_at": m.ends_at} for m in found.items],
            "total": found.total, "page": found.page, "pages": found.pages}


@router.get("/customers/{customer_id}/membership", response={200: MembershipOut, **ERRORS},
            summary="A customer's paid membership and purchases, scoped like the customer")
def customer_membership(request: HttpRequest, customer_id: int) -> Any:
    return _membership_out(queries.customer_membership(scope_of(request), customer_id))


@router.post("/membership/purchases/{purchase_id}/refund", response={201: RefundOut, **WRITE_ERRORS},
             summary="HQ finance: refund a paid period under its plan's policy (pro rata: the unused share)")
def refund_purchase(request: HttpRequest, purchase_id: int, payload: RefundIn) -> Status[Any]:
    refund = services.refund_membership(scope=scope_of(request), purchase_id=purchase_id, reason=payload.reason,
                                        actor=actor_of(request))
    return Status(201, {"refund_id": refund.pk, "out_refund_no": refund.out_refund_no,
                        "amount_fen": refund.amount_fen, "status": refund.status})


class BuyIn(Input):
    idempotency_key: str = Field(default="", max_length=64)


@storefront_router.get("/membership", auth=CUSTOMER, response={200: ShopperMembershipOut, **ERRORS},
                       summary="My paid membership (status, end, benefits) and the plans on sale")
def shopper_membership(request: HttpRequest) -> Any:
    shopper = shopper_of(request)
    view = queries.membership_of(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id)
    return {"membership": _membership_out(view),
            "plans": [_plan_out(p) for p in queries.plans_on_sale(shopper.enterprise_id)]}


@storefront_router.post("/membership/plans/{plan_id}/buy", auth=CUSTOMER, response={201: PurchaseOut, **WRITE_ERRORS},
                        openapi_extra=KEY_HEADER_DOC,
                        summary="Buy a period of a plan: answers the purchase and its unpaid order, then pay it with "
                                "POST /api/storefront/orders/{order_id}/pay. 409 plan_unavailable / plan_expired")
def shopper_buy_membership(request: HttpRequest, plan_id: int, payload: BuyIn) -> Status[Any]:
    shopper = shopper_of(request)
    owner = f"e{shopper.enterprise_id}:c{shopper.customer_id}"

    def create(key: str) -> int:
        return services.buy_membership(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                       plan_id=plan_id, key=f"{owner}:{key}").pk

    return create_once(request, action="storefront.buy_membership", owner=owner, payload=payload, create=create,
                       render=lambda pk: _purchase_out(queries.get_purchase(shopper.enterprise_id, pk)),
                       path={"plan_id": plan_id})
