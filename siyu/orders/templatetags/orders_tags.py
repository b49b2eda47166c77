"""Template helpers for the orders pages: amounts in fen shown as money, stored codes shown as labels."""

from __future__ import annotations

from typing import Any

from django import template

from siyu.core.money import Money
from siyu.orders import queries

register = template.Library()


@register.filter
def fen(value: Any, currency: str = "CNY") -> str:
    """12345 → ¥123.45 (integer fen only; anything else shows as —)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "—"
    return Money(value, currency or "CNY").display()


@register.filter
def order_label(value: str, kind: str) -> str:
    """A stored code's label: `{{ order.status|order_label:"status" }}`."""
    return queries.label(kind, value or "") if value else ""


_TONES = {
    "pending_payment": "amber", "deposit_paid": "amber", "paid": "blue", "shipped": "blue", "picked_up": "blue",
    "completed": "green", "cancelled": "grey", "refunded": "red", "requested": "amber", "approved": "blue",
    "rejected": "grey", "returned": "blue", "queued": "grey", "running": "blue", "done": "green", "failed": "red",
}


@register.filter
def tone(status: str) -> str:
    return _TONES.get(status, "grey")


@register.filter
def promotion_name(promotion: dict[str, Any]) -> str:
    """A breakdown promotion's name; the engine's own ones (free shipping, member price) translated."""
    from django.utils.translation import gettext as _

    kind = promotion.get("kind", "")
    if kind == "free_shipping":
        return _("Free shipping")
    if kind == "member_price":
        return _("Member price")
    return str(promotion.get("name", ""))
