"""{% export_key as key %}: a fresh key for an export form, so a double click queues one export."""

from __future__ import annotations

import uuid

from django import template

register = template.Library()


@register.simple_tag
def export_key() -> str:
    return uuid.uuid4().hex
