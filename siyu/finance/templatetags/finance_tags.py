"""Template helpers for the finance pages: fen as money, account codes as their names."""

from __future__ import annotations

from typing import Any

from django import template

from siyu.core.money import Money
from siyu.finance.models import Account, EntryKind

register = template.Library()
_ACCOUNTS = dict(Account.choices)
_KINDS = dict(EntryKind.choices)


@register.filter
def money(value: Any, currency: str = "CNY") -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "—"
    return Money(value, currency or "CNY").display()


@register.filter
def account_label(code: str) -> str:
    return str(_ACCOUNTS.get(code, code))


@register.filter
def entry_kind(code: str) -> str:
    return str(_KINDS.get(code, code))


@register.filter
def hundredths(value: Any) -> str:
    """1250 -> "12.50": a rate in basis points as a percentage, or fen as yuan, for a form field."""
    if isinstance(value, bool) or not isinstance(value, int):
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


@register.filter
def percent_bp(value: Any) -> str:
    text = hundredths(value)
    return f"{text}%" if text else "—"


@register.filter
def product_role(code: str) -> str:
    """A product role code (traffic, profit, image) by its translated name."""
    from siyu.finance.commission_queries import PRODUCT_ROLES

    return str(dict(PRODUCT_ROLES).get(code, code))
