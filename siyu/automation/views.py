"""Console: the journeys (HQ and managers read; HQ starts one from a standard SOP, activates, pauses, archives) and
a journey's page with live per-node counts as a funnel (ECharts) and a table."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.automation import queries, services
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core.errors import DomainError, GateError

KINDS = {"wait": gettext_lazy("Wait"), "wait_event": gettext_lazy("Wait for an event"),
         "branch": gettext_lazy("Branch"), "action": gettext_lazy("Action"), "exit": gettext_lazy("Exit")}
ACTIONS = {"add_tag": gettext_lazy("Add a tag"), "remove_tag": gettext_lazy("Remove a tag"),
           "grant_points": gettext_lazy("Grant points"), "issue_coupon": gettext_lazy("Issue a coupon"),
           "create_task": gettext_lazy("Create a staff task")}


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
        out.append({"n": index, "kind": KINDS.get(node["kind"], node["kind"]), "detail": detail,
                    "title": node.get("title", ""), "minutes": node.get("minutes") or node.get("timeout_minutes"),
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
