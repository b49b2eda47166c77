"""Template filters for Official Account pages: stored refusals shown as their translated meaning."""

from __future__ import annotations

from django import template

from siyu.channels.official_account import errcodes

register = template.Library()


@register.filter
def oa_error(text: str | None) -> str:
    """"45015: response out of time limit" -> "超出 48 小时回复时限… (errcode 45015)"; other text unchanged."""
    return errcodes.describe_text(text or "")
