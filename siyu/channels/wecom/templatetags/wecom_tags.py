"""Template filters for WeCom pages: errcodes and error texts shown as their translated meaning."""

from __future__ import annotations

from typing import Any

from django import template

from siyu.channels.wecom import errcodes, schedules

register = template.Library()


@register.filter
def errcode_meaning(errcode: int | str | None) -> str:
    """{{ item.errcode|errcode_meaning }}: "WeCom does not know this customer (errcode 40096)"."""
    return errcodes.describe(errcode)


@register.filter
def error_meaning(text: str) -> str:
    """{{ call.last_error|error_meaning }}: the meaning of the first errcode in an error text, else the text."""
    return errcodes.describe_text(text or "")


@register.filter
def windows(value: Any) -> str:
    """Work or auto-accept windows in the console's notation (1-5 09:00-18:00; 6,7 10:00-14:00)."""
    return schedules.format_windows(value or [])
