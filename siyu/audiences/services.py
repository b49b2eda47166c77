"""Every change to segments and their membership goes through these functions (one transaction each)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.audiences import rules as r
from siyu.audiences.context import resolve
from siyu.audiences.models import Segment, SegmentKind, SegmentMembership
from siyu.audiences.queries import check_can_create, check_can_edit
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.core.staging import staged
from siyu.customers.models import Customer
from siyu.customers.services import EventRows, append_events_from
from siyu.org import queries as org_queries
from siyu.org.models import Role
from siyu.org.scope import Scope

MAX_NAME = 80


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(_("the name must be 1-%(MAX_NAME)s characters") % {"MAX_NAME": MAX_NAME}, field="name",
                               code="name_length")
    return name


def _owner(scope: Scope, region_id: int | None, store_id: int | None) -> tuple[int | None, int | None]:
    """Whose the new segment is: HQ may choose a region or store (or none: enterprise-wide); a region manager's is
    their region's (or one of its stores'); a store manager's is their store's."""
    if store_id is not None:
        store = org_queries.stores(scope).filter(pk=store_id).first()
        if store is None:
            raise NotFound(_("store %(store_id)s not found") % {"store_id": store_id}, field="store_id")
        return store.region_id, store.pk
    if region_id is not None:
        if scope.role not in (Role.HQ_ADMIN, Role.REGION_MANAGER):
            raise ValidationFailed(_("a store manager's segments belong to their store"), field="region_id",
                                   code="segment_store_mismatch")
        if not org_queries.regions(scope).filter(pk=region_id).exists():
            raise NotFound(_("region %(region_id)s not found") % {"region_id": region_id}, field="region_id")
        return region_id, None
    if scope.is_hq:
        return None, None
    if scope.role == Role.REGION_MANAGER:
        return next(iter(scope.region_ids)), None
    return None, next(iter(scope.store_ids))


def _checked_rule(rule: Any, enterprise_id: int, segment_id: int | None) -> dict[str, Any]:
    parsed = r.parse_rule(rule)
    resolve(parsed, enterprise_id=enterprise_id, now=timezone.now(), segment_id=segment_id)
    return r.dump_rule(parsed)


@transaction.atomic
def create_segment(*, scope: Scope, name: str, rule: Any, kind: str = SegmentKind.DYNAMIC, description: str = "",
                   region_id: int | None = None, store_id: int | None = None, members: Sequence[int] = (),
                   actor: Actor = None) -> Segment:
    """A new segment. A static one is created with its members frozen (`members`, evaluated by the caller on the
    engine before this transaction); a dynamic one is built by the analytics process within a second."""
    check_can_create(scope)
    if kind not in SegmentKind.values:
        raise ValidationFailed(_("unknown kind %(kind)s") % {"kind": repr(kind)}, field="kind", code="unknown_kind")
    name = _clean_name(name)
    if Segment.objects.filter(enterprise_id=scope.enterprise_id, name=name).exists():
        raise Conflict(_("a segment named %(name)s exists") % {"name": repr(name)}, field="name", code="duplicate")
    region, store = _owner(scope, region_id, store_id)
    clean = _checked_rule(rule, scope.enterprise_id, None)
    try:
        segment = Segment.objects.create(
            enterprise_id=scope.enterprise_id, name=name, description=(description or "")[:255], kind=kind,
            rule=clean, region_id=region, store_id=store, created_by=audit.user_of(actor))
    except IntegrityError as exc:
        raise Conflict(
            _("a segment named %(name)s exists") % {"name": repr(name)},
            field="name", code="duplicate",
        ) from exc
    if kind == SegmentKind.STATIC:
        _freeze(segment, members, timezone.now())
    audit.record(enterprise_id=segment.enterprise_id, actor=actor, action="segment.create", target_type="segment",
                 target_id=segment.pk, summary=name, changes={"rule": clean, "kind": kind})
    return segment


@transaction.atomic
def update_segment(*, scope: Scope, segment: Segment, name: str | None = None, description: str | None = None,
                   rule: Any = None, actor: Actor = None) -> Segment:
    check_can_edit(scope, segment)
    changes: dict[str, Any] = {}
    if name is not None and name.strip() != segment.name:
        clean_name = _clean_name(name)
        if Segment.objects.filter(enterprise_id=segment.enterprise_id, name=clean_name).exclude(pk=segment.pk).exists():
            raise Conflict(
                _("a segment named %(clean_name)s exists") % {"clean_name": repr(clean_name)},
                field="name", code="duplicate",
            )
        changes["name"] = [segment.name, clean_name]
        segment.name = clean_name
    if description is not None:
        segment.description = description[:255]
    if rule is not None:
        clean = _checked_rule(rule, segment.enterprise_id, segment.pk)
        if clean != segment.rule:
            changes["rule"] = [segment.rule, clean]
            segment.rule = clean
            segment.revision += 1
    segment.save()
    audit.record(enterprise_id=segment.enterprise_id, actor=actor, action="segment.update", target_type="segment",
                 target_id=segment.pk, summary=segment.name, changes=changes)
    return segment


@transaction.atomic
def delete_segment(*, scope: Scope, segment: Segment, actor: Actor = None) -> None:
    check_can_edit(scope, segment)
    audit.record(enterprise_id=segment.enterprise_id, actor=actor, action="segment.delete", target_type="segment",
                 target_id=segment.pk, summary=segment.name)
    segment.delete()


@transaction.atomic
def refreeze_segment(*, scope: Scope, segment: Segment, members: Sequence[int], actor: Actor = None) -> int:
    """A static segment's members evaluated again (by the caller) and frozen: leavers and joiners are recorded."""
    check_can_edit(scope, segment)
    if segment.kind != SegmentKind.STATIC:
        raise ValidationFailed(_("only a static segment is frozen"), field="kind", code="not_static")
    moved = _freeze(segment, members, timezone.now())
    audit.record(enterprise_id=segment.enterprise_id, actor=actor, action="segment.snapshot", target_type="segment",
                 target_id=segment.pk, summary=segment.name, changes={"members": len(members)})
    return moved


def _freeze(segment: Segment, members: Sequence[int], at: datetime) -> int:
    current = set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True)
                  .values_list("customer_id", flat=True))
    wanted = set(members)
    result = _apply(segment, entered=sorted(wanted - current), left=sorted(current - wanted), at=at, events=False)
    segment.snapshot_at = at
    segment.member_count = len(wanted)
    segment.built_revision, segment.built_at = segment.revision, at
    segment.save(update_fields=["snapshot_at", "member_count", "built_revision", "built_at", "updated_at"])
    return result


@transaction.atomic
def apply_membership(*, segment: Segment, entered: Sequence[int], left: Sequence[int], at: datetime,
                     events: bool = True, member_count: int | None = None) -> int:
    """The analytics process's diff of a dynamic segment: new stints for joiners, left_at for leavers, and a
    segment_entered / segment_left event each (keyed by the stint, so a retry writes nothing twice)."""
    moved = _apply(segment, entered=entered, left=left, at=at, events=events)
    fields = ["built_revision", "built_at"]
    segment.built_revision, segment.built_at = segment.revision, at
    if member_count is not None:
        segment.member_count = member_count
        fields.append("member_count")
    Segment.objects.filter(pk=segment.pk).update(**{f: getattr(segment, f) for f in fields})
    return moved


def _apply(segment: Segment, *, entered: Sequence[int], left: Sequence[int], at: datetime, events: bool) -> int:
    """Set-based: the ids are staged in a temporary table, leavers' open stints are closed with one UPDATE, joiners
    get a stint with one INSERT … SELECT, and the events come from the stints just written with one INSERT … SELECT
    each. The OLTP rows decide, not the caller's view of them: a joiner who already has an open stint (the copy's
    mirror of the memberships can lag a big first build) gets no second one, and a leaver without one is skipped."""
    connection = transaction.get_connection()
    qn = connection.ops.quote_name
    table = SegmentMembership._meta.db_table
    stints, customers = qn(table), qn(Customer._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(at)
    moved = 0
    # Table and column names below come from the models; every value is a parameter.
    with transaction.atomic(), connection.cursor() as cursor:
        if left:
            with staged("siyu_segment_left", table, ("customer_id",), ((int(c),) for c in left)) as stage:
                cursor.execute(f"UPDATE {stints} SET left_at = %s WHERE segment_id = %s AND left_at IS NULL "  # noqa: S608
                               f"AND customer_id IN (SELECT customer_id FROM {stage})", [stamp, segment.pk])
                moved += max(0, cursor.rowcount)
                if events:
                    _stint_events("segment_left", segment, stage, "m.left_at", stamp)
        if entered:
            with staged("siyu_segment_entered", table, ("customer_id",), ((int(c),) for c in entered)) as stage:
                cursor.execute(
                    f"INSERT INTO {stints} (segment_id, customer_id, entered_at) "  # noqa: S608
                    f"SELECT %s, n.customer_id, %s FROM {stage} n WHERE NOT EXISTS (SELECT 1 FROM {stints} m "
                    f"WHERE m.segment_id = %s AND m.customer_id = n.customer_id AND m.left_at IS NULL) "
                    f"AND EXISTS (SELECT 1 FROM {customers} c WHERE c.id = n.customer_id AND c.enterprise_id = %s)",
                    [segment.pk, stamp, segment.pk, segment.enterprise_id])
                moved += max(0, cursor.rowcount)
                if events:
                    _stint_events("segment_entered", segment, stage, "m.entered_at", stamp)
    return moved


def _stint_events(name: str, segment: Segment, stage: str, moment: str, stamp: Any) -> None:
    """One event per stint this pass opened or closed (`moment` is entered_at or left_at, equal to the pass's time),
    keyed by the stint so a retry writes nothing twice."""
    qn = transaction.get_connection().ops.quote_name
    stints, segments = qn(SegmentMembership._meta.db_table), qn(Segment._meta.db_table)
    append_events_from(enterprise_id=segment.enterprise_id, name=name, rows=EventRows(
        # From the staged ids to their stints through the (customer, entered_at) index: a CROSS JOIN keeps that
        # order on SQLite (the planner would otherwise walk the segment's every stint); PostgreSQL plans it freely.
        source=f"{stage} n CROSS JOIN {stints} m JOIN {segments} g ON g.id = m.segment_id",
        where=f"m.customer_id = n.customer_id AND m.segment_id = %s AND {moment} = %s", params=(segment.pk, stamp),
        customer="m.customer_id",
        occurred_at=moment, key=f"'{name}:' || CAST(m.id AS VARCHAR(20))",
        properties=(("segment_id", "m.segment_id"), ("segment", "substr(g.name, 1, 80)"))))


# ---------------------------------------------------------------------------------------------------------------
# RFM runs and lifecycle rules


@transaction.atomic
def request_rfm_run(*, scope: Scope, actor: Actor = None) -> Any:
    """Ask the analytics process for an RFM + lifecycle run now (it picks the request up within a second)."""
    from siyu.audiences.models import RfmRun

    if not scope.is_hq:
        raise PermissionDenied(_("RFM runs are started by HQ"))
    pending = RfmRun.objects.filter(enterprise_id=scope.enterprise_id, status__in=["requested", "running"]).first()
    if pending is not None:
        return pending
    run = RfmRun.objects.create(enterprise_id=scope.enterprise_id, as_of=timezone.now(), status="requested",
                                trigger="manual", requested_at=timezone.now())
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="rfm.request", target_type="rfm_run",
                 target_id=run.pk)
    return run


LIFECYCLE_FIELDS = ("new_days", "active_days", "silent_days", "at_risk_days", "rfm_window_days")


@transaction.atomic
def update_lifecycle_rules(*, scope: Scope, values: dict[str, int], super_weights: dict[str, float] | None = None,
                           actor: Actor = None) -> Any:
    from siyu.audiences.models import LifecycleRules

    if not scope.is_hq:
        raise PermissionDenied(_("lifecycle rules are HQ's"))
    rules, _created = LifecycleRules.objects.get_or_create(enterprise_id=scope.enterprise_id)
    for name, value in values.items():
        if name not in LIFECYCLE_FIELDS:
            raise ValidationFailed(_("unknown rule %(name)s") % {"name": repr(name)}, field=name, code="unknown_rule")
        if not isinstance(value, int) or not 1 <= value <= 3650:
            raise ValidationFailed(_("days must be 1-3650"), field=name, code="days_range")
        setattr(rules, name, value)
    if not rules.active_days <= rules.silent_days <= rules.at_risk_days:
        raise ValidationFailed(_("active ≤ silent ≤ at risk days"), field="silent_days",
                               code="lifecycle_days_order")
    if super_weights is not None:
        known = {"spend", "repeat", "engagement", "referrals", "paid_member"}
        bad = [k for k, v in super_weights.items() if k not in known or not 0 <= float(v) <= 1]
        if bad:
            raise ValidationFailed(
                _("weights are 0-1 for %(sorted)s") % {"sorted": sorted(known)},
                field=f"super_weights.{bad[0]}",
                code="weights_range",
            )
        rules.super_weights = {k: float(v) for k, v in super_weights.items()}
    rules.save()
    audit.record(enterprise_id=rules.enterprise_id, actor=actor, action="lifecycle.rules",
                 target_type="lifecycle_rules", target_id=rules.pk,
                 changes={**values, **({"super_weights": super_weights} if super_weights else {})})
    return rules
