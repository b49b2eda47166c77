"""Points: earn on payment, unlock after the return window, reverse on refund, expire, redeem, adjust.

Every change is one transaction keyed by its business fact, recorded before the ledger is posted:

    order paid          lot `order:<order id>`, pending (nothing on the ledger until it unlocks)
    unlock (periodic)   run row, then `points-unlock:<run id>`    Dr points_expense    Cr points_liability
    refund completed    operation `refund:<after-sale id>`, then `points:<operation id>` for the part taken from
                        available lots                            Dr points_liability  Cr points_expense
    expiry (nightly)    run row, then `points-expire:<run id>`    Dr points_liability  Cr points_expense
    redemption          operation `redeem:<owner>:<client key>`, then `points:<operation id>`
                                                                  Dr points_liability  Cr sales_revenue
    adjustment (HQ)     + a lot `adjust:<owner>:<key>` posted at once   Dr points_expense  Cr points_liability
                        - an operation, as a reversal                  Dr points_liability  Cr points_expense

Points are taken from lots soonest-expiring first (the oldest, under one expiry policy), under row locks taken in that
order (`_locked_lots`), so two redemptions at once cannot spend the same points: the second sees what the first left.
The periodic jobs are set-based SQL per enterprise (a few statements whatever the number of lots) and safe to run
twice or concurrently: a lot is claimed by one run with a conditional UPDATE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from django_stubs_ext import StrPromise

from siyu.catalog import queries as catalog_queries
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import day_bounds, local_day
from siyu.customers import queries as customer_queries
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Event, Gender
from siyu.customers.services import EventRows
from siyu.finance import ledger
from siyu.finance.models import Account, EntryKind
from siyu.loyalty import queries as loyalty_queries
from siyu.loyalty.models import (
    CategoryRate,
    CheckIn,
    CheckInRule,
    CustomerTier,
    InteractionCursor,
    LotSource,
    LotStatus,
    Membership,
    MembershipCoupon,
    MembershipPlan,
    MembershipPurchase,
    MembershipStatus,
    OperationKind,
    PointsAllocation,
    PointsLot,
    PointsOperation,
    PointsProgram,
    PointsRun,
    PurchaseStatus,
    Redemption,
    RefundPolicy,
    Reward,
    RewardKind,
    Tier,
    TierBasis,
    TierChange,
    TierPolicy,
    TierRun,
    TierScore,
)
from siyu.orders import queries as order_queries
from siyu.orders.models import OrderStatus
from siyu.orders.services import gifts, virtual
from siyu.orders.services.placement import CheckoutInput
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services

MAX_POINTS = 10**9
MAX_RATE = 10_000
MAX_DAYS = 3650
CURRENCY = "CNY"
TIER_EVENT = "tier_changed"
INTERACTION_FIELDS = ("follow_oa_points", "add_staff_points", "profile_points")


# ---------------------------------------------------------------------------------------------------------------
# The program (HQ)


@dataclass(frozen=True)
class ProgramInput:
    points_per_yuan: int
    fen_per_point: int
    return_window_days: int
    expiry_days: int
    is_active: bool = True
    category_rates: tuple[tuple[int, int], ...] = ()  # (category id, points per yuan)
    ugc_points: int = 0
    follow_oa_points: int = 0
    add_staff_points: int = 0
    profile_points: int = 0
    checkout_points_per_yuan: int = 0  # 0: points cannot pay for orders
    checkout_max_percent: int = 50


def _require_hq(scope: Scope, refusal: StrPromise) -> None:
    if not scope.is_hq:
        raise PermissionDenied(refusal)


def _check_int(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed(_("a whole number from %(low)s to %(high)s")
            % {"low": low, "high": high}, field=field, code="out_of_range")
    return value


def configure_program(*, scope: Scope, data: ProgramInput, actor: Actor = None) -> PointsProgram:
    """Set the enterprise's points rules (HQ). The new rates apply to orders paid from then on; lots keep theirs."""
    _require_hq(scope, _("only HQ may change the points rules"))
    _check_int(data.points_per_yuan, "points_per_yuan", 0, MAX_RATE)
    _check_int(data.fen_per_point, "fen_per_point", 1, 10_000)
    _check_int(data.return_window_days, "return_window_days", 0, 365)
    _check_int(data.expiry_days, "expiry_days", 1, MAX_DAYS)
    _check_int(data.ugc_points, "ugc_points", 0, 100_000)
    _check_int(data.checkout_points_per_yuan, "checkout_points_per_yuan", 0, 100_000)
    _check_int(data.checkout_max_percent, "checkout_max_percent", 1, 99)
    for name in INTERACTION_FIELDS:
        _check_int(getattr(data, name), name, 0, 100_000)
    seen: set[int] = set()
    for index, (category_id, rate) in enumerate(data.category_rates):
        _check_int(rate, f"category_rates[{index}].points_per_yuan", 0, MAX_RATE)
        if category_id in seen:
            raise ValidationFailed(_("a category appears twice"), field=f"category_rates[{index}].category_id",
                                   index=index, code="duplicate")
        seen.add(category_id)
    known = set(catalog_queries.categories(scope).filter(pk__in=seen).values_list("pk", flat=True))
    for index, (category_id, _rate) in enumerate(data.category_rates):
        if category_id not in known:
            raise ValidationFailed(_("no category %(category_id)s")
                % {"category_id": category_id}, field=f"category_rates[{index}].category_id",
                                   index=index, code="unknown_category")
    values = {"points_per_yuan": data.points_per_yuan, "fen_per_point": data.fen_per_point,
              "return_window_days": data.return_window_days, "expiry_days": data.expiry_days,
              "is_active": data.is_active, "ugc_points": data.ugc_points,
              "checkout_points_per_yuan": data.checkout_points_per_yuan,
              "checkout_max_percent": data.checkout_max_percent,
              **{name: getattr(data, name) for name in INTERACTION_FIELDS}}
    with transaction.atomic():
        program, _created = PointsProgram.objects.select_for_update().get_or_create(
            enterprise_id=scope.enterprise_id, defaults=values)
        for name, value in values.items():
            setattr(program, name, value)
        program.save()
        CategoryRate.objects.filter(enterprise_id=scope.enterprise_id).delete()
        CategoryRate.objects.bulk_create([CategoryRate(enterprise_id=scope.enterprise_id, category_id=c,
                                                       points_per_yuan=r) for c, r in data.category_rates])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="points.program",
                     target_type="points_program", target_id=program.pk,
                     summary=audit.text(N_("%(points)s points per yuan, a point worth %(fen)s fen"),
                                        points=data.points_per_yuan, fen=data.fen_per_point),
                     changes={**values, "category_rates": [list(x) for x in data.category_rates]})
    return program


# ---------------------------------------------------------------------------------------------------------------
# Earning on payment


def _expiry(available_at: datetime, days: int) -> datetime:
    """The end of the Shanghai day `days` days after the points became available."""
    return day_bounds(local_day(available_at) + timedelta(days=days))[1]


def line_points(enterprise_id: int, program: PointsProgram, lines: Iterable[tuple[int, int, int | None]],
                multiplier: int = 100) -> dict[str, int]:
    """Points per order line (line id, paid fen, category id): floor(paid fen × rate × tier multiplier % / 10000),
    the rate of the line's category, else its parent's, else the program's."""
    rows = list(lines)
    rates = dict(CategoryRate.objects.filter(enterprise_id=enterprise_id).values_list("category_id",
                                                                                       "points_per_yuan"))
    parents: dict[int, int | None] = {}
    if rates:
        parents = dict(catalog_queries.categories(Scope.hq(enterprise_id)).filter(
            pk__in={c for _l, _f, c in rows if c is not None}).values_list("pk", "parent_id"))
    out: dict[str, int] = {}
    for line_id, paid_fen, category_id in rows:
        rate = program.points_per_yuan
        parent = parents.get(category_id) if category_id is not None else None
        if category_id is not None and category_id in rates:
            rate = rates[category_id]
        elif parent is not None and parent in rates:
            rate = rates[parent]
        points = max(paid_fen, 0) * rate * multiplier // 10_000
        if points > 0:
            out[str(line_id)] = points
    return out


def earn_for_order(enterprise_id: int, order_id: int, at: datetime) -> PointsLot | None:
    """An order was paid in full (orders' paid hook, inside the payment's transaction): its points, pending until
    the return window has passed. Once per order (the lot's key)."""
    program = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if program is None:
        return None
    order = order_queries.orders(Scope.hq(enterprise_id)).filter(pk=order_id).first()
    if order is None or order.customer_id is None or order.status != OrderStatus.PAID:
        return None
    if order.breakdown.get("virtual"):
        return None  # a paid-membership fee earns no points
    lines = list(order.lines.values_list("pk", "payable_fen", "category_id"))
    per_line = line_points(enterprise_id, program, lines, multiplier_percent(enterprise_id, order.customer_id, at))
    total = sum(per_line.values())
    growth = sum(max(paid, 0) for _line, paid, _category in lines) // 100
    if total <= 0:
        return None
    available_at = at + timedelta(days=program.return_window_days)
    key = f"order:{order_id}"
    existing = PointsLot.objects.filter(enterprise_id=enterprise_id, key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            lot = PointsLot.objects.create(
                enterprise_id=enterprise_id, customer_id=order.customer_id, source=LotSource.ORDER, key=key,
                order_id=order_id, points=total, remaining=total, fen_per_point=program.fen_per_point,
                status=LotStatus.PENDING, earned_at=at, available_at=available_at,
                expires_at=_expiry(available_at, program.expiry_days), line_points=per_line, growth=growth)
            if program.return_window_days == 0:
                _post_available_lot(lot, at)
            upgrade_if_qualified(enterprise_id, order.customer_id, at)
    except IntegrityError:  # the same order's points written meanwhile: the first lot stands
        return PointsLot.objects.filter(enterprise_id=enterprise_id, key=key).first()
    return lot


def _post_available_lot(lot: PointsLot, at: datetime, actor: Actor = None) -> None:
    """A lot that is available from the start (no return window, an adjustment, a reward): posted at once."""
    entry = ledger.post_entry(
        enterprise_id=lot.enterprise_id, kind=EntryKind.POINTS, key=f"points-lot:{lot.pk}", currency=CURRENCY,
        order_id=lot.order_id, posted_at=at, actor=actor, memo=f"points earned: {lot.key}",
        legs=[ledger.Leg(Account.POINTS_EXPENSE, Account.POINTS_LIABILITY, lot.points * lot.fen_per_point)])
    PointsLot.objects.filter(pk=lot.pk).update(status=LotStatus.AVAILABLE,
                                               journal_entry_id=entry.pk if entry else None)
    lot.status = LotStatus.AVAILABLE


def reward_ugc(enterprise_id: int, customer_id: int, reward_key: str) -> None:
    """An approved review or photo (content's reward hook, inside the approval's transaction): the program's
    `ugc_points`, available at once, once per submission (the lot's key is the submission's reward key)."""
    program = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if program is None or program.ugc_points <= 0:
        return
    key = f"reward:{reward_key}"
    if PointsLot.objects.filter(enterprise_id=enterprise_id, key=key).exists():
        return
    moment = timezone.now()
    with transaction.atomic():
        lot = PointsLot.objects.create(
            enterprise_id=enterprise_id, customer_id=customer_id, source=LotSource.REWARD, key=key,
            points=program.ugc_points, remaining=program.ugc_points, fen_per_point=program.fen_per_point,
            status=LotStatus.PENDING, earned_at=moment, available_at=moment,
            expires_at=_expiry(moment, program.expiry_days), reason=reward_key)
        _post_available_lot(lot, moment)
        upgrade_if_qualified(enterprise_id, customer_id, moment)


def grant_referral_points(*, enterprise_id: int, customer_id: int, points: int, key: str, reason: str,
                          at: datetime) -> PointsLot | None:
    """A referral reward (referrals' services, inside their transaction): a lot available at once, keyed by the
    reward's business fact (`referral:<key>`), so a second call with the key grants nothing more. Needs an active
    program (the value of a point); None without one."""
    return grant_reward_points(enterprise_id=enterprise_id, customer_id=customer_id, points=points,
                               key=f"referral:{key}", reason=reason, at=at)


def grant_reward_points(*, enterprise_id: int, customer_id: int, points: int, key: str, reason: str,
                        at: datetime) -> PointsLot | None:
    """A reward (a referral, a campaign's attached points): a lot available at once, keyed by the business fact
    (`key`, e.g. `campaign:<id>:customer:<id>:points`), so a second call with the key grants nothing more. Needs an
    active program (the value of a point); None without one."""
    program = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if program is None or points <= 0:
        return None
    lot_key = key
    existing = PointsLot.objects.filter(enterprise_id=enterprise_id, key=lot_key).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        lot = PointsLot.objects.create(
            enterprise_id=enterprise_id, customer_id=customer_id, source=LotSource.REWARD, key=lot_key,
            points=points, remaining=points, fen_per_point=program.fen_per_point, status=LotStatus.PENDING,
            earned_at=at, available_at=at, expires_at=_expiry(at, program.expiry_days), reason=reason[:200])
        _post_available_lot(lot, at)
        upgrade_if_qualified(enterprise_id, customer_id, at)
    return lot


def take_back_referral_points(*, enterprise_id: int, key: str, reason: str, at: datetime) -> PointsOperation | None:
    """A referral reward reversed (its qualifying order refunded): its points are taken back once, from its own lot
    first, then the customer's other points; what was already spent is the shortfall, as for a refund."""
    lot = PointsLot.objects.filter(enterprise_id=enterprise_id, key=f"referral:{key}").first()
    if lot is None:
        return None
    with transaction.atomic():
        operation, first = _operation(enterprise_id=enterprise_id, customer_id=lot.customer_id,
                                      kind=OperationKind.REVERSE, key=f"referral-reverse:{key}", at=at,
                                      reason=reason)
        if not first:
            return operation
        locked = _locked_lots(enterprise_id, lot.customer_id, at, first_lot_id=lot.pk)
        taken = _take(operation, locked, lot.points)
        operation.shortfall = lot.points - taken.points
        _post_taken(operation, taken, Account.POINTS_EXPENSE, at)
    return operation


# ---------------------------------------------------------------------------------------------------------------
# Taking points from lots (redemption, reversal, negative adjustment)


def _locked_lots(enterprise_id: int, customer_id: int, now: datetime, *, first_lot_id: int | None = None
                 ) -> list[PointsLot]:
    """The customer's lots with points left that may be taken, locked, in the order they are taken: the given lot
    first (a refund's own order), then available unexpired lots soonest-expiring first. Every taker locks in this
    order, so two of them never deadlock and the second waits for what the first leaves."""
    qs = PointsLot.objects.select_for_update().filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                                      remaining__gt=0)
    usable = Q(status=LotStatus.AVAILABLE, expires_at__gt=now)
    if first_lot_id is not None:
        usable |= Q(pk=first_lot_id)
    lots = list(qs.filter(usable).order_by("expires_at", "id"))
    if first_lot_id is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot_id)
    return lots


@dataclass(frozen=True)
class Taken:
    points: int
    ledger_fen: int  # the value taken from available lots (on the ledger); pending lots were never posted


def _take(operation: PointsOperation, lots: list[PointsLot], points: int) -> Taken:
    left, value = points, 0
    allocations = []
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        pending = lot.status == LotStatus.PENDING
        allocations.append(PointsAllocation(operation=operation, lot=lot, points=part, from_pending=pending))
        left -= part
        lot.remaining -= part
        update: dict[str, Any] = {"remaining": F("remaining") - part}
        if pending and lot.remaining == 0:
            update["status"] = LotStatus.CANCELLED
        PointsLot.objects.filter(pk=lot.pk).update(**update)
        if not pending:
            value += part * lot.fen_per_point
    PointsAllocation.objects.bulk_create(allocations)
    return Taken(points - left, value)


def _operation(*, enterprise_id: int, customer_id: int, kind: str, key: str, at: datetime, reason: str = "",
               order_id: int | None = None, actor: Actor = None) -> tuple[PointsOperation, bool]:
    """The operation row, recorded before anything moves; (the existing one, False) when the key was used."""
    try:
        with transaction.atomic():
            return PointsOperation.objects.create(
                enterprise_id=enterprise_id, customer_id=customer_id, kind=kind, key=key, points=0,
                order_id=order_id, reason=reason[:200], created_by=audit.user_of(actor), created_at=at), True
    except IntegrityError:
        existing = PointsOperation.objects.filter(enterprise_id=enterprise_id, key=key).first()
        if existing is None:
            raise
        return existing, False


def _post_taken(operation: PointsOperation, taken: Taken, credit: str, at: datetime, actor: Actor = None) -> None:
    entry = ledger.post_entry(
        enterprise_id=operation.enterprise_id, kind=EntryKind.POINTS, key=f"points:{operation.pk}",
        currency=CURRENCY, order_id=operation.order_id, posted_at=at, actor=actor,
        memo=f"points {operation.kind}: {operation.reason or operation.key}",
        legs=[ledger.Leg(Account.POINTS_LIABILITY, credit, taken.ledger_fen)])
    PointsOperation.objects.filter(pk=operation.pk).update(points=taken.points, shortfall=operation.shortfall,
                                                           journal_entry_id=entry.pk if entry else None)
    operation.points = taken.points
    operation.journal_entry_id = entry.pk if entry else None


def _same_request(operation: PointsOperation, customer_id: int, kind: str, points: int) -> PointsOperation:
    if operation.customer_id != customer_id or operation.kind != kind or operation.points != points:
        raise Conflict(_("this idempotency key was used for another points operation"), field="idempotency_key",
                       code="key_reused")
    return operation


def _check_request(points: Any, reason: str, key: str, *, allow_negative: bool = False) -> str:
    low = -MAX_POINTS if allow_negative else 1
    _check_int(points, "points", low, MAX_POINTS)
    if points == 0:
        raise ValidationFailed(_("points cannot be 0"), field="points", code="out_of_range")
    text = (reason or "").strip()
    if not text or len(text) > 200:
        raise ValidationFailed(_("say why (1-200 characters)"), field="reason", code="required")
    if not key or len(key) > 100:
        raise ValidationFailed(_("an idempotency key of 1-100 characters"), field="idempotency_key", code="required")
    return text


def redeem(*, scope: Scope, customer_id: int, points: int, reason: str, key: str, actor: Actor = None,
           now: datetime | None = None) -> PointsOperation:
    """Spend a customer's points (a gift handed over, a coupon): anyone who can see the customer. More than the
    customer holds (available and unexpired) is refused (409 insufficient_points) with nothing written. A repeat
    with the same key returns the first redemption."""
    text = _check_request(points, reason, key)
    customer = customer_queries.get_customer(scope, customer_id)
    moment = now or timezone.now()
    with transaction.atomic():
        operation, first = _operation(enterprise_id=scope.enterprise_id, customer_id=customer.pk,
                                      kind=OperationKind.REDEEM, key=f"redeem:{key}", at=moment, reason=text,
                                      actor=actor)
        if not first:
            return _same_request(operation, customer.pk, OperationKind.REDEEM, points)
        lots = _locked_lots(scope.enterprise_id, customer.pk, moment)
        held = sum(lot.remaining for lot in lots)
        if held < points:
            raise Conflict(_("the customer holds %(held)s points, fewer than %(points)s")
                % {"held": held, "points": points}, field="points",
                           code="insufficient_points")
        _post_taken(operation, _take(operation, lots, points), Account.SALES_REVENUE, moment, actor)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="points.redeem", target_type="customer",
                     target_id=customer.pk,
                     summary=audit.text(
                         N_("%(points)s points: %(reason)s"), points=f"-{points}",
                         reason=text[:200]),
                     changes={"points": points, "reason": text, "operation_id": operation.pk})
    return operation


def adjust(*, scope: Scope, customer_id: int, points: int, reason: str, key: str, actor: Actor = None,
           now: datetime | None = None) -> PointsOperation | PointsLot:
    """HQ adds (a lot, available at once, expiring under the program's policy) or removes points (taken like a
    redemption; more than held is refused) with a reason; audited."""
    _require_hq(scope, _("only HQ may adjust points"))
    text = _check_request(points, reason, key, allow_negative=True)
    customer = customer_queries.get_customer(scope, customer_id)
    moment = now or timezone.now()
    program = PointsProgram.objects.filter(enterprise_id=scope.enterprise_id).first()
    expiry_days = program.expiry_days if program else 365
    value = program.fen_per_point if program else 1
    result: PointsOperation | PointsLot
    with transaction.atomic():
        if points > 0:
            lot_key = f"adjust:{key}"
            lot = PointsLot.objects.filter(enterprise_id=scope.enterprise_id, key=lot_key).first()
            if lot is not None:
                if lot.customer_id != customer.pk or lot.points != points:
                    raise Conflict(_("this idempotency key was used for another points operation"),
                                   field="idempotency_key", code="key_reused")
                return lot
            lot = PointsLot.objects.create(
                enterprise_id=scope.enterprise_id, customer_id=customer.pk, source=LotSource.ADJUSTMENT, key=lot_key,
                points=points, remaining=points, fen_per_point=value, status=LotStatus.PENDING, earned_at=moment,
                available_at=moment, expires_at=_expiry(moment, expiry_days), reason=text)
            _post_available_lot(lot, moment, actor)
            result = lot
        else:
            operation, first = _operation(enterprise_id=scope.enterprise_id, customer_id=customer.pk,
                                          kind=OperationKind.ADJUST, key=f"adjust:{key}", at=moment, reason=text,
                                          actor=actor)
            if not first:
                return _same_request(operation, customer.pk, OperationKind.ADJUST, -points)
            lots = _locked_lots(scope.enterprise_id, customer.pk, moment)
            held = sum(lot.remaining for lot in lots)
            if held < -points:
                raise Conflict(_("the customer holds %(held)s points, fewer than %(value)s")
                    % {"held": held, "value": -points}, field="points",
                               code="insufficient_points")
            _post_taken(operation, _take(operation, lots, -points), Account.POINTS_EXPENSE, moment, actor)
            result = operation
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="points.adjust", target_type="customer",
                     target_id=customer.pk,
                     summary=audit.text(
                         N_("%(points)s points: %(reason)s"),
                         points=f"{points:+d}",
                         reason=text[:200]),
                     changes={"points": points, "reason": text})
    return result


# ---------------------------------------------------------------------------------------------------------------
# Points paying part of an order (checkout), given back on cancel and refund


def spend_at_checkout(*, enterprise_id: int, customer_id: int, order_id: int, order_no: str, points: int,
                      at: datetime) -> PointsOperation:
    """Take the points an order is placed with, inside the placement's transaction (the order rolls back with a
    refusal). They leave the balance when the order is placed, so they cannot pay for two orders; the entry moves
    their value from the points liability to sales revenue (they pay for goods), as a redemption's does. Placed
    with more than the customer holds now (another order or redemption took them since the preview) is
    `409 insufficient_points` and nothing is written. Keyed `checkout:<order id>`."""
    operation, first = _operation(enterprise_id=enterprise_id, customer_id=customer_id, kind=OperationKind.CHECKOUT,
                                  key=f"checkout:{order_id}", at=at, order_id=order_id, reason=f"order {order_no}")
    if not first:
        return operation
    lots = _locked_lots(enterprise_id, customer_id, at)
    held = sum(lot.remaining for lot in lots)
    if held < points:
        raise Conflict(_("you have %(balance)s points, fewer than %(points)s") % {"balance": held, "points": points},
                       field="points", code="insufficient_points")
    _post_taken(operation, _take(operation, lots, points), Account.SALES_REVENUE, at)
    return operation


def _give_back(operation: PointsOperation, points: int, key: str, at: datetime, reason: str) -> PointsLot | None:
    """A lot of `points` returned from an order's checkout points, available at once; the entry reverses the
    spend's (sales revenue back to the points liability). The lot is worth what the spent points were when they
    were all of one value (the usual case), else the programme's value now. Once per key."""
    if points <= 0 or PointsLot.objects.filter(enterprise_id=operation.enterprise_id, key=key).exists():
        return None
    program = PointsProgram.objects.filter(enterprise_id=operation.enterprise_id).first()
    values = set(PointsAllocation.objects.filter(operation=operation, from_pending=False)
                 .values_list("lot__fen_per_point", flat=True))
    value = values.pop() if len(values) == 1 else (program.fen_per_point if program else 1)
    lot = PointsLot.objects.create(
        enterprise_id=operation.enterprise_id, customer_id=operation.customer_id, source=LotSource.RETURNED, key=key,
        order_id=operation.order_id, points=points, remaining=points, fen_per_point=value,
        status=LotStatus.AVAILABLE, earned_at=at, available_at=at,
        expires_at=_expiry(at, program.expiry_days if program else 365), reason=reason[:200])
    entry = ledger.post_entry(
        enterprise_id=lot.enterprise_id, kind=EntryKind.POINTS, key=f"points-lot:{lot.pk}", currency=CURRENCY,
        order_id=lot.order_id, posted_at=at, memo=f"points returned: {key}",
        legs=[ledger.Leg(Account.SALES_REVENUE, Account.POINTS_LIABILITY, points * value)])
    PointsLot.objects.filter(pk=lot.pk).update(journal_entry_id=entry.pk if entry else None)
    return lot


def _returned_points(enterprise_id: int, order_id: int) -> int:
    return _sum_points(PointsLot.objects.filter(enterprise_id=enterprise_id, order_id=order_id,
                                                source=LotSource.RETURNED))


def _sum_points(qs: Any) -> int:
    return int(qs.aggregate(total=Sum("points"))["total"] or 0)


def return_for_cancelled(enterprise_id: int, order_ids: list[int], at: datetime) -> int:
    """Unpaid orders cancelled (orders' cancel hook, inside the cancelling transaction): every point they were
    placed with comes back. Returns how many points came back."""
    operations = list(PointsOperation.objects.filter(enterprise_id=enterprise_id, kind=OperationKind.CHECKOUT,
                                                     order_id__in=order_ids, points__gt=0))
    given = 0
    for operation in operations:  # the orders of one cancel or one expiry batch that used points
        assert operation.order_id is not None
        left = operation.points - _returned_points(enterprise_id, operation.order_id)
        if _give_back(operation, left, f"checkout-cancel:{operation.order_id}", at,
                      f"order {operation.order_id} cancelled") is not None:
            given += left
    return given


def return_for_refund(enterprise_id: int, order_id: int, after_sale_id: int, at: datetime) -> PointsLot | None:
    """A refund completed: the points the order was paid with come back in proportion to the money refunded
    (cumulatively: once the order is fully refunded, all of them), so any sequence of partial refunds sums to the
    whole. Keyed by the after-sale."""
    operation = PointsOperation.objects.filter(enterprise_id=enterprise_id, kind=OperationKind.CHECKOUT,
                                               order_id=order_id, points__gt=0).first()
    if operation is None:
        return None
    order = order_queries.orders(Scope.hq(enterprise_id)).filter(pk=order_id).first()
    if order is None:
        return None
    paid = refunded = 0
    for payable, refunded_fen in order.lines.values_list("payable_fen", "refunded_fen"):
        paid += max(payable, 0)
        refunded += min(max(refunded_fen, 0), max(payable, 0))
    target = operation.points if paid == 0 or refunded >= paid else operation.points * refunded // paid
    left = target - _returned_points(enterprise_id, order_id)
    return _give_back(operation, left, f"checkout-refund:{after_sale_id}", at,
                      f"refund of order {order.order_no}")


# ---------------------------------------------------------------------------------------------------------------
# Reversal on refund


def _reversal_target(lot: PointsLot, lines: dict[int, tuple[int, int]]) -> int:
    """How many of the order's points a refund has given back in all: per line, all of them once the line is fully
    refunded, else floor(points × refunded fen / paid fen), so any sequence of partial refunds sums to the whole."""
    target = 0
    for line_id, earned in (lot.line_points or {}).items():
        paid, refunded = lines.get(int(line_id), (0, 0))
        if paid <= 0 or refunded >= paid:
            target += int(earned)
        else:
            target += int(earned) * max(refunded, 0) // paid
    return target


def reverse_for_refund(enterprise_id: int, order_id: int, after_sale_id: int, at: datetime) -> PointsOperation | None:
    """A refund completed (orders' refund hook, inside its transaction): take back the points the refunded part
    earned, from the order's own lot first (pending or not), then from the customer's other points. What the
    customer has already spent is not clawed back: the shortfall is recorded and the balance never goes below 0."""
    lot = PointsLot.objects.filter(enterprise_id=enterprise_id, key=f"order:{order_id}").first()
    if lot is None:
        return None
    order = order_queries.orders(Scope.hq(enterprise_id)).filter(pk=order_id).first()
    if order is None:
        return None
    lines = {pk: (paid, refunded) for pk, paid, refunded in
             order.lines.values_list("pk", "payable_fen", "refunded_fen")}
    with transaction.atomic():
        operation, first = _operation(enterprise_id=enterprise_id, customer_id=lot.customer_id,
                                      kind=OperationKind.REVERSE, key=f"refund:{after_sale_id}", at=at,
                                      order_id=order_id, reason=f"refund of order {order.order_no}")
        if not first:
            return operation
        locked = _locked_lots(enterprise_id, lot.customer_id, at, first_lot_id=lot.pk)
        asked_before = PointsOperation.objects.filter(enterprise_id=enterprise_id, kind=OperationKind.REVERSE,
                                                      order_id=order_id).exclude(pk=operation.pk).aggregate(
            total=Sum(F("points") + F("shortfall")))["total"] or 0
        target = _reversal_target(lot, lines)
        asked = max(target - asked_before, 0)
        paid = sum(max(p, 0) for p, _r in lines.values())
        left = sum(max(p, 0) - min(max(r, 0), max(p, 0)) for p, r in lines.values())
        # what the tiers count: the points and growth this order still stands for (cumulative, so idempotent)
        PointsLot.objects.filter(pk=lot.pk).update(points_reversed=min(target, lot.points),
                                                   growth_reversed=max(lot.growth - left // 100, 0) if paid else 0)
        taken = _take(operation, locked, asked)
        operation.shortfall = asked - taken.points
        _post_taken(operation, taken, Account.POINTS_EXPENSE, at)
    return operation


# ---------------------------------------------------------------------------------------------------------------
# The periodic jobs: unlock pending lots, expire lots past their date (set-based, per enterprise)


def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def unlock_due(*, enterprise_id: int, now: datetime | None = None) -> PointsRun | None:
    """Pending lots whose return window has passed become available, and their value is posted to the points
    liability in one entry. A second run finds nothing left to claim."""
    cutoff = now or timezone.now()
    with transaction.atomic():
        run = PointsRun.objects.create(enterprise_id=enterprise_id, kind=PointsRun.Kind.UNLOCK, cutoff=cutoff)
        claimed = PointsLot.objects.filter(enterprise_id=enterprise_id, status=LotStatus.PENDING,
                                           available_at__lte=cutoff, remaining__gt=0).update(
            status=LotStatus.AVAILABLE, unlock_run=run)
        if not claimed:
            run.delete()
            return None
        totals = PointsLot.objects.filter(unlock_run=run).aggregate(
            points=Sum("remaining"), value=Sum(F("remaining") * F("fen_per_point")))
        entry = ledger.post_entry(
            enterprise_id=enterprise_id, kind=EntryKind.POINTS, key=f"points-unlock:{run.pk}", currency=CURRENCY,
            posted_at=cutoff, memo=f"points unlocked: {claimed} lots",
            legs=[ledger.Leg(Account.POINTS_EXPENSE, Account.POINTS_LIABILITY, int(totals["value"] or 0))])
        PointsRun.objects.filter(pk=run.pk).update(lots=claimed, points=int(totals["points"] or 0),
                                                   value_fen=int(totals["value"] or 0),
                                                   journal_entry_id=entry.pk if entry else None)
    run.refresh_from_db()
    return run


def expire_due(*, enterprise_id: int, now: datetime | None = None) -> PointsRun | None:
    """Available lots past their expiry lose what is left of them: one operation and allocation per lot (inserted
    by SELECT), the lots emptied, and one entry for the value. Claiming a lot is a conditional UPDATE (its row lock
    waits for a redemption in flight), so a lot expires once, however many runs overlap."""
    cutoff = now or timezone.now()
    lots, operations, allocations = _table(PointsLot), _table(PointsOperation), _table(PointsAllocation)
    with transaction.atomic():
        run = PointsRun.objects.create(enterprise_id=enterprise_id, kind=PointsRun.Kind.EXPIRE, cutoff=cutoff)
        # one pass claims and empties the lots (the right-hand sides read the row as it was)
        claimed = PointsLot.objects.filter(enterprise_id=enterprise_id, status=LotStatus.AVAILABLE,
                                           expires_at__lte=cutoff, remaining__gt=0).update(
            expire_run=run, expired=F("remaining"), remaining=0)
        if not claimed:
            run.delete()
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {operations} (enterprise_id, customer_id, kind, key, points, shortfall, order_id, "  # noqa: S608 - table names from the models, values are placeholders
                f"lot_id, run_id, reason, journal_entry_id, created_by_id, created_at) "
                f"SELECT enterprise_id, customer_id, %s, 'expire:' || CAST(id AS TEXT), expired, 0, order_id, id, "
                f"%s, '', NULL, NULL, %s FROM {lots} WHERE expire_run_id = %s",
                [OperationKind.EXPIRE.value, run.pk, connection.ops.adapt_datetimefield_value(cutoff), run.pk])
            cursor.execute(
                f"INSERT INTO {allocations} (operation_id, lot_id, points, from_pending) "  # noqa: S608 - as above
                f"SELECT id, lot_id, points, %s FROM {operations} WHERE run_id = %s", [False, run.pk])
        totals = PointsLot.objects.filter(expire_run=run).aggregate(
            points=Sum("expired"), value=Sum(F("expired") * F("fen_per_point")))
        entry = ledger.post_entry(
            enterprise_id=enterprise_id, kind=EntryKind.POINTS, key=f"points-expire:{run.pk}", currency=CURRENCY,
            posted_at=cutoff, memo=f"points expired: {claimed} lots",
            legs=[ledger.Leg(Account.POINTS_LIABILITY, Account.POINTS_EXPENSE, int(totals["value"] or 0))])
        # the run holds the entry for its operations (one entry for the whole batch)
        PointsRun.objects.filter(pk=run.pk).update(lots=claimed, points=int(totals["points"] or 0),
                                                   value_fen=int(totals["value"] or 0),
                                                   journal_entry_id=entry.pk if entry else None)
    run.refresh_from_db()
    return run


def _enterprises_with(**lot_filter: Any) -> list[int]:
    return list(PointsLot.objects.filter(**lot_filter).values_list("enterprise_id", flat=True)
                .distinct().order_by("enterprise_id"))


def unlock_all(*, now: datetime | None = None) -> int:
    cutoff = now or timezone.now()
    runs = [unlock_due(enterprise_id=e, now=cutoff)
            for e in _enterprises_with(status=LotStatus.PENDING, available_at__lte=cutoff, remaining__gt=0)]
    return sum(run.lots for run in runs if run is not None)


def expire_all(*, now: datetime | None = None) -> int:
    cutoff = now or timezone.now()
    runs = [expire_due(enterprise_id=e, now=cutoff)
            for e in _enterprises_with(status=LotStatus.AVAILABLE, expires_at__lte=cutoff, remaining__gt=0)]
    return sum(run.lots for run in runs if run is not None)


# ---------------------------------------------------------------------------------------------------------------
# Merging customers


def merge_customer_points(absorbed_id: int, survivor_id: int) -> int:
    """Lots and operations follow a merged customer (a customers merge step)."""
    moved = int(PointsLot.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id))
    PointsOperation.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    merge_customer_tiers(absorbed_id, survivor_id)
    merge_customer_check_ins(absorbed_id, survivor_id)
    merge_customer_membership(absorbed_id, survivor_id)
    return moved


# ---------------------------------------------------------------------------------------------------------------
# Free tiers: HQ defines them; a customer moves up as soon as they qualify, down only at the periodic evaluation
# once a grace period has passed below their tier's threshold.

MAX_TIERS = 10
MAX_THRESHOLD = 10**12
TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class TierInput:
    code: str
    name: str
    threshold: int
    multiplier_percent: int = 100
    benefits: str = ""


@dataclass(frozen=True)
class TierPolicyInput:
    basis: str
    window_days: int
    grace_days: int
    tiers: tuple[TierInput, ...] = ()


def _check_tiers(tiers: tuple[TierInput, ...]) -> None:
    if len(tiers) > MAX_TIERS:
        raise ValidationFailed(_("at most %(n)s tiers") % {"n": MAX_TIERS}, field="tiers", code="too_many")
    codes: set[str] = set()
    names: set[str] = set()
    previous = 0
    for index, tier in enumerate(tiers):
        where = f"tiers[{index}]"
        if not TIER_CODE.match(tier.code or ""):
            raise ValidationFailed(_("a code of 1-32 lower-case letters, digits, - or _"), field=f"{where}.code",
                                   index=index, code="invalid")
        name = (tier.name or "").strip()
        if not name or len(name) > 40:
            raise ValidationFailed(_("a name of 1-40 characters"), field=f"{where}.name", index=index,
                                   code="required")
        if tier.code in codes or name in names:
            raise ValidationFailed(_("two tiers have the same code or name"), field=f"{where}.code", index=index,
                                   code="duplicate")
        codes.add(tier.code)
        names.add(name)
        _check_int(tier.threshold, f"{where}.threshold", 1, MAX_THRESHOLD)
        if tier.threshold <= previous:
            raise ValidationFailed(_("each tier's threshold must be higher than the one before"),
                                   field=f"{where}.threshold", index=index, code="not_increasing")
        previous = tier.threshold
        _check_int(tier.multiplier_percent, f"{where}.multiplier_percent", 100, 1000)
        if len(tier.benefits or "") > 500:
            raise ValidationFailed(_("at most 500 characters"), field=f"{where}.benefits", index=index,
                                   code="too_long")


def configure_tiers(*, scope: Scope, data: TierPolicyInput, actor: Actor = None) -> TierPolicy:
    """Set how customers qualify and the tiers, lowest first (HQ). A tier left out is removed (kept inactive for the
    history), refused while customers hold it. Customers are re-placed by the next evaluation (up at once when they
    qualify for more; down after the grace period)."""
    _require_hq(scope, _("only HQ may change the tiers"))
    if data.basis not in TierBasis.values:
        raise ValidationFailed(_("growth value or points"), field="basis", code="invalid")
    _check_int(data.window_days, "window_days", 1, MAX_DAYS)
    _check_int(data.grace_days, "grace_days", 0, 365)
    _check_tiers(data.tiers)
    enterprise_id = scope.enterprise_id
    with transaction.atomic():
        policy, _created = TierPolicy.objects.select_for_update().update_or_create(
            enterprise_id=enterprise_id,
            defaults={"basis": data.basis, "window_days": data.window_days, "grace_days": data.grace_days})
        kept = {t.code for t in data.tiers}
        removed = Tier.objects.filter(enterprise_id=enterprise_id, is_active=True).exclude(code__in=kept)
        held = CustomerTier.objects.filter(enterprise_id=enterprise_id, tier__in=removed).values_list(
            "tier__name", flat=True).first()
        if held is not None:
            raise Conflict(_("customers hold the tier %(name)s: keep it until the evaluation has moved them")
                           % {"name": held}, field="tiers", code="tier_in_use")
        removed.update(is_active=False, rank=0)
        for rank, tier in enumerate(data.tiers, start=1):
            Tier.objects.update_or_create(enterprise_id=enterprise_id, code=tier.code, defaults={
                "name": tier.name.strip(), "rank": rank, "threshold": tier.threshold,
                "multiplier_percent": tier.multiplier_percent, "benefits": (tier.benefits or "").strip(),
                "is_active": True})
        audit.record(enterprise_id=enterprise_id, actor=actor, action="tiers.configure", target_type="tier_policy",
                     target_id=policy.pk,
                     summary=audit.text(
                         N_("%(tiers)s tiers by %(basis)s, %(window)s-day window, %(grace)s days' grace"),
                         tiers=len(data.tiers), basis=audit.label(TierBasis(data.basis).label),
                         window=data.window_days, grace=data.grace_days),
                     changes={"basis": data.basis, "window_days": data.window_days, "grace_days": data.grace_days,
                              "tiers": [[t.code, t.name, t.threshold, t.multiplier_percent] for t in data.tiers]})
    return policy


def qualified_tier(enterprise_id: int, value: int) -> Tier | None:
    return Tier.objects.filter(enterprise_id=enterprise_id, is_active=True, threshold__lte=value).order_by(
        "-rank").first()


def multiplier_percent(enterprise_id: int, customer_id: int, at: datetime | None = None) -> int:
    """The earn multiplier of the customer's tier now (100: ×1, no tier), times a running paid plan's."""
    row = CustomerTier.objects.filter(enterprise_id=enterprise_id, customer_id=customer_id,
                                      tier__is_active=True).values_list("tier__multiplier_percent", flat=True).first()
    member = Membership.objects.filter(
        enterprise_id=enterprise_id, customer_id=customer_id, status=MembershipStatus.ACTIVE,
        ends_at__gt=at or timezone.now()).values_list("plan__points_multiplier_percent", flat=True).first()
    return int(row or 100) * int(member or 100) // 100


def upgrade_if_qualified(enterprise_id: int, customer_id: int, at: datetime) -> TierChange | None:
    """Move the customer up at once when their value has reached a higher tier (after an earn, inside its
    transaction). Never down: that waits for the periodic evaluation and its grace period."""
    policy = TierPolicy.objects.filter(enterprise_id=enterprise_id).first()
    if policy is None:
        return None
    value = loyalty_queries.tier_value(policy, customer_id, at)
    target = qualified_tier(enterprise_id, value)
    if target is None:
        return None
    with transaction.atomic():
        try:
            with transaction.atomic():
                CustomerTier.objects.get_or_create(enterprise_id=enterprise_id, customer_id=customer_id,
                                                   defaults={"since": at})
        except IntegrityError:  # created meanwhile by another writer: lock that one
            pass
        current = CustomerTier.objects.select_for_update(of=("self",)).select_related("tier").get(
            customer_id=customer_id)
        rank = current.tier.rank if current.tier is not None and current.tier.is_active else 0
        if target.rank <= rank:
            return None
        change = TierChange.objects.create(enterprise_id=enterprise_id, customer_id=customer_id,
                                           from_tier=current.tier, to_tier=target,
                                           direction=TierChange.Direction.UP, value=value, at=at)
        CustomerTier.objects.filter(pk=current.pk).update(tier=target, since=at, below_since=None)
        customer_services.append_event(
            enterprise_id=enterprise_id, customer_id=customer_id, name=TIER_EVENT, occurred_at=at,
            idempotency_key=f"tier-change:{change.pk}",
            properties={"direction": "up", "from_tier": current.tier.code if current.tier else "",
                        "to_tier": target.code, "value": value})
    return change


def _sql(statement: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return int(cursor.rowcount or 0)


def _score(run: TierRun, policy: TierPolicy, now: datetime) -> None:
    """Each customer's value over the window and the tier it reaches, beside their tier now, as scratch rows."""
    lots, scores, holders, tiers = (_table(PointsLot), _table(TierScore), _table(CustomerTier), _table(Tier))
    sources = loyalty_queries.counted_sources(policy.basis)
    marks = ", ".join(["%s"] * len(sources))
    e, at = policy.enterprise_id, connection.ops.adapt_datetimefield_value
    _sql(f"INSERT INTO {scores} (run_id, customer_id, value, rank, current_rank) "  # noqa: S608 - names from models
         f"SELECT %s, customer_id, SUM({loyalty_queries.value_sql(policy.basis)}), 0, 0 FROM {lots} "
         f"WHERE enterprise_id = %s AND source IN ({marks}) AND earned_at >= %s AND earned_at <= %s "
         f"GROUP BY customer_id",
         [run.pk, e, *sources, at(loyalty_queries.window_start(policy, now)), at(now)])
    _sql(f"INSERT INTO {scores} (run_id, customer_id, value, rank, current_rank) "  # noqa: S608 - as above
         f"SELECT %s, h.customer_id, 0, 0, 0 FROM {holders} h WHERE h.enterprise_id = %s AND h.tier_id IS NOT NULL "
         f"AND NOT EXISTS (SELECT 1 FROM {scores} s WHERE s.run_id = %s AND s.customer_id = h.customer_id)",
         [run.pk, e, run.pk])
    _sql(f"UPDATE {scores} SET tier_id = (SELECT t.id FROM {tiers} t WHERE t.enterprise_id = %s "  # noqa: S608
         f"AND t.is_active = %s AND t.threshold <= {scores}.value ORDER BY t.rank DESC LIMIT 1), "
         f"current_tier_id = (SELECT h.tier_id FROM {holders} h WHERE h.customer_id = {scores}.customer_id) "
         f"WHERE run_id = %s", [e, True, run.pk])
    _sql(f"UPDATE {scores} SET rank = COALESCE((SELECT t.rank FROM {tiers} t WHERE t.id = {scores}.tier_id), 0), "  # noqa: S608
         f"current_rank = COALESCE((SELECT t.rank FROM {tiers} t WHERE t.id = {scores}.current_tier_id "
         f"AND t.is_active = %s), 0) WHERE run_id = %s", [True, run.pk])


def _record_changes(run: TierRun, direction: str, condition: str, now: datetime, params: list[Any] | None = None
                    ) -> int:
    """History rows for the scored customers matching `condition` (SQL over the scores), before they move."""
    scores, changes = _table(TierScore), _table(TierChange)
    return _sql(f"INSERT INTO {changes} (enterprise_id, customer_id, from_tier_id, to_tier_id, direction, value, "  # noqa: S608
                f"run_id, at) SELECT %s, customer_id, current_tier_id, tier_id, %s, value, %s, %s FROM {scores} "
                f"WHERE run_id = %s AND {condition}",
                [run.enterprise_id, direction, run.pk, connection.ops.adapt_datetimefield_value(now), run.pk,
                 *(params or [])])


def _apply_changes(run: TierRun, direction: str, now: datetime) -> int:
    """Move the customers this run recorded a change for to the tier recorded (rows created for the new)."""
    holders, changes = _table(CustomerTier), _table(TierChange)
    at = connection.ops.adapt_datetimefield_value(now)
    _sql(f"INSERT INTO {holders} (enterprise_id, customer_id, tier_id, since, below_since) "  # noqa: S608
         f"SELECT c.enterprise_id, c.customer_id, c.to_tier_id, %s, NULL FROM {changes} c WHERE c.run_id = %s "
         f"AND c.direction = %s AND NOT EXISTS (SELECT 1 FROM {holders} h WHERE h.customer_id = c.customer_id)",
         [at, run.pk, direction])
    return _sql(f"UPDATE {holders} SET tier_id = (SELECT c.to_tier_id FROM {changes} c WHERE c.run_id = %s "  # noqa: S608
                f"AND c.direction = %s AND c.customer_id = {holders}.customer_id), since = %s, below_since = NULL "
                f"WHERE enterprise_id = %s AND customer_id IN (SELECT c.customer_id FROM {changes} c "
                f"WHERE c.run_id = %s AND c.direction = %s)",
                [run.pk, direction, at, run.enterprise_id, run.pk, direction])


def evaluate_tiers(*, enterprise_id: int, now: datetime | None = None) -> TierRun | None:
    """The periodic evaluation for one enterprise, once per Shanghai day (the run's unique day: a second run or a
    second worker that day does nothing). A few set-based statements whatever the number of customers:
    score everyone with lots in the window or a tier; move up who qualifies for more; clear the grace of who
    qualifies again; start the grace of who fell below; move down (to the tier they qualify for, or none) who has
    been below since at least `grace_days` days ago. Each change is a history row and a `tier_changed` event."""
    moment = now or timezone.now()
    policy = TierPolicy.objects.filter(enterprise_id=enterprise_id).first()
    if policy is None:
        return None
    today = local_day(moment)
    scores, holders = _table(TierScore), _table(CustomerTier)
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = TierRun.objects.create(enterprise_id=enterprise_id, day=today, evaluated_at=moment)
        except IntegrityError:
            return None  # this day's evaluation ran (or is running in another worker)
        _score(run, policy, moment)
        upgraded = _record_changes(run, TierChange.Direction.UP, "rank > current_rank", moment)
        _apply_changes(run, TierChange.Direction.UP, moment)
        below = f"customer_id IN (SELECT customer_id FROM {scores} WHERE run_id = %s AND rank < current_rank)"  # noqa: S608
        _sql(f"UPDATE {holders} SET below_since = NULL WHERE enterprise_id = %s AND below_since IS NOT NULL "  # noqa: S608
             f"AND customer_id IN (SELECT customer_id FROM {scores} WHERE run_id = %s AND rank >= current_rank)",
             [enterprise_id, run.pk])
        day = connection.ops.adapt_datefield_value
        started = _sql(f"UPDATE {holders} SET below_since = %s WHERE enterprise_id = %s "  # noqa: S608
                       f"AND below_since IS NULL AND {below}", [day(today), enterprise_id, run.pk])
        due = day(today - timedelta(days=policy.grace_days))
        downgraded = _record_changes(
            run, TierChange.Direction.DOWN,
            f"rank < current_rank AND customer_id IN (SELECT customer_id FROM {holders} "  # noqa: S608
            f"WHERE enterprise_id = %s AND below_since <= %s)", moment, [enterprise_id, due])
        _apply_changes(run, TierChange.Direction.DOWN, moment)
        evaluated = TierScore.objects.filter(run=run).count()
        TierScore.objects.filter(run=run).delete()
        TierRun.objects.filter(pk=run.pk).update(customers=evaluated, upgraded=upgraded, downgraded=downgraded,
                                                 grace_started=started)
        _tier_events(run)
    run.refresh_from_db()
    return run


def _tier_events(run: TierRun) -> None:
    """One `tier_changed` event per change of the run (journeys react to them), keyed `tier-change:<change id>` like
    an upgrade on payment's: one INSERT … SELECT from the run's history rows, whatever their number."""
    changes, tiers = _table(TierChange), _table(Tier)
    customer_services.append_events_from(enterprise_id=run.enterprise_id, name=TIER_EVENT, rows=EventRows(
        source=f"{changes} c LEFT JOIN {tiers} ft ON ft.id = c.from_tier_id "
               f"LEFT JOIN {tiers} tt ON tt.id = c.to_tier_id",
        where="c.run_id = %s", params=(run.pk,), customer="c.customer_id", occurred_at="c.at",
        key="'tier-change:' || CAST(c.id AS VARCHAR(20))",
        properties=(("direction", "c.direction"), ("from_tier", "COALESCE(ft.code, '')"),
                    ("to_tier", "COALESCE(tt.code, '')"), ("value", "c.value"))))


def evaluate_all_tiers(*, now: datetime | None = None) -> int:
    """Every enterprise with tiers, once per Shanghai day (ticked hourly by the scheduler)."""
    moment = now or timezone.now()
    runs = [evaluate_tiers(enterprise_id=e, now=moment) for e in TierPolicy.objects.order_by(
        "enterprise_id").values_list("enterprise_id", flat=True)]
    return sum(run.upgraded + run.downgraded for run in runs if run is not None)


def merge_customer_tiers(absorbed_id: int, survivor_id: int) -> None:
    """The survivor keeps its tier row (the absorbed one's is dropped, its history follows); a survivor without one
    takes the absorbed one's. The lots have moved, so the survivor may now qualify for more."""
    TierChange.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    if CustomerTier.objects.filter(customer_id=survivor_id).exists():
        CustomerTier.objects.filter(customer_id=absorbed_id).delete()
    else:
        CustomerTier.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)


# ---------------------------------------------------------------------------------------------------------------
# Daily check-in


MAX_STREAK_DAY = 365


@dataclass(frozen=True)
class StreakBonus:
    day: int  # the streak length that earns it (7: the seventh day in a row)
    points: int


def configure_check_in(*, scope: Scope, is_active: bool, daily_points: int, bonuses: tuple[StreakBonus, ...],
                       actor: Actor = None) -> CheckInRule:
    """HQ's check-in rules: points each day and a bonus on the streak days listed (each day once, at most 31)."""
    _require_hq(scope, _("only HQ may change the check-in rules"))
    _check_int(daily_points, "daily_points", 0, 100_000)
    if len(bonuses) > 31:
        raise ValidationFailed(_("at most %(n)s streak bonuses") % {"n": 31}, field="streak_bonuses",
                               code="too_many")
    days: set[int] = set()
    for index, bonus in enumerate(bonuses):
        _check_int(bonus.day, f"streak_bonuses[{index}].day", 2, MAX_STREAK_DAY)
        _check_int(bonus.points, f"streak_bonuses[{index}].points", 1, 100_000)
        if bonus.day in days:
            raise ValidationFailed(_("a streak day appears twice"), field=f"streak_bonuses[{index}].day",
                                   index=index, code="duplicate")
        days.add(bonus.day)
    ordered = sorted(bonuses, key=lambda b: b.day)
    with transaction.atomic():
        rule, _created = CheckInRule.objects.update_or_create(enterprise_id=scope.enterprise_id, defaults={
            "is_active": is_active, "daily_points": daily_points,
            "streak_bonuses": [{"day": b.day, "points": b.points} for b in ordered]})
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="checkin.configure",
                     target_type="check_in_rule", target_id=rule.pk,
                     summary=audit.text(N_("%(points)s points a day, %(bonuses)s streak bonuses"), points=daily_points,
                                        bonuses=len(ordered)),
                     changes={"is_active": is_active, "daily_points": daily_points,
                              "streak_bonuses": [[b.day, b.points] for b in ordered]})
    return rule


def check_in_points(rule: CheckInRule, streak: int) -> int:
    bonus = sum(int(b["points"]) for b in rule.streak_bonuses if int(b["day"]) == streak)
    return int(rule.daily_points) + bonus


def check_in(*, enterprise_id: int, customer_id: int, now: datetime | None = None) -> tuple[CheckIn, bool]:
    """The customer checks in for today (Shanghai): (the check-in, True) the first time, (today's, False) after
    that. The points are a reward lot `checkin:<customer>:<day>`, available at once and posted to the ledger; the
    unique (customer, day) decides between concurrent calls, so a day grants once."""
    moment = now or timezone.now()
    rule = CheckInRule.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if rule is None:
        raise Conflict(_("check-in is not open"), code="check_in_closed")
    program = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if program is None:
        raise Conflict(_("check-in is not open"), code="check_in_closed")
    today = local_day(moment)
    existing = CheckIn.objects.filter(customer_id=customer_id, day=today).first()
    if existing is not None:
        return existing, False
    previous = CheckIn.objects.filter(customer_id=customer_id, day=today - timedelta(days=1)).values_list(
        "streak", flat=True).first()
    streak = int(previous or 0) + 1
    points = check_in_points(rule, streak)
    try:
        with transaction.atomic():
            row = CheckIn.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, day=today,
                                         streak=streak, points=points, created_at=moment)
            if points > 0:
                lot = PointsLot.objects.create(
                    enterprise_id=enterprise_id, customer_id=customer_id, source=LotSource.REWARD,
                    key=f"checkin:{customer_id}:{today.isoformat()}", points=points, remaining=points,
                    fen_per_point=program.fen_per_point, status=LotStatus.PENDING, earned_at=moment,
                    available_at=moment, expires_at=_expiry(moment, program.expiry_days),
                    reason=f"check-in {today.isoformat()} (day {streak})")
                _post_available_lot(lot, moment)
                CheckIn.objects.filter(pk=row.pk).update(lot=lot)
                row.lot = lot
            customer_services.append_event(
                enterprise_id=enterprise_id, customer_id=customer_id, name="check_in", occurred_at=moment,
                idempotency_key=f"check-in:{customer_id}:{today.isoformat()}", properties={"streak": streak})
            upgrade_if_qualified(enterprise_id, customer_id, moment)
    except IntegrityError:  # a concurrent call checked in first: its row stands
        return CheckIn.objects.get(customer_id=customer_id, day=today), False
    return row, True


def merge_customer_check_ins(absorbed_id: int, survivor_id: int) -> None:
    """Check-ins follow a merged customer, except on days the survivor checked in too (one per day)."""
    taken = CheckIn.objects.filter(customer_id=survivor_id).values("day")
    CheckIn.objects.filter(customer_id=absorbed_id, day__in=taken).delete()
    CheckIn.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)


# ---------------------------------------------------------------------------------------------------------------
# Interaction rewards: following the Official Account, adding a staff member, completing the profile. Each is granted
# once per customer (the lot's key `interaction:<kind>:<customer>` is the business fact: a re-follow or a second
# staff member earns nothing more), read set-based from what is new in the event log and the customers table.

INTERACTION_EVENTS = (("oa_followed", "follow_oa", "follow_oa_points"),
                      ("wecom_contact_added", "add_staff", "add_staff_points"))


def _grant_sql(kind: str, source: str) -> str:
    """INSERT the reward lots of `kind` for the customers `source` (SQL selecting customer_id) names, except those
    who have had it (the key)."""
    lots = _table(PointsLot)
    key = f"'interaction:{kind}:' || CAST(src.customer_id AS TEXT)"
    return (f"INSERT INTO {lots} (enterprise_id, customer_id, source, key, order_id, points, remaining, "  # noqa: S608 - names from models, values are placeholders
            f"fen_per_point, status, earned_at, available_at, expires_at, line_points, reason, growth, "
            f"growth_reversed, points_reversed, expired) "
            f"SELECT %s, src.customer_id, %s, {key}, NULL, %s, %s, %s, %s, %s, %s, %s, '{{}}', %s, 0, 0, 0, 0 "
            f"FROM ({source}) src WHERE NOT EXISTS (SELECT 1 FROM {lots} l WHERE l.enterprise_id = %s "
            f"AND l.key = {key})")


def grant_interactions(*, enterprise_id: int, now: datetime | None = None) -> int:
    """Reward lots for the interactions recorded since the last run, then unlock them onto the ledger in one entry
    (the unlock run). Runs under the cursor's row lock, so two workers take turns and a fact is granted once."""
    moment = now or timezone.now()
    program = PointsProgram.objects.filter(enterprise_id=enterprise_id, is_active=True).first()
    if program is None:
        return 0
    at = connection.ops.adapt_datetimefield_value
    expires = at(_expiry(moment, program.expiry_days))
    events, customers = _table(Event), _table(Customer)
    granted = 0
    with transaction.atomic():
        InteractionCursor.objects.get_or_create(enterprise_id=enterprise_id)
        cursor = InteractionCursor.objects.select_for_update().get(enterprise_id=enterprise_id)
        top = Event.objects.filter(enterprise_id=enterprise_id).order_by("-id").values_list("id", flat=True).first()
        for event_name, kind, field_name in INTERACTION_EVENTS:
            points = int(getattr(program, field_name))
            if points <= 0 or top is None:
                continue
            source = (f"SELECT customer_id FROM {events} WHERE enterprise_id = %s AND name = %s "  # noqa: S608
                      f"AND id > %s AND id <= %s GROUP BY customer_id")
            granted += _sql(_grant_sql(kind, source), [
                enterprise_id, LotSource.REWARD.value, points, points, program.fen_per_point,
                LotStatus.PENDING.value, at(moment), at(moment), expires, f"interaction: {kind}",
                enterprise_id, event_name, cursor.last_event_id, top, enterprise_id])
        if program.profile_points > 0:
            since = cursor.profiles_until
            source = (f"SELECT id AS customer_id FROM {customers} WHERE enterprise_id = %s "  # noqa: S608
                      f"AND merged_into_id IS NULL AND name <> '' AND phone <> '' AND birthday IS NOT NULL "
                      f"AND gender <> %s" + (" AND updated_at > %s" if since else ""))
            params = [enterprise_id, Gender.UNKNOWN.value, *([at(since)] if since else [])]
            granted += _sql(_grant_sql("profile", source), [
                enterprise_id, LotSource.REWARD.value, program.profile_points, program.profile_points,
                program.fen_per_point, LotStatus.PENDING.value, at(moment), at(moment), expires,
                "interaction: profile", *params, enterprise_id])
        InteractionCursor.objects.filter(pk=cursor.pk).update(
            last_event_id=max(cursor.last_event_id, top or 0), profiles_until=moment)
        if granted:
            unlock_due(enterprise_id=enterprise_id, now=moment)
    return granted


def grant_all_interactions(*, now: datetime | None = None) -> int:
    moment = now or timezone.now()
    return sum(grant_interactions(enterprise_id=e, now=moment) for e in PointsProgram.objects.filter(
        is_active=True).order_by("enterprise_id").values_list("enterprise_id", flat=True))


# ---------------------------------------------------------------------------------------------------------------
# The points catalogue (积分商城): gifts and coupons for points


MAX_REWARD_POINTS = 10_000_000
MAX_GIFT_QUANTITY = 10


@dataclass(frozen=True)
class RewardInput:
    kind: str
    name: str
    points: int
    sku_id: int | None = None
    coupon_template_id: int | None = None
    is_active: bool = True


def _check_reward(scope: Scope, data: RewardInput) -> str:
    if data.kind not in RewardKind.values:
        raise ValidationFailed(_("a gift or a coupon"), field="kind", code="invalid")
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("a name of 1-100 characters"), field="name", code="required")
    _check_int(data.points, "points", 1, MAX_REWARD_POINTS)
    if data.kind == RewardKind.GIFT:
        if data.sku_id is None or not catalog_queries.skus(scope).filter(pk=data.sku_id).exists():
            raise ValidationFailed(_("choose the SKU given"), field="sku_id", code="unknown_sku")
    elif data.coupon_template_id is None or not promotion_queries.coupon_templates(scope).filter(
            pk=data.coupon_template_id).exists():
        raise ValidationFailed(_("choose the coupon given"), field="coupon_template_id", code="unknown_template")
    return name


def save_reward(*, scope: Scope, data: RewardInput, reward_id: int | None = None, actor: Actor = None) -> Reward:
    """Add a reward to the catalogue or change one (HQ; audited `rewards.save`). A gift names a SKU (its stock is
    the SKU's), a coupon a coupon template; taking one off offer keeps its redemptions."""
    _require_hq(scope, _("only HQ may change the points catalogue"))
    if reward_id is not None and not Reward.objects.filter(enterprise_id=scope.enterprise_id, pk=reward_id).exists():
        raise NotFound(_("no such reward"), field="reward_id", code="not_found")
    name = _check_reward(scope, data)
    is_gift = data.kind == RewardKind.GIFT
    values = {"kind": data.kind, "name": name, "points": data.points, "is_active": data.is_active,
              "sku_id": data.sku_id if is_gift else None,
              "coupon_template_id": None if is_gift else data.coupon_template_id}
    with transaction.atomic():
        if reward_id is None:
            reward = Reward.objects.create(enterprise_id=scope.enterprise_id, **values)
        else:
            found = Reward.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=reward_id).first()
            if found is None:
                raise NotFound(_("no such reward"), field="reward_id", code="not_found")
            for field_name, value in values.items():
                setattr(found, field_name, value)
            found.save()
            reward = found
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="rewards.save", target_type="reward",
                     target_id=reward.pk,
                     summary=audit.text(N_("%(name)s: %(points)s points"), name=name[:100], points=data.points),
                     changes=values)
    return reward


def _same_redemption(found: Redemption, customer_id: int, reward_id: int, quantity: int) -> Redemption:
    if (found.customer_id, found.reward_id, found.quantity) != (customer_id, reward_id, quantity):
        raise Conflict(_("this idempotency key was used for another redemption"), field="idempotency_key",
                       code="key_reused")
    return found


def _give_reward(reward: Reward, *, enterprise_id: int, customer_id: int, quantity: int, key: str,
                 operation: PointsOperation, delivery: CheckoutInput | None, at: datetime) -> tuple[int | None,
                                                                                                  int | None]:
    """The gift order (stock taken) or the coupon; (order id, coupon id). Before the points are locked, so every
    writer takes stock or coupon rows first and the points lots last."""
    if reward.kind == RewardKind.GIFT:
        assert reward.sku_id is not None
        order = gifts.place_gift_order(enterprise_id=enterprise_id, customer_id=customer_id, sku_id=reward.sku_id,
                                       quantity=quantity, data=delivery or CheckoutInput(),
                                       paid_by=f"points:{operation.pk}", now=at)
        return order.pk, None
    assert reward.coupon_template_id is not None
    coupon = promotion_services.issue_coupon(enterprise_id=enterprise_id, template_id=reward.coupon_template_id,
                                             customer_id=customer_id, idempotency_key=f"reward:{key}"[:100], now=at)
    return None, coupon.pk


def redeem_reward(*, enterprise_id: int, customer_id: int, reward_id: int, key: str, quantity: int = 1,
                  delivery: CheckoutInput | None = None, now: datetime | None = None) -> Redemption:
    """The customer takes a reward for its points, all or nothing in one transaction: the operation row (keyed
    `reward:<key>`), the gift order with its stock (or the coupon), then the points from the lots, soonest-expiring
    first, posted like a redemption (points liability to sales revenue). More points than held is
    `409 insufficient_points`, a gift out of stock `409 out_of_stock`, a coupon sold out or at its limit the
    coupon's own code; nothing is written then. The same key again returns the first redemption."""
    if not key or len(key) > 100:
        raise ValidationFailed(_("an idempotency key of 1-100 characters"), field="idempotency_key", code="required")
    full_key = f"reward:{key}"
    found = Redemption.objects.filter(enterprise_id=enterprise_id, key=full_key).first()
    if found is not None:
        return _same_redemption(found, customer_id, reward_id, quantity)
    reward = Reward.objects.filter(enterprise_id=enterprise_id, pk=reward_id, is_active=True).first()
    if reward is None:
        raise NotFound(_("this reward is not on offer"), field="reward_id", code="reward_not_found")
    top = MAX_GIFT_QUANTITY if reward.kind == RewardKind.GIFT else 1
    _check_int(quantity, "quantity", 1, top)
    points, moment = reward.points * quantity, now or timezone.now()
    try:
        with transaction.atomic():
            operation, first = _operation(enterprise_id=enterprise_id, customer_id=customer_id,
                                          kind=OperationKind.REDEEM, key=full_key, at=moment,
                                          reason=f"{reward.name} × {quantity}")
            if not first:  # a concurrent request with this key committed first (its redemption with it)
                raise IntegrityError(full_key)
            order_id, coupon_id = _give_reward(reward, enterprise_id=enterprise_id, customer_id=customer_id,
                                               quantity=quantity, key=key, operation=operation, delivery=delivery,
                                               at=moment)
            lots = _locked_lots(enterprise_id, customer_id, moment)
            held = sum(lot.remaining for lot in lots)
            if held < points:
                raise Conflict(_("you have %(balance)s points, fewer than %(points)s") % {
                    "balance": held, "points": points}, field="points", code="insufficient_points")
            if order_id is not None:
                operation.order_id = order_id
                PointsOperation.objects.filter(pk=operation.pk).update(order_id=order_id)
            _post_taken(operation, _take(operation, lots, points), Account.SALES_REVENUE, moment)
            return Redemption.objects.create(
                enterprise_id=enterprise_id, customer_id=customer_id, reward=reward, key=full_key, quantity=quantity,
                points=points, operation=operation, order_id=order_id, coupon_id=coupon_id, created_at=moment)
    except IntegrityError:  # the same key redeemed meanwhile by a concurrent request
        found = Redemption.objects.filter(enterprise_id=enterprise_id, key=full_key).first()
        if found is None:
            raise
        return _same_redemption(found, customer_id, reward_id, quantity)


# ---------------------------------------------------------------------------------------------------------------
# Paid membership (付费会员): plans (HQ), bought through the payment path, renewed, expired, refunded

MAX_PLAN_PRICE_FEN = 10**8
MAX_PERIOD_DAYS = 3660
MAX_MONTHLY_COUPONS = 10
COUPON_MONTH = timedelta(days=30)
MEMBER_COUPON_BATCH = 500
_PLAN_CODE = re.compile(r"^[a-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class PlanInput:
    code: str
    name: str
    price_fen: int
    period_days: int
    points_multiplier_percent: int = 100
    member_price_percent: int = 100
    free_shipping: bool = False
    coupon_template_id: int | None = None
    coupons_per_month: int = 0
    refund_policy: str = RefundPolicy.PRO_RATA
    sale_ends_at: datetime | None = None
    is_active: bool = True


def _check_plan(scope: Scope, data: PlanInput) -> dict[str, Any]:
    if not _PLAN_CODE.match(data.code or ""):
        raise ValidationFailed(_("a code of 1-32 lower-case letters, digits, - or _"), field="code",
                               code="invalid_code")
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("a name of 1-100 characters"), field="name", code="required")
    _check_int(data.price_fen, "price_fen", 1, MAX_PLAN_PRICE_FEN)
    _check_int(data.period_days, "period_days", 1, MAX_PERIOD_DAYS)
    _check_int(data.points_multiplier_percent, "points_multiplier_percent", 100, 1000)
    _check_int(data.member_price_percent, "member_price_percent", 1, 100)
    _check_int(data.coupons_per_month, "coupons_per_month", 0, MAX_MONTHLY_COUPONS)
    if data.refund_policy not in RefundPolicy.values:
        raise ValidationFailed(_("pro rata or no refund"), field="refund_policy", code="invalid")
    template = data.coupon_template_id
    if data.coupons_per_month > 0 and (template is None or not promotion_queries.coupon_templates(scope).filter(
            pk=template).exists()):
        raise ValidationFailed(_("choose the coupon given each month"), field="coupon_template_id",
                               code="unknown_template")
    if data.sale_ends_at is not None and data.sale_ends_at.tzinfo is None:
        raise ValidationFailed(_("a time with its time zone"), field="sale_ends_at", code="naive_datetime")
    return {"code": data.code, "name": name, "price_fen": data.price_fen, "period_days": data.period_days,
            "points_multiplier_percent": data.points_multiplier_percent,
            "member_price_percent": data.member_price_percent, "free_shipping": data.free_shipping,
            "coupon_template_id": template if data.coupons_per_month > 0 else None,
            "coupons_per_month": data.coupons_per_month, "refund_policy": data.refund_policy,
            "sale_ends_at": data.sale_ends_at, "is_active": data.is_active}


def save_plan(*, scope: Scope, data: PlanInput, plan_id: int | None = None, actor: Actor = None) -> MembershipPlan:
    """Add or change a paid plan (HQ; audited `membership.plan`). A price or period changed applies to purchases
    from then on (each purchase keeps what it was bought at); off sale, members keep what they paid for."""
    _require_hq(scope, _("only HQ may set the paid membership plans"))
    values = _check_plan(scope, data)
    try:
        with transaction.atomic():
            if plan_id is None:
                plan = MembershipPlan.objects.create(enterprise_id=scope.enterprise_id, **values)
            else:
                found = MembershipPlan.objects.select_for_update().filter(enterprise_id=scope.enterprise_id,
                                                                          pk=plan_id).first()
                if found is None:
                    raise NotFound(_("no such plan"), field="plan_id", code="plan_not_found")
                for field_name, value in values.items():
                    setattr(found, field_name, value)
                found.save()
                plan = found
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="membership.plan",
                         target_type="membership_plan", target_id=plan.pk,
                         summary=audit.text(N_("%(name)s: %(price)s fen for %(days)s days"), name=values["name"],
                                            price=data.price_fen, days=data.period_days),
                         changes={**values, "sale_ends_at": data.sale_ends_at.isoformat() if data.sale_ends_at
                                  else None})
    except IntegrityError:
        raise Conflict(_("another plan has this code"), field="code", code="plan_code_taken") from None
    return plan


def _same_purchase(found: MembershipPurchase, customer_id: int, plan_id: int) -> MembershipPurchase:
    if (found.customer_id, found.plan_id) != (customer_id, plan_id):
        raise Conflict(_("this idempotency key was used for another purchase"), field="idempotency_key",
                       code="key_reused")
    return found


# the virtual-order kind a membership purchase is placed as (its paid hook runs only for these orders)
MEMBERSHIP_ORDER_KIND = "membership"


def buy_membership(*, enterprise_id: int, customer_id: int, plan_id: int, key: str,
                   now: datetime | None = None) -> MembershipPurchase:
    """The shopper buys a period of a plan: the purchase row and its unpaid order (one virtual line at the plan's
    price) in one transaction; the order is then paid through WeChat Pay like any other (finance's
    `start_payment`), and its paid hook (`activate_membership`) adds the period. A plan off sale is
    `409 plan_unavailable`, past its sale end `409 plan_expired`: nothing is written. The same key again returns
    the first purchase."""
    if not key or len(key) > 100:
        raise ValidationFailed(_("an idempotency key of 1-100 characters"), field="idempotency_key", code="required")
    full_key = f"membership:{key}"
    found = MembershipPurchase.objects.filter(enterprise_id=enterprise_id, key=full_key).first()
    if found is not None:
        return _same_purchase(found, customer_id, plan_id)
    moment = now or timezone.now()
    plan = MembershipPlan.objects.filter(enterprise_id=enterprise_id, pk=plan_id).first()
    if plan is None:
        raise NotFound(_("no such plan"), field="plan_id", code="plan_not_found")
    if not plan.is_active:
        raise Conflict(_("this plan is not on sale"), field="plan_id", code="plan_unavailable")
    if plan.sale_ends_at is not None and plan.sale_ends_at <= moment:
        raise Conflict(_("this plan is no longer sold"), field="plan_id", code="plan_expired")
    try:
        with transaction.atomic():
            order = virtual.place_virtual_order(
                enterprise_id=enterprise_id, customer_id=customer_id, kind=MEMBERSHIP_ORDER_KIND, name=plan.name,
                price_fen=plan.price_fen, currency=plan.currency, now=moment,
                details={"membership_plan_id": plan.pk, "period_days": plan.period_days})
            return MembershipPurchase.objects.create(
                enterprise_id=enterprise_id, customer_id=customer_id, plan=plan, key=full_key, order_id=order.pk,
                price_fen=plan.price_fen, period_days=plan.period_days, created_at=moment)
    except IntegrityError:  # the same key bought meanwhile by a concurrent request
        found = MembershipPurchase.objects.filter(enterprise_id=enterprise_id, key=full_key).first()
        if found is None:
            raise
        return _same_purchase(found, customer_id, plan_id)


def _locked_membership(enterprise_id: int, customer_id: int, plan_id: int, at: datetime) -> tuple[Membership, bool]:
    """The customer's membership row, locked (made expired-at-`at` when it is the first); (row, made now)."""
    row = Membership.objects.select_for_update().filter(customer_id=customer_id).first()
    if row is not None:
        return row, False
    try:
        with transaction.atomic():
            Membership.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, plan_id=plan_id,
                                      status=MembershipStatus.EXPIRED, started_at=at, ends_at=at)
    except IntegrityError:
        pass  # made by a concurrent first purchase: lock that one
    return Membership.objects.select_for_update().get(customer_id=customer_id), True


def activate_membership(enterprise_id: int, order_id: int, at: datetime) -> MembershipPurchase | None:
    """A membership order was paid (orders' paid hook, inside the payment's transaction): the purchase's period is
    added, starting now or, for a member still running, where the membership ends (a renewal). Once per purchase:
    the purchase moves from pending to paid under its row lock, so a replayed notify adds nothing."""
    purchase = MembershipPurchase.objects.select_for_update().filter(
        enterprise_id=enterprise_id, order_id=order_id).first()
    if purchase is None or purchase.status != PurchaseStatus.PENDING:
        return None
    membership, _made = _locked_membership(enterprise_id, purchase.customer_id, purchase.plan_id, at)
    running = membership.status == MembershipStatus.ACTIVE and membership.ends_at > at
    starts = membership.ends_at if running else at
    ends = starts + timedelta(days=purchase.period_days)
    gives_coupons = purchase.plan.coupons_per_month > 0 and purchase.plan.coupon_template_id is not None
    MembershipPurchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.PAID, starts_at=starts,
                                                            ends_at=ends, paid_at=at,
                                                            next_coupon_at=starts if gives_coupons else None)
    Membership.objects.filter(pk=membership.pk).update(
        plan_id=purchase.plan_id, status=MembershipStatus.ACTIVE, ends_at=ends, expired_at=None,
        started_at=membership.started_at if running else at)
    customer_services.append_event(
        enterprise_id=enterprise_id, customer_id=purchase.customer_id, name="membership_purchased",
        idempotency_key=f"membership-purchase:{purchase.pk}", occurred_at=at,
        properties={"plan": purchase.plan.code, "renewal": running, "price_fen": purchase.price_fen,
                    "ends_at": ends.isoformat()})
    purchase.refresh_from_db()
    return purchase


def expire_memberships(*, now: datetime | None = None) -> int:
    """Memberships whose end has passed become expired (the worker; one conditional UPDATE, safe to run twice)."""
    moment = now or timezone.now()
    return Membership.objects.filter(status=MembershipStatus.ACTIVE, ends_at__lte=moment).update(
        status=MembershipStatus.EXPIRED, expired_at=moment)


def grant_member_coupons(*, now: datetime | None = None, limit: int = MEMBER_COUPON_BATCH) -> int:
    """Each running paid period's benefit coupons for its current 30-day month, once (a `MembershipCoupon` row per
    purchase and month, unique, and coupon keys `member-coupon:<purchase>:<month>:<n>`). What is due is one indexed
    query (`next_coupon_at` passed); the coupons are issued through promotions' `issue_coupon` (its stock and limit
    rules), at most `limit` periods a run (the rest on the next tick). A coupon sold out is tried again next run."""
    moment = now or timezone.now()
    rows = list(MembershipPurchase.objects.filter(
        status=PurchaseStatus.PAID, next_coupon_at__lte=moment, ends_at__gt=moment).select_related("plan")
        .order_by("next_coupon_at", "pk")[:limit])
    return sum(1 for purchase in rows if _issue_member_coupons(purchase, moment))


def _issue_member_coupons(purchase: MembershipPurchase, at: datetime) -> bool:
    plan = purchase.plan
    assert purchase.starts_at is not None
    month = (at - purchase.starts_at) // COUPON_MONTH
    if plan.coupon_template_id is None or plan.coupons_per_month <= 0:
        MembershipPurchase.objects.filter(pk=purchase.pk).update(next_coupon_at=None)
        return False
    try:
        with transaction.atomic():
            ids = [promotion_services.issue_coupon(
                enterprise_id=purchase.enterprise_id, template_id=plan.coupon_template_id,
                customer_id=purchase.customer_id, idempotency_key=f"member-coupon:{purchase.pk}:{month}:{n}",
                now=at).pk for n in range(plan.coupons_per_month)]
            MembershipCoupon.objects.create(enterprise_id=purchase.enterprise_id, customer_id=purchase.customer_id,
                                            purchase=purchase, month=month, coupon_ids=ids, issued_at=at)
            MembershipPurchase.objects.filter(pk=purchase.pk).update(
                next_coupon_at=purchase.starts_at + COUPON_MONTH * (month + 1))
    except (Conflict, IntegrityError):
        return False
    return True


def refund_amount(purchase: MembershipPurchase, at: datetime) -> int:
    """What a refund now gives back under the plan's policy: the whole price before the period starts (a renewal
    not begun), else the unused share, floor(price × unused time / period); nothing under `none`."""
    if purchase.plan.refund_policy == RefundPolicy.NONE or purchase.starts_at is None or purchase.ends_at is None:
        return 0
    if at <= purchase.starts_at:
        return purchase.price_fen
    if at >= purchase.ends_at:
        return 0
    unit = timedelta(microseconds=1)
    return purchase.price_fen * ((purchase.ends_at - at) // unit) // ((purchase.ends_at - purchase.starts_at) // unit)


def refund_membership(*, scope: Scope, purchase_id: int, reason: str, actor: Actor = None,
                      now: datetime | None = None) -> Any:
    """HQ finance refunds a paid period under its plan's policy (finance's `refund_lines`: an approved after-sale,
    paid back through WeChat Pay; the refund's completion ends the period, `end_membership_for_refund`). A plan
    without refunds is `409 membership_not_refundable`, a period already over `409 nothing_to_refund`."""
    ledger.require_finance(scope)  # the gate first: region and store roles are refused before any look-up
    moment = now or timezone.now()
    purchase = MembershipPurchase.objects.select_related("plan").filter(enterprise_id=scope.enterprise_id,
                                                                        pk=purchase_id).first()
    if purchase is None or not customer_queries.visible_customer_ids(scope).filter(pk=purchase.customer_id).exists():
        raise NotFound(_("no such purchase"), field="purchase_id", code="purchase_not_found")
    if purchase.status != PurchaseStatus.PAID:
        raise Conflict(_("only a paid period can be refunded"), field="purchase_id", code="purchase_not_paid")
    if purchase.plan.refund_policy == RefundPolicy.NONE:
        raise Conflict(_("this plan gives no refunds"), field="purchase_id", code="membership_not_refundable")
    amount = refund_amount(purchase, moment)
    if amount <= 0:
        raise Conflict(_("this period is over: nothing to refund"), field="purchase_id", code="nothing_to_refund")
    from siyu.finance import services as finance_services  # finance's refund path (it never imports loyalty)

    line_id = order_queries.orders(Scope.hq(scope.enterprise_id)).get(pk=purchase.order_id).lines.get().pk
    return finance_services.refund_lines(
        scope=scope, order_id=purchase.order_id, reason=reason, actor=actor, now=moment,
        lines=[finance_services.LineRefund(line_id=line_id, quantity=0, amount_fen=amount)])


def end_membership_for_refund(enterprise_id: int, order_id: int, after_sale_id: int, at: datetime) -> int:
    """A membership order's refund completed (orders' refunded hook, in the refund's transaction): the period ends
    now (or is removed, when it had not started), the membership's end and any later period move earlier by what
    was cut; a membership left with no time is expired. Once per purchase (it moves from paid to refunded)."""
    purchase = MembershipPurchase.objects.select_for_update().filter(enterprise_id=enterprise_id,
                                                                     order_id=order_id).first()
    if purchase is None or purchase.status != PurchaseStatus.PAID:
        return 0
    assert purchase.starts_at is not None and purchase.ends_at is not None
    membership = Membership.objects.select_for_update().get(customer_id=purchase.customer_id)
    cut_from = max(purchase.starts_at, min(at, purchase.ends_at))
    cut = purchase.ends_at - cut_from
    MembershipPurchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.REFUNDED, refunded_at=at,
                                                            ends_at=cut_from, next_coupon_at=None)
    if cut > timedelta(0):
        MembershipPurchase.objects.filter(customer_id=purchase.customer_id, status=PurchaseStatus.PAID,
                                          starts_at__gte=purchase.ends_at).update(
            starts_at=F("starts_at") - cut, ends_at=F("ends_at") - cut, next_coupon_at=F("next_coupon_at") - cut)
    ends = membership.ends_at - cut
    over = ends <= at
    Membership.objects.filter(pk=membership.pk).update(
        ends_at=ends, status=MembershipStatus.EXPIRED if over else membership.status,
        expired_at=at if over else membership.expired_at)
    return 1


def merge_customer_membership(absorbed_id: int, survivor_id: int) -> None:
    """Merging customers: purchases follow the survivor; the survivor keeps its membership row, or takes the
    absorbed one's when it has none."""
    MembershipPurchase.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    MembershipCoupon.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    if not Membership.objects.filter(customer_id=survivor_id).exists():
        Membership.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
