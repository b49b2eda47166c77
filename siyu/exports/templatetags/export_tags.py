"""{% export_key as key %}: a fresh key for an export form, so a double click queues one export;
{{ job|export_error }}: why a run failed, in the reader's language."""

from __future__ import annotations

import uuid
from typing import Any

from django import template

from siyu.exports import queries

register = template.Library()


@register.simple_tag
def export_key() -> str:
    return uuid.uuid4().hex


@register.filter
def export_error(job: Any) -> str:
    return queries.error_text(job)
