"""Reading reconciliation results: the days (runs) with their counts, one run, its differences by kind. HQ finance
only, always within the caller's enterprise (another enterprise's run or difference is a 404)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.pagination import Page, paginate
from siyu.finance.ledger import require_finance
from siyu.finance.models import DifferenceKind, PayMerchant, ReconciliationDifference, ReconciliationRun
from siyu.org.scope import Scope

STATES = ("open", "resolved", "all")
KINDS: list[tuple[str, Any]] = list(DifferenceKind.choices)  # (value, lazy label)


def runs(scope: Scope, *, merchant_id: int | None = None, start: date | None = None, end: date | None = None,
         page: int = 1, page_size: int = 31) -> Page[ReconciliationRun]:
    require_finance(scope)
    qs = ReconciliationRun.objects.filter(enterprise_id=scope.enterprise_id).select_related("merchant")
    if merchant_id is not None:
        qs = qs.filter(merchant_id=merchant_id)
    if start is not None:
        qs = qs.filter(bill_date__gte=start)
    if end is not None:
        qs = qs.filter(bill_date__lte=end)
    qs = qs.annotate(open_count=Count("differences", filter=Q(differences__resolved_at=None)))
    return paginate(qs.order_by("-bill_date", "merchant_id"), page=page, page_size=page_size)


def get_run(scope: Scope, run_id: int) -> ReconciliationRun:
    require_finance(scope)
    run = (ReconciliationRun.objects.filter(pk=run_id, enterprise_id=scope.enterprise_id).select_related("merchant")
           .annotate(open_count=Count("differences", filter=Q(differences__resolved_at=None))).first())
    if run is None:
        raise NotFound(_("reconciliation run %(run_id)s not found") % {"run_id": run_id}, field="run_id")
    return run


def differences(scope: Scope, run_id: int, *, kind: str = "", state: str = "all", page: int = 1,
                page_size: int = 50) -> Page[ReconciliationDifference]:
    run = get_run(scope, run_id)
    if kind and kind not in DifferenceKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(DifferenceKind.values)}, field="kind",
                               code="unknown_kind")
    if state not in STATES:
        raise ValidationFailed(_("state is open, resolved or all"), field="state", code="unknown_state")
    qs = ReconciliationDifference.objects.filter(run=run, enterprise_id=scope.enterprise_id)
    if kind:
        qs = qs.filter(kind=kind)
    if state == "open":
        qs = qs.filter(resolved_at=None)
    elif state == "resolved":
        qs = qs.exclude(resolved_at=None)
    return paginate(qs.select_related("resolved_by").order_by("kind", "id"), page=page, page_size=page_size)


def merchants(scope: Scope) -> list[PayMerchant]:
    require_finance(scope)
    return list(PayMerchant.objects.filter(enterprise_id=scope.enterprise_id).order_by("id"))
