"""Template filters for amounts kept in fen: `{{ fen|yuan }}` → "¥1,299.00"."""

from __future__ import annotations

from django import template

from siyu.core.money import Money

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    if fen is None or fen == "":
        return "—"
    return Money(int(fen)).display()
