"""What other apps do when an order is paid in full or a refund completes, without orders importing them.

Loyalty registers its points earning and reversal here when it starts. The hooks run inside the transaction that
marks the order paid (`states.mark_paid`, whichever path called it: the WeChat Pay notify, its query fallback, an
offline payment) or completes the refund (`after_sale.complete_refund`), so what they write commits or rolls back
with it; they are keyed by the business fact (the order, the after-sale) and safe to call twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

PaidHook = Callable[[int, int, datetime], Any]  # (enterprise_id, order_id, paid_at)
RefundedHook = Callable[[int, int, int, datetime], Any]  # (enterprise_id, order_id, after_sale_id, refunded_at)
CancelledHook = Callable[[int, list[int], datetime], Any]  # (enterprise_id, unpaid order ids, cancelled_at)

_PAID: dict[str, tuple[PaidHook, str | None]] = {}
_REFUNDED: dict[str, RefundedHook] = {}
_CANCELLED: dict[str, CancelledHook] = {}

# Points paying part of an order (loyalty registers them; the storefront's checkout calls them without importing it)
PointsOfferHook = Callable[[int, int, int, datetime], Any]  # (enterprise, customer, points asked, now) -> PointsOffer
PointsSpendHook = Callable[[int, int, int, str, int, datetime], Any]  # (enterprise, customer, order, no, points, at)
_POINTS: dict[str, tuple[PointsOfferHook, PointsSpendHook]] = {}
# A paid plan's checkout benefits (loyalty registers it): (enterprise, customer, now) -> pricing MemberOffer or None
MemberOfferHook = Callable[[int, int, datetime], Any]
_MEMBER: dict[str, MemberOfferHook] = {}


def register_paid(name: str, hook: PaidHook, *, virtual: str | None = None) -> None:
    """`virtual` names the one virtual-order kind (`place_virtual_order`'s `kind`, e.g. `membership`) the hook is
    for: it is not called for other orders, so a hook that only cares about its own kind costs them nothing."""
    _PAID[name] = (hook, virtual)


def register_refunded(name: str, hook: RefundedHook) -> None:
    _REFUNDED[name] = hook


def register_cancelled(name: str, hook: CancelledHook) -> None:
    _CANCELLED[name] = hook


def orders_cancelled(enterprise_id: int, order_ids: list[int], cancelled_at: datetime) -> None:
    """Unpaid orders cancelled (by the customer, by staff, or expired in a batch): what they held comes back."""
    for hook in _CANCELLED.values():
        hook(enterprise_id, order_ids, cancelled_at)


def register_checkout_points(name: str, offer: PointsOfferHook, spend: PointsSpendHook) -> None:
    _POINTS[name] = (offer, spend)


def checkout_points_offer(enterprise_id: int, customer_id: int, requested: int, now: datetime) -> Any:
    """What points may pay for this customer's order (a pricing PointsOffer), or None without a points app."""
    for offer, _spend in _POINTS.values():
        return offer(enterprise_id, customer_id, requested, now)
    return None


def register_checkout_member(name: str, offer: MemberOfferHook) -> None:
    _MEMBER[name] = offer


def checkout_member_offer(enterprise_id: int, customer_id: int, now: datetime) -> Any:
    """The customer's paid-plan benefits at checkout (a pricing MemberOffer), or None: not a member, or no loyalty."""
    for offer in _MEMBER.values():
        return offer(enterprise_id, customer_id, now)
    return None


def spend_checkout_points(enterprise_id: int, customer_id: int, order_id: int, order_no: str, points: int,
                          at: datetime) -> None:
    """Take the points an order is placed with, inside the placement's transaction (a refusal rolls it back)."""
    for _offer, spend in _POINTS.values():
        spend(enterprise_id, customer_id, order_id, order_no, points, at)


def order_paid(enterprise_id: int, order_id: int, paid_at: datetime, *, virtual: str = "") -> None:
    """`virtual` is the paid order's virtual kind (its breakdown's `virtual`), empty for goods."""
    for hook, only in _PAID.values():
        if only is None or only == virtual:
            hook(enterprise_id, order_id, paid_at)


def refund_completed(enterprise_id: int, order_id: int, after_sale_id: int, refunded_at: datetime) -> None:
    for hook in _REFUNDED.values():
        hook(enterprise_id, order_id, after_sale_id, refunded_at)
