"""Console pages for segments: list, builder (nested groups, every condition type, live count), detail with members,
history and export. Pages read through scoped queries and write through services."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.analytics.engine import EngineUnavailable
from siyu.audiences import export, queries, services
from siyu.audiences.builder import builder_context
from siyu.audiences.context import owner_scope
from siyu.console.access import scope_of
from siyu.console.views import console_view
from siyu.core import audit
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.org import queries as org_queries
from siyu.org.scope import Scope
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services as promotion_services

MEMBERS_PER_PAGE = 20
EMPTY_RULE = {"version": 1, "root": {"type": "group", "op": "and", "conditions": []}}


class SegmentCouponForm(forms.Form):
    """Which coupon to issue to a segment; the batch key is made when the form is shown (a double submit finds the
    first batch)."""

    template = forms.ChoiceField()
    batch_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].label = _("Coupon")
        field = self.fields["template"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "---------")] + [
            (str(t.pk), f"{t.name} · {promotion_queries.template_value(t)}")
            for t in promotion_queries.issuable_templates(scope)]


def _page(request: HttpRequest) -> int:
    try:
        return min(100_000, max(1, int(request.GET.get("page", "1"))))
    except ValueError:
        return 1


def _partial(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _rule_from(request: HttpRequest) -> Any:
    try:
        return json.loads(request.POST.get("rule") or "{}")
    except ValueError as exc:
        raise ValidationFailed(_("The rule is not valid JSON."), field="rule", code="rule_format") from exc


def _owner_choice(scope: Scope, value: str) -> tuple[int | None, int | None]:
    """'' (the default for the role), 'r<id>' a region or 's<id>' a store."""
    if value.startswith("s") and value[1:].isdigit():
        return None, int(value[1:])
    if value.startswith("r") and value[1:].isdigit():
        return int(value[1:]), None
    return None, None


def _owner_options(scope: Scope) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if scope.is_hq:
        out.append(("", _("Whole enterprise (HQ)")))
    if scope.role in ("hq_admin", "region_manager"):
        out += [(f"r{r.pk}", _("Region: %(name)s") % {"name": r.name}) for r in org_queries.regions(scope)]
    out += [(f"s{s.pk}", _("Store: %(name)s") % {"name": s.name}) for s in org_queries.stores(scope)]
    return out


@console_view
def segment_list(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    rows = [{"segment": s, "can_edit": queries.can_edit(scope, s)} for s in queries.segments(scope)[:500]]
    return render(request, "audiences/segment_list.html", {"rows": rows, "can_create": scope.is_manager})


def _builder(request: HttpRequest, scope: Scope, *, segment: Any = None, rule: Any = None, error: str = "",
             error_field: str = "", status: int = 200) -> HttpResponse:
    context = {
        "segment": segment,
        "rule_json": json.dumps(rule if rule is not None else (segment.rule if segment else EMPTY_RULE),
                                ensure_ascii=False),
        "owners": _owner_options(scope) if segment is None else [],
        "builder": builder_context(scope),
        "error": error,
        "error_field": error_field,
        "form": _initial(request, segment),
    }
    return render(request, "audiences/segment_builder.html", context, status=status)


def _initial(request: HttpRequest, segment: Any) -> dict[str, str]:
    if request.method == "POST":
        return {k: request.POST.get(k, "") for k in ("name", "description", "kind", "owner")}
    if segment is not None:
        return {"name": segment.name, "description": segment.description, "kind": segment.kind, "owner": ""}
    return {"name": "", "description": "", "kind": "dynamic", "owner": ""}


@console_view
def segment_new(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    queries.check_can_create(scope)
    if request.method != "POST":
        return _builder(request, scope)
    rule: Any = None
    try:
        rule = _rule_from(request)
        region_id, store_id = _owner_choice(scope, request.POST.get("owner", ""))
        kind = request.POST.get("kind", "dynamic")
        members: list[int] = []
        if kind == "static":
            owner = None
            if store_id or region_id:
                store = org_queries.stores(scope).filter(pk=store_id).first() if store_id else None
                owner = owner_scope(scope.enterprise_id, store.region_id if store else region_id,
                                    store.pk if store else None)
            members = queries.rule_member_ids(scope, rule, owner=owner)
        segment = services.create_segment(
            scope=scope, name=request.POST.get("name", ""), description=request.POST.get("description", ""),
            kind=kind, rule=rule, region_id=region_id, store_id=store_id, members=members, actor=request.user)
    except (ValidationFailed, Conflict, EngineUnavailable) as exc:
        return _builder(request, scope, rule=rule, error=exc.message, error_field=exc.field or "", status=422)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("audiences:detail", segment_id=segment.pk)


@console_view
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    queries.check_can_edit(scope, segment)
    if request.method != "POST":
        return _builder(request, scope, segment=segment)
    rule: Any = None
    try:
        rule = _rule_from(request)
        services.update_segment(scope=scope, segment=segment, name=request.POST.get("name", ""),
                                description=request.POST.get("description", ""), rule=rule, actor=request.user)
    except (ValidationFailed, Conflict) as exc:
        return _builder(request, scope, segment=segment, rule=rule, error=exc.message,
                        error_field=exc.field or "", status=422)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("audiences:detail", segment_id=segment.pk)


@console_view
@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The builder's live count and sample (htmx): the rule as it stands, within the viewer's scope."""
    scope = scope_of(request)
    context: dict[str, Any] = {}
    try:
        rule = _rule_from(request)
        if not rule.get("root", {}).get("conditions", True):
            context["empty"] = True
        else:
            region_id, store_id = _owner_choice(scope, request.POST.get("owner", ""))
            owner = None
            if store_id:
                store = org_queries.get_store(scope, store_id)
                owner = owner_scope(scope.enterprise_id, store.region_id, store.pk)
            elif region_id:
                owner = owner_scope(scope.enterprise_id, region_id, None)
            context["preview"] = queries.preview_members(scope, rule, owner=owner, limit=5)
    except (ValidationFailed, EngineUnavailable) as exc:
        context["error"] = exc.message
        context["error_field"] = exc.field or ""
    return render(request, "audiences/_preview.html", context)


@console_view
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    page = count = None
    error = ""
    try:
        page = queries.segment_members(scope, segment, page=_page(request), page_size=MEMBERS_PER_PAGE)
    except (EngineUnavailable, ValidationFailed) as exc:
        error = exc.message
    context: dict[str, Any] = {
        "segment": segment, "page": page, "count": count, "error": error,
        "can_edit": queries.can_edit(scope, segment), "can_export": scope.is_manager,
        "rule_json": json.dumps(segment.rule, ensure_ascii=False, indent=2),
        "builder": builder_context(scope),
    }
    if _partial(request) and request.GET.get("part") == "members":
        return render(request, "audiences/_members.html", context)
    context["history"] = queries.membership_history(scope, segment, limit=20)
    return render(request, "audiences/segment_detail.html", context)


@console_view
def segment_coupon(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Issue a coupon to the segment's members (those the operator may see): pick the coupon, see the count, confirm;
    the members are frozen as a coupon batch and issued in the background (promotions' batch page shows progress)."""
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    if not scope.is_manager:
        raise PermissionDenied(_("managers and HQ issue coupons to many customers at once"))
    form = SegmentCouponForm(scope, request.POST or None, initial={"batch_key": uuid.uuid4().hex})
    context: dict[str, Any] = {"segment": segment, "form": form, "count": None, "template": None}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            template = promotion_queries.get_coupon_template(scope, int(data["template"]))
            customers = queries.segment_customers(scope, segment)
            if request.POST.get("confirmed") != "1":
                context.update(count=customers.count(), template=template,
                               value=promotion_queries.template_value(template))
            else:
                targets = promotion_services.BatchTargets(
                    source="segment", label=segment.name, params={"segment_id": segment.pk}, customers=customers)
                batch = promotion_services.start_coupon_batch(
                    scope=scope, template_id=template.pk, targets=targets, batch_key=data["batch_key"],
                    actor=request.user)
                return redirect("promotions:coupon_batch", batch_id=batch.pk)
        except (Conflict, ValidationFailed) as exc:
            form.add_error("template" if exc.field in (None, "template_id") else None, exc.message)
    return render(request, "audiences/segment_coupon.html", context)


@console_view
def segment_export(request: HttpRequest, segment_id: int, fmt: str) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    if not scope.is_manager:
        raise PermissionDenied(_("Exports are for HQ and managers."))
    if fmt not in ("csv", "xlsx"):
        raise NotFound(_("unknown export format"))
    audit.record(enterprise_id=scope.enterprise_id, actor=request.user, action="segment.export", target_type="segment",
                 target_id=segment.pk,
                 summary=audit.text(
                     N_("exported %(segment)s (%(format)s)"),
                     segment=segment.name, format=fmt))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    rows = queries.export_members(scope, segment)
    if fmt == "xlsx":
        response = HttpResponse(export.xlsx_bytes(scope, rows, title=segment.name),
                                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-{stamp}.xlsx"'
        return response
    streamed = StreamingHttpResponse(export.csv_lines(scope, rows), content_type="text/csv; charset=utf-8")
    streamed["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-{stamp}.csv"'
    return streamed  # type: ignore[return-value]


@console_view
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    services.delete_segment(scope=scope, segment=segment, actor=request.user)
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("audiences:index")


@console_view
@require_POST
def segment_snapshot(request: HttpRequest, segment_id: int) -> HttpResponse:
    scope = scope_of(request)
    segment = queries.get_segment(scope, segment_id)
    queries.check_can_edit(scope, segment)
    try:
        members = queries.rule_member_ids(scope, segment.rule, owner=queries.owner_of(segment))
        services.refreeze_segment(scope=scope, segment=segment, members=members, actor=request.user)
        messages.success(request, _("Members frozen again: %(n)s.") % {"n": len(members)})
    except (ValidationFailed, EngineUnavailable) as exc:
        messages.error(request, exc.message)
    return redirect("audiences:detail", segment_id=segment.pk)


# ---------------------------------------------------------------------------------------------------------------
# RFM, lifecycle, super users, rule tags


def _rfm_context(request: HttpRequest, scope: Scope) -> dict[str, Any]:
    from siyu.audiences.builder import rfm_cell_labels, stage_labels
    from siyu.audiences.rules import LIFECYCLE_STAGES, RFM_CELLS

    context: dict[str, Any] = {"is_hq": scope.is_hq, "rules": queries.lifecycle_rules(scope),
                               "pending": queries.pending_run(scope)}
    try:
        overview = queries.rfm_overview(scope)
        context["overview"] = overview
        supers = queries.super_users(scope, limit=20)
    except EngineUnavailable as exc:
        context["error"] = exc.message
        return context
    cells, stages = rfm_cell_labels(), stage_labels()
    context["supers"] = [{"s": s, "cell": cells.get(s.cell, "")} for s in supers]
    run = overview.run
    movement = run.stage_movement if run else {}
    order = ["none", *LIFECYCLE_STAGES]
    context["chart"] = {
        "cells": [{"name": cells.get(k, _("No purchase")), "value": n} for k, n in overview.cells],
        "stages": [{"name": stages.get(k, k), "value": n} for k, n in overview.stages],
        "moves": {"labels": [stages.get(k, _("Before")) for k in order],
                  "data": [[j, i, (movement.get(a) or {}).get(b, 0)] for i, a in enumerate(order)
                           for j, b in enumerate(order)]},
    }
    context["cell_rows"] = [(cells.get(k, _("No purchase")), n) for k, n in overview.cells]
    context["cell_labels"] = cells
    context["stage_labels"] = stages
    context["cell_order"] = RFM_CELLS
    return context


@console_view
def rfm_page(request: HttpRequest) -> HttpResponse:
    scope = scope_of(request)
    if request.method == "POST":
        if not scope.is_hq:
            raise PermissionDenied(_("RFM runs and lifecycle rules are HQ's."))
        if request.POST.get("action") == "run":
            services.request_rfm_run(scope=scope, actor=request.user)
            messages.success(request, _("An RFM and lifecycle run was requested; it starts within seconds."))
            return redirect("audiences:rfm")
        try:
            values = {f: int(request.POST[f]) for f in services.LIFECYCLE_FIELDS if request.POST.get(f, "").strip()}
            services.update_lifecycle_rules(scope=scope, values=values, actor=request.user)
        except (ValueError, ValidationFailed) as exc:
            context = _rfm_context(request, scope)
            context["form_error"] = getattr(exc, "message", _("Days are whole numbers."))
            return render(request, "audiences/rfm.html", context, status=422)
        messages.success(request, _("Lifecycle rules saved; they apply from the next run."))
        return redirect("audiences:rfm")
    return render(request, "audiences/rfm.html", _rfm_context(request, scope))


@console_view
def tag_rule_list(request: HttpRequest) -> HttpResponse:
    from siyu.audiences import tag_rules
    from siyu.customers import queries as customer_queries

    scope = scope_of(request)
    error = ""
    if request.method == "POST":
        if not scope.is_hq:
            raise PermissionDenied(_("Rule tags are HQ's."))
        try:
            kind = request.POST.get("kind", "segment")
            if not request.POST.get("tag", "").isdigit():
                raise ValidationFailed(_("Choose a tag."), field="tag", code="tag_required")
            tag_rules.create_tag_rule(
                scope=scope, tag_id=int(request.POST.get("tag") or 0), kind=kind,
                segment_id=int(request.POST.get("segment") or 0) or None,
                event_name=request.POST.get("event_name", ""),
                expire_days=int(request.POST.get("expire_days") or 0), actor=request.user)
        except (ValueError, ValidationFailed) as exc:
            error = getattr(exc, "message", _("Choose a tag."))
        else:
            messages.success(request, _("Rule tag saved; holders follow within a minute."))
            return redirect("audiences:tag_rules")
    context = {"rules": tag_rules.tag_rules(scope), "is_hq": scope.is_hq, "error": error,
               "tags": customer_queries.tags(scope), "segments": queries.segments(scope),
               "events": builder_context(scope)["events"]}
    return render(request, "audiences/tag_rules.html", context, status=422 if error else 200)


@console_view
@require_POST
def tag_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    from siyu.audiences import tag_rules

    scope = scope_of(request)
    found = next((r for r in tag_rules.tag_rules(scope) if r.pk == rule_id), None)
    if found is None:
        raise NotFound(_("tag rule not found"))
    tag_rules.delete_tag_rule(scope=scope, tag_rule=found, actor=request.user)
    messages.success(request, _("Rule removed; the tag stays on its holders."))
    return redirect("audiences:tag_rules")


def profile_scores(request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    """The customer profile's section: RFM cell and scores, lifecycle stage, super-user score, current segments."""
    from django.template.loader import render_to_string

    from siyu.audiences.builder import rfm_cell_labels, stage_labels

    score = queries.customer_score(scope, customer_id)
    memberships = queries.customer_segments(scope, customer_id)
    context = {"score": score, "memberships": memberships,
               "cell": rfm_cell_labels().get(score.cell, "") if score else "",
               "stage": stage_labels().get(score.stage, "") if score else ""}
    return render_to_string("audiences/_profile.html", context, request=request)
