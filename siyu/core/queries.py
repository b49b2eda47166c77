"""Read paths over the shared kernel's tables (the audit log).

The kernel knows nothing of organisations or scopes: callers decide who may read (the console shows this to HQ only)
and always name the enterprise, whose rows are the only ones returned.
"""

from __future__ import annotations

from django.db.models import Q

from siyu.core.models import AuditEntry
from siyu.core.pagination import Page, paginate


def audit_entries(
    *, enterprise_id: int, page: int = 1, page_size: int = 50, q: str = "", action: str = "", target_type: str = "",
    target_id: str = "",
) -> Page[AuditEntry]:
    """One enterprise's audit log, newest first. `q` matches the actor, the target id or the summary (the stored
    English or a reader's language: "打上标签" finds a row that reads so in Chinese); `action` is a prefix;
    `target_type` and `target_id` name the object (an order, a coupon template, ...) exactly."""
    qs = AuditEntry.objects.filter(enterprise_id=enterprise_id).select_related("actor").order_by("-created_at", "-id")
    text = q.strip()
    if text:
        qs = qs.filter(Q(actor_label__icontains=text) | Q(target_id=text) | Q(summary__icontains=text)
                       | Q(search_text__icontains=text))
    if action.strip():
        qs = qs.filter(action__startswith=action.strip())
    if target_type.strip():
        qs = qs.filter(target_type=target_type.strip())
    if target_id.strip():
        qs = qs.filter(target_id=target_id.strip())
    return paginate(qs, page=page, page_size=page_size)


def audit_vocabulary(*, enterprise_id: int) -> tuple[list[str], list[str]]:
    """The actions and the object types one enterprise's audit log holds (the filter's choices)."""
    rows = AuditEntry.objects.filter(enterprise_id=enterprise_id)
    actions = sorted(rows.order_by().values_list("action", flat=True).distinct())
    types = sorted(rows.order_by().values_list("target_type", flat=True).distinct())
    return actions, types

