"""Points read paths: a customer's balance, lots and history, scoped like the customer's profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.loyalty.models import (
    CategoryRate,
    LotSource,
    LotStatus,
    OperationKind,
    PointsLot,
    PointsOperation,
    PointsProgram,
)
from siyu.org.scope import Scope

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


def program(scope: Scope) -> ProgramView:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may read the points rules"))
    row = PointsProgram.objects.filter(enterprise_id=scope.enterprise_id).first()
    rates = list(CategoryRate.objects.filter(enterprise_id=scope.enterprise_id).order_by("category_id")
                 .values_list("category_id", "points_per_yuan"))
    if row is None:
        return ProgramView(False, False, 1, 1, 7, 365, rates, 0)
    return ProgramView(True, row.is_active, row.points_per_yuan, row.fen_per_point, row.return_window_days,
                       row.expiry_days, rates, row.ugc_points)


def get_operation(scope: Scope, operation_id: int) -> PointsOperation:
    return PointsOperation.objects.get(pk=operation_id, enterprise_id=scope.enterprise_id)


def get_lot(scope: Scope, lot_id: int) -> PointsLot:
    return PointsLot.objects.get(pk=lot_id, enterprise_id=scope.enterprise_id)


__all__ = ["LotSource", "OperationKind"]
