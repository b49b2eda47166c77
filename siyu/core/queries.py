"""Read paths over the shared kernel's tables (the audit log).

The kernel knows nothing of organisations or scopes: callers decide who may read (the console shows this to HQ only)
and always name the enterprise, whose rows are the only ones returned.
"""

from __future__ import annotations

from django.db.models import Q

from siyu.core.models import AuditEntry
from siyu.core.pagination import Page, paginate


def audit_entries(
    *, enterprise_id: int, page: int = 1, page_size: int = 50, q: str = "", action: str = ""
) -> Page[AuditEntry]:
    """One enterprise's audit log, newest first. `q` matches the actor, the target id or the summary; `action` is a
    prefix."""
    qs = AuditEntry.objects.filter(enterprise_id=enterprise_id).select_related("actor").order_by("-created_at", "-id")
    text = q.strip()
    if text:
        qs = qs.filter(Q(actor_label__icontains=text) | Q(target_id=text) | Q(summary__icontains=text))
    if action.strip():
        qs = qs.filter(action__startswith=action.strip())
    return paginate(qs, page=page, page_size=page_size)

