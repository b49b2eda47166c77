"""Journeys API, mounted at /api/journeys: drafts, edits (a new version; customers inside stay on theirs),
activate / pause / archive, the list, one journey with live per-node counts, and a customer's steps. HQ writes;
HQ and managers read; a customer's steps follow who may see the customer. Staff tasks: list and complete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.automation import queries, services, staff_tasks, supervision
from siyu.org.schemas import ErrorOut

router = Router()
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {**ERRORS, 409: ErrorOut}


class JourneyIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    definition: dict[str, Any] = Field(description="entry, reentry, goal and nodes (see siyu/automation/graph.py)")


class StatusIn(Schema):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern="^(live|paused|archived)$")


class JourneyOut(Schema):
    id: int
    name: str
    status: str
    version: int
    definition: dict[str, Any]
    updated_at: datetime


class NodeCountOut(Schema):
    node: str
    kind: str
    inside: int = Field(description="customers at this node now")
    passed: int = Field(description="steps recorded at this node")
    outcomes: dict[str, int]


class JourneyDetailOut(JourneyOut):
    entered: int
    inside: int
    completed: int
    goal: int
    exited: int
    nodes: list[NodeCountOut]


class StepOut(Schema):
    journey_id: int
    journey: str
    version: int
    node: str
    kind: str
    outcome: str
    code: str
    at: datetime


class TaskOut(Schema):
    id: int
    title: str
    kind: str
    status: str
    customer_id: int | None
    customer: str
    staff_id: int
    store_id: int | None
    assignment_id: int | None
    due_at: datetime
    done_at: datetime | None
    note: str


class DoneIn(Schema):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class AssignmentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(send_material|post_moment|invite_group|call)$")
    title: str = Field(min_length=1, max_length=120)
    instructions: str = Field(default="", max_length=2000)
    target: str = Field(pattern="^(region|store|staff)$")
    target_ids: list[int] = Field(min_length=1, max_length=500)
    due_at: datetime
    tag_id: int | None = Field(default=None, ge=1, description="the customers: the staff's own with this tag")
    account_id: int | None = Field(default=None, ge=1, description="WeCom account: also submit the mass send")


class AssignmentOut(Schema):
    id: int
    kind: str
    title: str
    target: str
    target_ids: list[int]
    due_at: datetime
    task_count: int
    done: int
    mass_send_id: int | None


class ExecutionOut(Schema):
    id: int | None
    name: str
    total: int
    on_time: int = Field(description="done by the deadline")
    late: int = Field(description="done after the deadline")
    overdue: int = Field(description="open past the deadline")
    open: int = Field(description="open, deadline ahead")
    rate: float = Field(description="execution rate: on time / total")
    done_rate: float


class RemindIn(Schema):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[int] | None = Field(default=None, max_length=2000)


class RemindedOut(Schema):
    tasks: int
    staff: int
    messages: int


def _out(journey: Any) -> dict[str, Any]:
    version = journey.current_version
    return {"id": journey.pk, "name": journey.name, "status": journey.status,
            "version": version.number if version else 0, "definition": version.definition if version else {},
            "updated_at": journey.updated_at}


def _fresh(request: HttpRequest, journey_id: int) -> dict[str, Any]:
    return _out(queries.get_journey(scope_of(request), journey_id))


@router.get("", response={200: list[JourneyOut], **ERRORS}, summary="HQ and managers: the journeys")
def list_journeys(request: HttpRequest) -> Any:
    return [_out(j) for j in queries.journeys(scope_of(request))[:200]]


@router.post("", response={201: JourneyOut, **WRITE_ERRORS}, summary="HQ: draft a journey (audited)")
def create_journey(request: HttpRequest, payload: JourneyIn) -> Status[Any]:
    journey = services.create_journey(scope=scope_of(request), name=payload.name, definition=payload.definition,
                                      actor=actor_of(request))
    return Status(201, _fresh(request, journey.pk))


@router.put("/{journey_id}", response={200: JourneyOut, **WRITE_ERRORS},
            summary="HQ: edit (a new version; customers inside finish on the version they entered)")
def edit_journey(request: HttpRequest, journey_id: int, payload: JourneyIn) -> Any:
    services.edit_journey(scope=scope_of(request), journey_id=journey_id, name=payload.name,
                          definition=payload.definition, actor=actor_of(request))
    return _fresh(request, journey_id)


@router.post("/{journey_id}/status", response={200: JourneyOut, **WRITE_ERRORS},
             summary="HQ: activate (live), pause or archive (those inside exit)")
def set_status(request: HttpRequest, journey_id: int, payload: StatusIn) -> Any:
    services.set_status(scope=scope_of(request), journey_id=journey_id, status=payload.status,
                        actor=actor_of(request))
    return _fresh(request, journey_id)


@router.get("/{journey_id}", response={200: JourneyDetailOut, **ERRORS},
            summary="HQ and managers: a journey with live counts per node")
def get_journey(request: HttpRequest, journey_id: int) -> Any:
    scope = scope_of(request)
    counts = queries.counts(scope, journey_id)
    return {**_fresh(request, journey_id), **{k: v for k, v in vars(counts).items() if k != "nodes"},
            "nodes": [vars(n) for n in counts.nodes]}


@router.get("/customers/{customer_id}/steps", response={200: list[StepOut], **ERRORS},
            summary="Every journey step of a customer the caller may see, newest first")
def customer_steps(request: HttpRequest, customer_id: int) -> Any:
    return [{"journey_id": s.enrollment.journey_id, "journey": s.enrollment.journey.name,
             "version": s.enrollment.version.number, "node": s.node, "kind": s.kind, "outcome": s.outcome,
             "code": s.code, "at": s.at} for s in queries.customer_steps(scope_of(request), customer_id)[:500]]


@router.get("/tasks/mine", response={200: list[TaskOut], **ERRORS},
            summary="Staff tasks in the caller's scope (staff: their own), open first by due time")
def list_tasks(request: HttpRequest, open_only: bool = True) -> Any:
    return [_task(t) for t in queries.tasks(scope_of(request), open_only=open_only)[:500]]


@router.post("/tasks/{task_id}/done", response={200: TaskOut, **WRITE_ERRORS},
             summary="Mark a staff task done (audited; done twice is done once)")
def complete_task(request: HttpRequest, task_id: int) -> Any:
    return _task(staff_tasks.complete(scope=scope_of(request), task_id=task_id, actor=actor_of(request)))


@router.post("/tasks/{task_id}/complete", response={200: TaskOut, **WRITE_ERRORS},
             summary="Mark a staff task done with a note (audited; done twice is done once, the first note stays)")
def complete_task_with_note(request: HttpRequest, task_id: int, payload: DoneIn) -> Any:
    return _task(staff_tasks.complete(scope=scope_of(request), task_id=task_id, note=payload.note,
                                      actor=actor_of(request)))


def _task(task: Any) -> dict[str, Any]:
    return {"id": task.pk, "title": task.title, "kind": task.kind, "status": task.status,
            "customer_id": task.customer_id, "customer": task.customer.name if task.customer else "",
            "staff_id": task.staff_id, "store_id": task.store_id, "assignment_id": task.assignment_id,
            "due_at": task.due_at, "done_at": task.done_at, "note": task.note}


@router.post("/tasks/assignments", response={201: AssignmentOut, **WRITE_ERRORS},
             summary="HQ: assign a task to regions, stores or staff with a deadline (audited)")
def create_assignment(request: HttpRequest, payload: AssignmentIn) -> Status[Any]:
    made = staff_tasks.create_assignment(scope=scope_of(request), data=staff_tasks.AssignmentIn(
        kind=payload.kind, title=payload.title, target=payload.target, target_ids=payload.target_ids,
        due_at=payload.due_at, instructions=payload.instructions, tag_id=payload.tag_id,
        account_id=payload.account_id), actor=actor_of(request))
    return Status(201, _assignment(queries.assignments(scope_of(request)).get(pk=made.pk)))


@router.get("/tasks/assignments", response={200: list[AssignmentOut], **ERRORS}, summary="HQ: the assignments")
def list_assignments(request: HttpRequest) -> Any:
    return [_assignment(a) for a in queries.assignments(scope_of(request))[:200]]


def _assignment(a: Any) -> dict[str, Any]:
    return {"id": a.pk, "kind": a.kind, "title": a.title, "target": a.target, "target_ids": a.target_ids,
            "due_at": a.due_at, "task_count": a.task_count, "done": a.done, "mass_send_id": a.mass_send_id}


@router.get("/tasks/supervision", response={200: list[ExecutionOut], **ERRORS},
            summary="HQ and managers: task execution by region, store or staff in scope")
def execution(request: HttpRequest, by: str = "store", days: int = 30, kind: str = "") -> Any:
    rows = supervision.execution(scope_of(request), by=by, now=timezone.now(), days=days, kind=kind)
    return [{"id": r.key, "name": r.name, "total": r.total, "on_time": r.on_time, "late": r.late,
             "overdue": r.overdue, "open": r.open, "rate": r.rate, "done_rate": r.done_rate} for r in rows]


@router.post("/tasks/supervision/remind", response={200: RemindedOut, **WRITE_ERRORS},
             summary="HQ and managers: remind the staff of overdue tasks (once per task per day, WeCom app message)")
def remind(request: HttpRequest, payload: RemindIn) -> Any:
    return vars(staff_tasks.remind_overdue(scope=scope_of(request), task_ids=payload.task_ids,
                                           actor=actor_of(request)))
