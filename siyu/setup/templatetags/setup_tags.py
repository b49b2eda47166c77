"""Template filters for the set-up pages: a connection probe's platform answer shown as its translated meaning."""

from __future__ import annotations

from typing import Any

from django import template

from siyu.channels.official_account import errcodes as oa_errcodes
from siyu.channels.wecom import errcodes as wecom_errcodes

register = template.Library()


@register.filter
def probe_text(probe: Any, kind: str = "") -> str:
    """What a probe's code and detail mean for the account's kind (Official Account or WeCom), translated; the
    platform's own words only when the code is not one we know."""
    code = str(probe.get("code", "") if isinstance(probe, dict) else getattr(probe, "code", "") or "")
    detail = str(probe.get("detail", "") if isinstance(probe, dict) else getattr(probe, "detail", "") or "")
    if kind == "official_account":
        return oa_errcodes.meaning(code) or oa_errcodes.describe_text(detail)
    if kind == "wecom":
        return wecom_errcodes.meaning(code) or oa_errcodes.describe_text(detail)
    return detail
