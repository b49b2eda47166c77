"""Journey reads, always scoped: journeys and their per-node counts are HQ's and the managers' to see (HQ edits);
a customer's steps follow the customer's visibility; staff tasks: staff their own, store managers their store,
region managers their region, HQ all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.automation import graph
from siyu.automation.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    StaffTask,
    Step,
    TaskAssignment,
    TaskStatus,
)
from siyu.core.errors import NotFound, PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.org.models import Role
from siyu.org.scope import Scope


def _require_manager(scope: Scope) -> None:
    if not scope.is_manager:
        raise PermissionDenied(_("journeys are for HQ and managers"))


def journeys(scope: Scope) -> QuerySet[Journey]:
    _require_manager(scope)
    return (Journey.objects.filter(enterprise_id=scope.enterprise_id).select_related("current_version")
            .order_by("-updated_at", "-id"))


def get_journey(scope: Scope, journey_id: int) -> Journey:
    found = journeys(scope).filter(pk=journey_id).first()
    if found is None:
        raise NotFound(_("journey not found"), field="journey_id", code="journey_not_found")
    return found


@dataclass(frozen=True)
class NodeCount:
    node: str
    kind: str
    inside: int  # customers whose current node this is now
    passed: int  # steps recorded at it (all versions)
    outcomes: dict[str, int]


@dataclass(frozen=True)
class JourneyCounts:
    entered: int
    inside: int
    completed: int
    goal: int
    exited: int
    nodes: list[NodeCount]


def counts(scope: Scope, journey_id: int) -> JourneyCounts:
    """Live counts for the console's funnel: by status, and per node of the current version (customers inside it
    now, steps passed, outcomes)."""
    journey = get_journey(scope, journey_id)
    status = dict(Enrollment.objects.filter(journey=journey).values_list("status").annotate(n=Count("id"))
                  .values_list("status", "n"))
    inside = dict(Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE)
                  .values_list("current_node").annotate(n=Count("id")).values_list("current_node", "n"))
    outcomes: dict[str, dict[str, int]] = {}
    for node, outcome, n in (Step.objects.filter(journey_id_copy=journey.pk).values_list("node", "outcome")
                             .annotate(n=Count("id")).values_list("node", "outcome", "n")):
        outcomes.setdefault(node, {})[outcome] = n
    nodes: list[NodeCount] = []
    if journey.current_version is not None:
        for item in graph.parse(journey.current_version.definition).nodes:
            seen = outcomes.get(item.id, {})
            nodes.append(NodeCount(node=item.id, kind=item.kind, inside=inside.get(item.id, 0),
                                   passed=sum(seen.values()), outcomes=seen))
    return JourneyCounts(entered=sum(status.values()), inside=status.get(EnrollmentStatus.ACTIVE, 0),
                         completed=status.get(EnrollmentStatus.COMPLETED, 0),
                         goal=status.get(EnrollmentStatus.GOAL, 0), exited=status.get(EnrollmentStatus.EXITED, 0),
                         nodes=nodes)


def customer_steps(scope: Scope, customer_id: int) -> QuerySet[Step]:
    """Every step of a customer the scope may see, newest first (with the journey and the version)."""
    customer = customer_queries.get_customer(scope, customer_id)
    return (Step.objects.filter(enterprise_id=scope.enterprise_id, enrollment__customer_id=customer.pk)
            .select_related("enrollment__journey", "enrollment__version").order_by("-at", "-id"))


def tasks(scope: Scope, *, open_only: bool = False) -> QuerySet[StaffTask]:
    qs = StaffTask.objects.filter(enterprise_id=scope.enterprise_id)
    if scope.role == Role.STORE_STAFF:
        qs = qs.filter(staff_id=scope.staff_id or 0)
    elif scope.role == Role.STORE_MANAGER:
        qs = qs.filter(store_id__in=scope.store_ids)
    elif scope.role == Role.REGION_MANAGER:
        qs = qs.filter(store__region_id__in=scope.region_ids)
    if open_only:
        qs = qs.filter(status=TaskStatus.OPEN)
    return qs.select_related("customer", "staff", "store").order_by("due_at", "id")


def get_task(scope: Scope, task_id: int) -> StaffTask:
    found = tasks(scope).filter(pk=task_id).first()
    if found is None:
        raise NotFound(_("task not found"), field="task_id", code="task_not_found")
    return found


def execution_by_store(scope: Scope) -> list[dict[str, Any]]:
    """Per store in scope: tasks, done, and the execution rate (done / all), best first."""
    rows = (tasks(scope).values("store_id", "store__name")
            .annotate(total=Count("id"), done=Count("id", filter=Q(status=TaskStatus.DONE))).order_by())
    out = [{"store_id": r["store_id"], "store": r["store__name"] or "", "total": r["total"], "done": r["done"],
            "rate": round(r["done"] / r["total"], 4) if r["total"] else 0.0} for r in rows]
    return sorted(out, key=lambda r: (-r["rate"], r["store"]))


def my_tasks(scope: Scope, *, open_only: bool = True) -> QuerySet[StaffTask]:
    """The caller's own tasks (a staff member's phone page); HQ without a staff record sees none."""
    return tasks(scope, open_only=open_only).filter(staff_id=scope.staff_id or 0)


def assignments(scope: Scope) -> QuerySet[TaskAssignment]:
    """HQ's assignments, newest first, with how many of their tasks are done."""
    if not scope.is_hq:
        raise PermissionDenied(_("assignments are HQ's"))
    return (TaskAssignment.objects.filter(enterprise_id=scope.enterprise_id)
            .annotate(done=Count("tasks", filter=Q(tasks__status=TaskStatus.DONE))).order_by("-created_at", "-id"))
