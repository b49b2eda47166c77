from __future__ import annotations

from django import template

from siyu.core.money import Money

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen as yuan without the currency sign (the template adds it)."""
    return Money(int(fen or 0)).display().lstrip("¥").strip()
