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
