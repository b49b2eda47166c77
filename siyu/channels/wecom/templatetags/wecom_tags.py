"""Template filters for WeCom pages: errcodes and error texts shown as their translated meaning."""

from __future__ import annotations

from django import template

from siyu.channels.wecom import errcodes

register = template.Library()


@register.filter
def errcode_meaning(errcode: int | str | None) -> str:
    """{{ item.errcode|errcode_meaning }}: "WeCom does not know this customer (errcode 40096)"."""
    return errcodes.describe(errcode)


@register.filter
def error_meaning(text: str) -> str:
    """{{ call.last_error|error_meaning }}: the meaning of the first errcode in an error text, else the text."""
    return errcodes.describe_text(text or "")
