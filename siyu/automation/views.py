"""Console: the journeys (HQ and managers read; HQ starts one from a standard SOP, activates, pauses, archives) and
a journey's page with live per-node counts as a funnel (ECharts) and a table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from siyu.automation import builder, queries, services, staff_tasks
from siyu.automation import supervision as supervision_queries
from siyu.channels.wecom import queries as wecom_queries
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError, PermissionDenied, ValidationFailed
from siyu.core.timeutil import SHANGHAI
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries

KINDS = {"wait": gettext_lazy("Wait"), "wait_event": gettext_lazy("Wait for an event"),
         "branch": gettext_lazy("Branch"), "action": gettext_lazy("Action"), "exit": gettext_lazy("Exit")}
ACTIONS = {"add_tag": gettext_lazy("Add a tag"), "remove_tag": gettext_lazy("Remove a tag"),
           "grant_points": gettext_lazy("Grant points"), "issue_coupon": gettext_lazy("Issue a coupon"),
           "create_task": gettext_lazy("Create a staff task")}
TASK_KINDS = [("journey", gettext_lazy("Journey follow-up")),
              ("send_material", gettext_lazy("Send material to customers")),
              ("post_moment", gettext_lazy("Post a moment")),
              ("invite_group", gettext_lazy("Invite customers to a group")),
              ("call", gettext_lazy("Call customers"))]


@console_view
def journeys(request: HttpRequest) -> HttpResponse:
    """The journeys, newest change first; POST `sop` starts a draft from a standard SOP (HQ)."""
    scope = scope_of(request)
    rows = queries.journeys(scope)
    if request.method == "POST":
        try:
            made = services.create_from_sop(scope=scope, sop=request.POST.get("sop", ""), actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("automation:journeys")
        messages.success(request, _("Draft created from the template."))
        return redirect("automation:journey", made.pk)
    return render(request, "automation/journeys.html", {"journeys": list(rows[:200]), "hq": scope.is_hq})


def _steps(definition: dict[str, Any], counts: queries.JourneyCounts) -> list[dict[str, Any]]:
    by_node = {n.node: n for n in counts.nodes}
    out = []
    for index, node in enumerate(definition.get("nodes", []), start=1):
        seen = by_node.get(node["id"])
        detail = ACTIONS.get(node.get("action", ""), "") if node["kind"] == "action" else ""
        title = node.get("title", "") if node.get("action") == "create_task" else ""  # only a task has a title
        out.append({"n": index, "kind": KINDS.get(node["kind"], node["kind"]), "detail": detail,
                    "title": title, "minutes": node.get("minutes") or node.get("timeout_minutes"),
                    "inside": seen.inside if seen else 0, "passed": seen.passed if seen else 0})
    return out


@console_view
def journey(request: HttpRequest, journey_id: int) -> HttpResponse:
    scope = scope_of(request)
    found = queries.get_journey(scope, journey_id)
    counts = queries.counts(scope, journey_id)
    definition = found.current_version.definition if found.current_version else {}
    steps = _steps(definition, counts)
    chart = {"names": [f"{s['n']}. {s['detail'] or s['kind']}" for s in steps],
             "values": [s["passed"] + s["inside"] for s in steps], "entered": counts.entered}
    return render(request, "automation/journey.html", {
        "j": found, "c": counts, "steps": steps, "chart": chart, "hq": scope.is_hq,
        "version": found.current_version.number if found.current_version else 0})


@require_POST
@console_view
def journey_status(request: HttpRequest, journey_id: int) -> HttpResponse:
    scope = scope_of(request)
    try:
        services.set_status(scope=scope, journey_id=journey_id, status=request.POST.get("status", ""),
                            actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Journey status changed."))
    return redirect("automation:journey", journey_id)


# ---------------------------------------------------------------------------------------------------------------
# The builder: a vertical step list (works at 375 px), edited by round trips (htmx swaps the form in place; without
# JavaScript the same buttons post the whole page). Saving validates with the journey graph and writes a version.

STARTER: dict[str, Any] = {"entry": {"kind": "event", "event": "wecom_contact_added"},
                           "nodes": [{"id": "1", "kind": "wait", "minutes": 60},
                                     {"id": "2", "kind": "action", "action": "create_task",
                                      "title": gettext_lazy("Say hello")}]}
CONDITIONS = {"has_tag": gettext_lazy("Has a tag"), "event_since_entry": gettext_lazy("An event since entry"),
              "random": gettext_lazy("Random split (A/B)")}
REENTRY = {"not_while_inside": gettext_lazy("Not while inside"), "once": gettext_lazy("Once ever"),
           "every_n_days": gettext_lazy("Once every N days"), "always": gettext_lazy("Every time")}
WEEKDAYS = [("0", gettext_lazy("Mon")), ("1", gettext_lazy("Tue")), ("2", gettext_lazy("Wed")),
            ("3", gettext_lazy("Thu")), ("4", gettext_lazy("Fri")), ("5", gettext_lazy("Sat")),
            ("6", gettext_lazy("Sun"))]


def _builder_page(request: HttpRequest, form: builder.BuilderForm, found: Any, counts: Any,
                  status: int = 200) -> HttpResponse:
    by_node = {n.node: n for n in counts.nodes} if counts is not None else {}
    rows = [{"i": i, "n": node, "count": by_node.get(node.id)} for i, node in enumerate(form.nodes)]
    partial = request.headers.get("HX-Request") == "true"
    response = render(request, "automation/_builder.html" if partial else "automation/builder.html", {
        "form": form, "rows": rows, "j": found, "kinds": KINDS, "actions": ACTIONS, "conditions": CONDITIONS,
        "reentry": REENTRY, "weekdays": WEEKDAYS, "count": len(form.nodes), "counts": counts,
        "live": found is not None and found.status == "live"}, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _save(request: HttpRequest, scope: Any, form: builder.BuilderForm, found: Any) -> Any:
    """The new journey (or its new version), or None with the errors placed on the form."""
    if builder.validate(form) is None:
        return None
    definition = builder.to_definition(form)
    try:
        if found is None:
            return services.create_journey(scope=scope, name=form.name, definition=definition, actor=request.user)
        return services.edit_journey(scope=scope, journey_id=found.pk, name=form.name, definition=definition,
                                     actor=request.user)
    except GateError:
        raise
    except DomainError as exc:
        builder.place_service_error(form, exc.field, exc.message)
        return None


@console_view
def journey_builder(request: HttpRequest, journey_id: int | None = None) -> HttpResponse:
    """HQ builds or edits a journey; editing a live one writes a new version (those inside stay on theirs)."""
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage journeys"))
    found = queries.get_journey(scope, journey_id) if journey_id is not None else None
    counts = queries.counts(scope, found.pk) if found is not None else None
    if request.method != "POST":
        definition = found.current_version.definition if found is not None and found.current_version else STARTER
        return _builder_page(request, builder.from_definition(found.name if found else "", definition), found, counts)
    form = builder.from_post(request.POST)
    op = request.POST.get("op", "save")
    if op != "save":
        builder.apply_op(form, op)
        return _builder_page(request, form, found, counts)
    saved = _save(request, scope, form, found)
    if saved is None:  # htmx swaps only 2xx answers; the page itself says 422
        htmx = request.headers.get("HX-Request") == "true"
        return _builder_page(request, form, found, counts, status=200 if htmx else 422)
    messages.success(request, _("Journey saved."))
    target = reverse("automation:journey", args=[saved.pk])
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


# ---------------------------------------------------------------------------------------------------------------
# Staff tasks: the staff member's phone page, the task list with HQ's assignments, and supervision


@console_view
def my_tasks(request: HttpRequest) -> HttpResponse:
    """A staff member's open tasks (a phone page): complete one with a note."""
    scope = scope_of(request)
    if request.method == "POST":
        try:
            task_id = int(request.POST.get("task_id", ""))
        except ValueError:
            messages.error(request, _("Pick a task."))
            return redirect("automation:my_tasks")
        try:
            staff_tasks.complete(scope=scope, task_id=task_id, note=request.POST.get("note", ""), actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Task done."))
        return redirect("automation:my_tasks")
    now = timezone.now()
    rows = list(queries.my_tasks(scope, open_only=True)[:200])
    done = list(queries.my_tasks(scope, open_only=False).filter(status="done").order_by("-done_at")[:20])
    return render(request, "automation/my_tasks.html", {"tasks": rows, "done": done, "now": now})


def _assignment_in(post: Any) -> staff_tasks.AssignmentIn:
    def ints(name: str) -> list[int]:
        out = []
        for index, raw in enumerate(post.getlist(name)):
            try:
                out.append(int(raw))
            except ValueError as exc:
                raise ValidationFailed(_("not a number"), field=f"{name}.{index}", code="invalid_number") from exc
        return out

    def one(name: str) -> int | None:
        raw = post.get(name, "").strip()
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise ValidationFailed(_("not a number"), field=name, code="invalid_number") from exc

    target = post.get("target", "")
    raw_due = post.get("due_at", "")
    try:
        due = datetime.fromisoformat(raw_due).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise ValidationFailed(_("pick a deadline"), field="due_at", code="bad_datetime") from exc
    return staff_tasks.AssignmentIn(kind=post.get("kind", ""), title=post.get("title", ""), target=target,
                                    target_ids=ints(f"{target}_ids" if target in ("region", "store", "staff")
                                                    else "target_ids"),
                                    due_at=due, instructions=post.get("instructions", ""), tag_id=one("tag_id"),
                                    account_id=one("account_id"))


@console_view
def task_list(request: HttpRequest) -> HttpResponse:
    """Every task in the caller's scope (HQ's assignments and the journeys' tasks together); HQ assigns new ones."""
    scope = scope_of(request)
    if not scope.is_manager:
        return redirect("automation:my_tasks")
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not scope.is_hq:
            raise PermissionDenied(_("only HQ may assign tasks"))
        try:
            made = staff_tasks.create_assignment(scope=scope, data=_assignment_in(request.POST), actor=request.user)
        except GateError:
            raise
        except DomainError as exc:
            errors[(exc.field or "").split(".")[0] or "form"] = exc.message
        else:
            messages.success(request, _("Assigned to %(n)s staff.") % {"n": made.task_count})
            return redirect("automation:task_list")
    kind = request.GET.get("kind", "")
    rows = queries.tasks(scope, open_only=request.GET.get("open") == "1")
    if kind in dict(TASK_KINDS):
        rows = rows.filter(kind=kind)
    context: dict[str, Any] = {"tasks": list(rows.select_related("assignment")[:300]), "hq": scope.is_hq,
                               "task_kinds": TASK_KINDS, "kind": kind, "errors": errors, "post": request.POST,
                               "now": timezone.now()}
    if scope.is_hq:
        context |= {"regions": list(org_queries.regions(scope).values_list("id", "name")[:500]),
                    "stores": list(org_queries.stores(scope).values_list("id", "name")[:1000]),
                    "staff": list(org_queries.staff(scope).filter(is_active=True).values_list("id", "name")[:1000]),
                    "tags": list(customer_queries.tags(scope).values_list("id", "name")[:500]),
                    "accounts": list(wecom_queries.accounts(scope).filter(is_active=True)
                                     .values_list("id", "name")[:20]),
                    "assignments": queries.assignments(scope)[:50], "hq_kinds": TASK_KINDS[1:]}
    return render(request, "automation/tasks.html", context, status=422 if errors else 200)


def _days(request: HttpRequest) -> int:
    try:
        return min(366, max(1, int(request.GET.get("days", "30"))))
    except ValueError:
        return 30


def _sheet(tables: dict[str, list[supervision_queries.Execution]], overdue: list[Any]) -> HttpResponse:
    book = Workbook(write_only=True)
    head = [_("Name"), _("Tasks"), _("Done on time"), _("Done late"), _("Overdue"), pgettext("task status", "Open"),
            _("Execution rate"), _("Completion rate")]
    for title, rows in tables.items():
        sheet = book.create_sheet(title[:31])
        sheet.append(head)
        for r in rows:
            sheet.append([r.name, r.total, r.on_time, r.late, r.overdue, r.open, r.rate, r.done_rate])
    sheet = book.create_sheet(_("Overdue")[:31])
    sheet.append([_("Task"), _("Staff"), _("Store"), _("Deadline")])
    for t in overdue:
        sheet.append([t.title, t.staff.name, t.store.name if t.store else "",
                      t.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")])
    response = HttpResponse(content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book.save(response)
    response["Content-Disposition"] = f'attachment; filename="task-execution-{timezone.localdate():%Y%m%d}.xlsx"'
    return response


@console_view
def supervision(request: HttpRequest) -> HttpResponse:
    """One page: execution by region, store and staff (chart and tables), the leaderboard, the overdue list with
    reminders, and the same as an Excel download. Scoped: a region manager sees their region's stores."""
    scope = scope_of(request)
    now = timezone.now()
    days, kind = _days(request), request.GET.get("kind", "")
    kind = kind if kind in dict(TASK_KINDS) else ""
    tables = {str(_("Regions")): supervision_queries.execution(scope, by="region", now=now, days=days, kind=kind),
              str(_("Stores")): supervision_queries.execution(scope, by="store", now=now, days=days, kind=kind),
              str(_("Staff")): supervision_queries.execution(scope, by="staff", now=now, days=days, kind=kind)}
    overdue = supervision_queries.overdue(scope, now=now, days=days, kind=kind)
    if request.GET.get("format") == "xlsx":
        return _sheet(tables, overdue)
    stores = tables[str(_("Stores"))]
    chart = {"names": [r.name for r in stores[:30]],
             "series": {"on_time": [r.on_time for r in stores[:30]], "late": [r.late for r in stores[:30]],
                        "overdue": [r.overdue for r in stores[:30]], "open": [r.open for r in stores[:30]]},
             "labels": {"on_time": str(_("Done on time")), "late": str(_("Done late")),
                        "overdue": str(_("Overdue")), "open": pgettext("task status", "Open")}}
    staff_rows = tables[str(_("Staff"))]
    return render(request, "automation/supervision.html", {
        "tables": tables, "total": supervision_queries.totals(staff_rows), "overdue": overdue,
        "leaders": staff_rows[:10], "chart": chart, "days": days, "kind": kind, "task_kinds": TASK_KINDS,
        "now": now})


@require_POST
@console_view
def supervision_remind(request: HttpRequest) -> HttpResponse:
    """Remind the staff of overdue tasks (all in scope, or the one named): once per task per day."""
    scope = scope_of(request)
    raw = request.POST.get("task_id", "")
    try:
        done = staff_tasks.remind_overdue(scope=scope, task_ids=[int(raw)] if raw else None, actor=request.user)
    except GateError:
        raise
    except (DomainError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", _("Pick a task.")))
    else:
        messages.success(request, _("%(tasks)s tasks reminded, %(messages)s WeCom messages queued.")
                         % {"tasks": done.tasks, "messages": done.messages})
    return redirect("automation:supervision")
