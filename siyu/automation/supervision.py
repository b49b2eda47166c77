"""HQ supervision of store execution (reads): staff tasks by region, store and staff, each task in one of four
states at a moment: done on time (done by its deadline), done late, overdue (open past its deadline) and open (open,
deadline ahead). The execution rate is done on time over all; the completion rate done (on time or late) over all.
Scoped like the tasks: HQ all, region managers their region's stores, store managers their store.

One aggregate statement per grouping (conditional counts), never a loop over tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.automation import queries
from siyu.automation.models import StaffTask, TaskStatus
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.org.scope import Scope

GROUPS = {"region": ("store__region_id", "store__region__name"), "store": ("store_id", "store__name"),
          "staff": ("staff_id", "staff__name")}
MAX_DAYS = 366


@dataclass(frozen=True)
class Execution:
    key: int | None
    name: str
    total: int
    on_time: int
    late: int
    overdue: int
    open: int

    @property
    def done(self) -> int:
        return self.on_time + self.late

    @property
    def rate(self) -> float:
        """Execution rate: done on time over all."""
        return round(self.on_time / self.total, 4) if self.total else 0.0

    @property
    def done_rate(self) -> float:
        return round(self.done / self.total, 4) if self.total else 0.0


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("supervision is for HQ and managers"))


def window(scope: Scope, *, now: datetime, days: int = 30, kind: str = "") -> QuerySet[StaffTask]:
    """The tasks in scope whose deadline falls in the last `days` days or later (open ones ahead included)."""
    _require_manager(scope)
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(_("days is 1-366"), field="days", code="days_range")
    qs = queries.tasks(scope).filter(due_at__gte=now - timedelta(days=days))
    return qs.filter(kind=kind) if kind else qs


def execution(scope: Scope, *, by: str, now: datetime, days: int = 30, kind: str = "") -> list[Execution]:
    """Per region, store or staff member in scope: the four counts, best execution rate first."""
    if by not in GROUPS:
        raise ValidationFailed(_("group by region, store or staff"), field="by", code="unknown_grouping")
    key, name = GROUPS[by]
    is_open = Q(status=TaskStatus.OPEN)
    done = Q(status=TaskStatus.DONE)
    rows = (window(scope, now=now, days=days, kind=kind).values(key, name).order_by()
            .annotate(total=Count("id"), on_time=Count("id", filter=done & Q(done_at__lte=F("due_at"))),
                      late=Count("id", filter=done & Q(done_at__gt=F("due_at"))),
                      overdue=Count("id", filter=is_open & Q(due_at__lt=now)),
                      open=Count("id", filter=is_open & Q(due_at__gte=now))))
    out = [Execution(key=r[key], name=r[name] or "—", total=r["total"], on_time=r["on_time"], late=r["late"],
                     overdue=r["overdue"], open=r["open"]) for r in rows]
    return sorted(out, key=lambda e: (-e.rate, -e.done_rate, -e.total, e.name))


def totals(rows: list[Execution]) -> Execution:
    return Execution(key=None, name=str(_("All")), total=sum(r.total for r in rows),
                     on_time=sum(r.on_time for r in rows), late=sum(r.late for r in rows),
                     overdue=sum(r.overdue for r in rows), open=sum(r.open for r in rows))


def overdue(scope: Scope, *, now: datetime, days: int = 30, kind: str = "", limit: int = 200) -> list[StaffTask]:
    """Open tasks past their deadline, the longest overdue first."""
    return list(window(scope, now=now, days=days, kind=kind).filter(status=TaskStatus.OPEN, due_at__lt=now)
                .select_related("staff", "store", "customer").order_by("due_at", "id")[:limit])
