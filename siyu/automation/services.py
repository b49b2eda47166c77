"""Journey writes: drafting and editing (each edit an immutable version), activating and pausing; the scan that
enters customers, matches awaited events and goals from the event log; and the runner that works durable timers.

The scan reads the event log by id watermark, per enterprise, under its cursor's row lock (workers take turns), and
is set-based: one INSERT ... SELECT per live journey enters the customers whose new events match its entry (the
re-entry rule is the enrollment's unique `entry_key` and the partial unique index on active enrollments), one
statement finds goal events, one the awaited events. Every enrollment's first node is a timer due at once, so the
same tick that entered a customer runs their first steps.

The runner claims due timers with a conditional UPDATE (`select_for_update(skip_locked=True)` on PostgreSQL), then
works each in one transaction under the enrollment's row lock: the timer is marked done, the nodes run until a wait,
and each node writes its step row keyed `journey:<enrollment>:<node>`; the same key is the idempotency key of the
points, coupon or task the node grants, so a worker killed mid-way (the transaction rolls back, the claim lapses and
is taken again after LEASE) never grants twice and never loses a step.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from pydantic import ValidationError

from siyu.audiences import queries as audience_queries
from siyu.automation import graph
from siyu.automation.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    ScanCursor,
    SegmentSnapshot,
    StaffTask,
    Step,
    TaskStatus,
    Timer,
    TimerKind,
    TimerStatus,
)
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.core.timeutil import SHANGHAI
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, CustomerTag, Event, Relationship, RelationshipStatus, TagKind
from siyu.loyalty import services as loyalty_services
from siyu.messaging import services as messaging_services
from siyu.org.scope import Scope
from siyu.promotions import services as promotion_services

LEASE = timedelta(seconds=60)
CLAIM_BATCH = 1000  # timers per claim; the batch runner's transactions are at most GROUP_MAX
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
MAX_NAME = 64


# ---------------------------------------------------------------------------------------------------------------
# Drafting, editing, activating


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ may manage journeys"))


def _check(name: str, definition: Any) -> tuple[str, graph.Definition]:
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed(_("name is 1-64 characters"), field="name", code="name_length")
    try:
        parsed = graph.parse(definition)
    except ValidationError as exc:
        field, message = graph.first_error(exc)
        raise ValidationFailed(message, field=f"definition.{field}", code="invalid_definition") from exc
    return name, parsed


def _check_refs(enterprise_id: int, parsed: graph.Definition) -> None:
    """Tags and coupon templates a journey names are the enterprise's own (another's ids read as unknown)."""
    from siyu.customers.models import Tag  # noqa: PLC0415 - read only
    from siyu.promotions import queries as promotion_queries  # noqa: PLC0415

    tag_ids: set[int] = {int(getattr(n, "tag_id", 0) or 0) for n in parsed.nodes} - {0}
    if isinstance(parsed.entry, graph.TagEntry):
        tag_ids.add(parsed.entry.tag_id)
    known = set(Tag.objects.filter(group__enterprise_id=enterprise_id, pk__in=tag_ids).values_list("pk", flat=True))
    for index, node in enumerate(parsed.nodes):
        tag_id = getattr(node, "tag_id", None)
        if tag_id and tag_id not in known:
            raise ValidationFailed(_("unknown tag"), field=f"definition.nodes.{index}.tag_id", code="unknown_tag")
        template_id = getattr(node, "coupon_template_id", None)
        if template_id:
            try:
                promotion_queries.get_coupon_template(Scope.hq(enterprise_id), template_id)
            except NotFound as exc:
                raise ValidationFailed(_("unknown coupon template"), code="unknown_coupon_template",
                                       field=f"definition.nodes.{index}.coupon_template_id") from exc
        if isinstance(node, graph.ActionNode) and node.action == "send":
            messaging_services.check_journey_send(enterprise_id, _send_of(node),
                                                  field_prefix=f"definition.nodes.{index}")
    if isinstance(parsed.entry, graph.SegmentEntry):
        try:
            audience_queries.get_segment(Scope.hq(enterprise_id), parsed.entry.segment_id)
        except NotFound as exc:
            raise ValidationFailed(_("unknown segment"), field="definition.entry.segment_id",
                                   code="unknown_segment") from exc
    if isinstance(parsed.entry, graph.TagEntry) and parsed.entry.tag_id not in known:
        raise ValidationFailed(_("unknown tag"), field="definition.entry.tag_id", code="unknown_tag")


def _send_of(node: graph.ActionNode) -> messaging_services.JourneySend:
    return messaging_services.JourneySend(
        channels=list(node.channels), content={str(k): v for k, v in node.content.items()},
        wecom_account_id=node.wecom_account_id, oa_account_id=node.oa_account_id, oa_template_id=node.oa_template_id,
        sms_sign=node.sms_sign)


def _send_campaign(journey: Journey, version_id: int, node: graph.ActionNode) -> int:
    return messaging_services.journey_campaign(enterprise_id=journey.enterprise_id, version_id=version_id,
                                               node=node.id, name=journey.name, send=_send_of(node))


def _new_version(journey: Journey, parsed: graph.Definition, now: datetime) -> JourneyVersion:
    number = (journey.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    entry = parsed.entry
    version = JourneyVersion.objects.create(
        journey=journey, number=number, definition=parsed.model_dump(mode="json"),
        entry_event=entry.event if isinstance(entry, graph.EventEntry) else "",
        entry_tag_id=entry.tag_id if isinstance(entry, graph.TagEntry) else None,
        entry_segment_id=entry.segment_id if isinstance(entry, graph.SegmentEntry) else None,
        goal_event=parsed.goal.event if parsed.goal else "", reentry=parsed.reentry.mode,
        reentry_days=parsed.reentry.days, created_at=now)
    journey.current_version = version
    journey.updated_at = now
    journey.save(update_fields=["current_version", "updated_at"])
    for node in parsed.nodes:
        if isinstance(node, graph.ActionNode) and node.action == "send":
            _send_campaign(journey, version.pk, node)
    if journey.status == JourneyStatus.LIVE:
        _segment_baseline(version)
    return version


def create_journey(*, scope: Scope, name: str, definition: Any, actor: Actor = None,
                   now: datetime | None = None) -> Journey:
    """A draft journey with its first version (HQ; audited `automation.journey`)."""
    _require_hq(scope)
    clean, parsed = _check(name, definition)
    _check_refs(scope.enterprise_id, parsed)
    moment = now or timezone.now()
    with transaction.atomic():
        journey = Journey.objects.create(enterprise_id=scope.enterprise_id, name=clean, status=JourneyStatus.DRAFT,
                                         created_by=audit.user_of(actor), created_at=moment, updated_at=moment)
        _new_version(journey, parsed, moment)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.journey",
                     target_type="journey", target_id=journey.pk,
                     summary=audit.text(N_("journey %(name)s drafted"), name=clean))
    return journey


def _locked(scope: Scope, journey_id: int) -> Journey:
    found = Journey.objects.select_for_update().filter(pk=journey_id, enterprise_id=scope.enterprise_id).first()
    if found is None:
        raise NotFound(_("journey not found"), field="journey_id", code="journey_not_found")
    return found


def edit_journey(*, scope: Scope, journey_id: int, name: str, definition: Any, actor: Actor = None,
                 now: datetime | None = None) -> Journey:
    """A new version (the old one stays as it was: customers inside finish on the version they entered)."""
    _require_hq(scope)
    clean, parsed = _check(name, definition)
    _check_refs(scope.enterprise_id, parsed)
    moment = now or timezone.now()
    with transaction.atomic():
        journey = _locked(scope, journey_id)
        if journey.status == JourneyStatus.ARCHIVED:
            raise Conflict(_("an archived journey cannot be edited"), field="journey_id", code="journey_archived")
        current = journey.current_version
        if current is not None and current.definition == parsed.model_dump(mode="json") and journey.name == clean:
            return journey  # a double submit of the same edit makes no second version
        journey.name = clean
        journey.save(update_fields=["name"])
        version = _new_version(journey, parsed, moment)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.journey",
                     target_type="journey", target_id=journey.pk,
                     summary=audit.text(N_("journey %(name)s edited (version %(number)s)"), name=clean,
                                        number=version.number))
    return journey


_MOVES = {
    JourneyStatus.LIVE: {JourneyStatus.DRAFT, JourneyStatus.PAUSED, JourneyStatus.LIVE},
    JourneyStatus.PAUSED: {JourneyStatus.LIVE, JourneyStatus.PAUSED},
    JourneyStatus.ARCHIVED: {JourneyStatus.DRAFT, JourneyStatus.PAUSED, JourneyStatus.LIVE, JourneyStatus.ARCHIVED},
}


def set_status(*, scope: Scope, journey_id: int, status: str, actor: Actor = None,
               now: datetime | None = None) -> Journey:
    """Activate (live: new events enter it), pause (no one enters; those inside go on) or archive (those inside
    exit). Going live starts reading the event log from now, never from the journey's past."""
    _require_hq(scope)
    if status not in _MOVES:
        raise ValidationFailed(_("unknown status"), field="status", code="unknown_status")
    moment = now or timezone.now()
    with transaction.atomic():
        journey = _locked(scope, journey_id)
        if journey.status not in _MOVES[JourneyStatus(status)]:
            raise Conflict(_("a journey cannot go from %(old)s to %(new)s") % {"old": journey.status, "new": status},
                           field="status", code="bad_transition")
        if journey.status == status:
            return journey
        if status == JourneyStatus.LIVE:
            _cursor(scope.enterprise_id)
            if journey.current_version is not None:
                _segment_baseline(journey.current_version)
        old = journey.status
        journey.status = status
        journey.updated_at = moment
        journey.save(update_fields=["status", "updated_at"])
        if status == JourneyStatus.ARCHIVED:
            ended = Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE)
            Timer.objects.filter(enrollment__in=ended, status=TimerStatus.PENDING).update(status=TimerStatus.DONE)
            ended.update(status=EnrollmentStatus.EXITED, ended_at=moment, waiting_event="")
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.journey_status",
                     target_type="journey", target_id=journey.pk,
                     summary=audit.text(N_("journey %(name)s: %(old)s → %(new)s"), name=journey.name,
                                        old=audit.label(JourneyStatus(old).label),
                                        new=audit.label(JourneyStatus(status).label)))
    return journey


def _cursor(enterprise_id: int) -> ScanCursor:
    """The enterprise's cursor, created at the log's current end (a first journey does not replay history)."""
    top = Event.objects.filter(enterprise_id=enterprise_id).order_by("-id").values_list("id", flat=True).first()
    cursor, _created = ScanCursor.objects.get_or_create(enterprise_id=enterprise_id,
                                                        defaults={"last_event_id": top or 0})
    return cursor


# ---------------------------------------------------------------------------------------------------------------
# The scan


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _sql(statement: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return max(cursor.rowcount, 0)


def _rows(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return list(cursor.fetchall())


def _json_text(column: str, key_sql: str) -> str:
    """The text of a JSON property: `key_sql` is a quoted literal or a column holding the property name."""
    if connection.vendor == "postgresql":
        return f"({column} ->> {key_sql})"
    return f"CAST(json_extract({column}, '$.' || {key_sql}) AS TEXT)"


def _db(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _entry_key_sql(version: JourneyVersion) -> str:
    if version.reentry == "once":
        return "'once:' || CAST(e.customer_id AS TEXT)"
    return "'e:' || CAST(e.id AS TEXT)"


def _guards(version: JourneyVersion, customer_sql: str, now: datetime) -> tuple[str, list[Any]]:
    """The re-entry rule's conditions on a candidate customer (not while inside; not within N days)."""
    enr = _table(Enrollment)
    guards, params = "", []
    if version.reentry != "always":
        guards += (f" AND NOT EXISTS (SELECT 1 FROM {enr} x WHERE x.journey_id = %s "  # noqa: S608 - model names
                   f"AND x.customer_id = {customer_sql} AND x.status = 'active' AND x.exclusive = %s)")
        params += [version.journey_id, True]
    if version.reentry == "every_n_days":
        guards += (f" AND NOT EXISTS (SELECT 1 FROM {enr} y WHERE y.journey_id = %s "  # noqa: S608 - model names
                   f"AND y.customer_id = {customer_sql} AND y.entered_at > %s)")
        params += [version.journey_id, _db(now - timedelta(days=version.reentry_days))]
    return guards, params


def _members(version: JourneyVersion) -> tuple[str, list[Any]] | None:
    """The segment's members now, as SQL (None while a changed rule's membership is being built)."""
    try:
        ids = audience_queries.segment_member_ids(Scope.hq(version.journey.enterprise_id),
                                                  int(version.entry_segment_id or 0))
    except (Conflict, NotFound):
        return None
    sql, params = ids.query.sql_with_params()
    return str(sql), list(params)


def _segment_baseline(version: JourneyVersion) -> int:
    """The journey's snapshot of its segment as it is now (those already inside do not count as new)."""
    if not version.entry_segment_id:
        return 0
    members = _members(version)
    if members is None:
        return 0
    return _refresh_snapshot(version, members)


def _refresh_snapshot(version: JourneyVersion, members: tuple[str, list[Any]]) -> int:
    snap = _table(SegmentSnapshot)
    sql, params = members
    journey_id, segment_id = version.journey_id, int(version.entry_segment_id or 0)
    gone = _sql(f"DELETE FROM {snap} WHERE journey_id = %s AND segment_id = %s "  # noqa: S608 - model names
                f"AND customer_id NOT IN ({sql})", [journey_id, segment_id, *params])
    new = _sql(f"INSERT INTO {snap} (journey_id, segment_id, customer_id) SELECT %s, %s, m.pk "  # noqa: S608
               f"FROM ({sql}) m WHERE NOT EXISTS (SELECT 1 FROM {snap} s WHERE s.journey_id = %s "
               f"AND s.segment_id = %s AND s.customer_id = m.pk)",
               [journey_id, segment_id, *params, journey_id, segment_id])
    return gone + new


def _enter_from_segment(version: JourneyVersion, now: datetime) -> int:
    """Customers newly in (or newly out of) the segment since the last look: the set difference between its members
    and the journey's snapshot, in one INSERT ... SELECT; then the snapshot catches up (one DELETE, one INSERT)."""
    definition = graph.parse(version.definition)
    entry = definition.entry
    assert isinstance(entry, graph.SegmentEntry)  # noqa: S101 - the caller picks segment entries
    members = _members(version)
    if members is None:
        return 0
    sql, params = members
    enr, snap = _table(Enrollment), _table(SegmentSnapshot)
    key = ("'once:' || CAST(c.cid AS TEXT)" if version.reentry == "once"
           else f"'s{int(now.timestamp() * 1000)}:' || CAST(c.cid AS TEXT)")
    if entry.on == "entered":
        source = (f"(SELECT m.pk AS cid FROM ({sql}) m WHERE NOT EXISTS (SELECT 1 FROM {snap} s "  # noqa: S608
                  f"WHERE s.journey_id = %s AND s.segment_id = %s AND s.customer_id = m.pk)) c")
    else:
        source = (f"(SELECT s.customer_id AS cid FROM {snap} s WHERE s.journey_id = %s "  # noqa: S608
                  f"AND s.segment_id = %s AND s.customer_id NOT IN ({sql})) c")
    source_params = ([*params, version.journey_id, entry.segment_id] if entry.on == "entered"
                     else [version.journey_id, entry.segment_id, *params])
    guards, guard_params = _guards(version, "c.cid", now)
    statement = (
        f"INSERT INTO {enr} (enterprise_id, journey_id, version_id, customer_id, entry_key, exclusive, "  # noqa: S608
        f"entry_event_id, current_node, waiting_event, waiting_property, waiting_value, status, entered_at, ended_at) "
        f"SELECT %s, %s, %s, c.cid, {key}, %s, NULL, %s, '', '', '', 'active', %s, NULL FROM {source} "
        f"WHERE 1=1{guards} ON CONFLICT DO NOTHING")
    entered = _sql(statement, [version.journey.enterprise_id, version.journey_id, version.pk,
                               version.reentry != "always", definition.nodes[0].id, _db(now), *source_params,
                               *guard_params])
    _refresh_snapshot(version, members)
    return entered


def _enter_from_events(version: JourneyVersion, after: int, top: int, now: datetime) -> int:
    """One INSERT ... SELECT: the customers whose new events match the version's entry (first such event per customer
    in the batch unless the rule is `always`), under the re-entry rule."""
    definition = graph.parse(version.definition)
    entry = definition.entry
    assert isinstance(entry, graph.EventEntry)  # noqa: S101 - the caller picks event entries
    enr, ev = _table(Enrollment), _table(Event)
    filters = "".join(f" AND {_json_text('e2.properties', repr(str(k)))} = %s" for k in entry.filters)
    values = [str(v) for v in entry.filters.values()]
    exclusive = version.reentry != "always"
    picked = (f"SELECT {'MIN(e2.id)' if exclusive else 'e2.id'} FROM {ev} e2 WHERE e2.enterprise_id = %s "  # noqa: S608
              f"AND e2.name = %s AND e2.id > %s AND e2.id <= %s{filters}"
              f"{' GROUP BY e2.customer_id' if exclusive else ''}")
    guards, guard_params = _guards(version, "e.customer_id", now)
    statement = (
        f"INSERT INTO {enr} (enterprise_id, journey_id, version_id, customer_id, entry_key, exclusive, "  # noqa: S608
        f"entry_event_id, current_node, waiting_event, waiting_property, waiting_value, status, entered_at, ended_at) "
        f"SELECT e.enterprise_id, %s, %s, e.customer_id, {_entry_key_sql(version)}, %s, e.id, %s, '', '', '', "
        f"'active', e.occurred_at, NULL FROM {ev} e WHERE e.id IN ({picked}){guards} ON CONFLICT DO NOTHING")
    params = [version.journey_id, version.pk, exclusive, definition.nodes[0].id,
              version.journey.enterprise_id, version.entry_event, after, top, *values, *guard_params]
    return _sql(statement, params)


def _enter_from_tag(version: JourneyVersion, now: datetime) -> int:
    """A schedule over a tag: its customers enter once a Shanghai day (or once ever, by the rule)."""
    definition = graph.parse(version.definition)
    enr, ct = _table(Enrollment), _table(CustomerTag)
    day = now.astimezone(SHANGHAI).date().isoformat()
    key = ("'once:' || CAST(ct.customer_id AS TEXT)" if version.reentry == "once"
           else f"'t{day}:' || CAST(ct.customer_id AS TEXT)")
    statement = (
        f"INSERT INTO {enr} (enterprise_id, journey_id, version_id, customer_id, entry_key, exclusive, "  # noqa: S608
        f"entry_event_id, current_node, waiting_event, waiting_property, waiting_value, status, entered_at, ended_at) "
        f"SELECT %s, %s, %s, ct.customer_id, {key}, %s, NULL, %s, '', '', '', 'active', %s, NULL "
        f"FROM {ct} ct WHERE ct.tag_id = %s AND NOT EXISTS (SELECT 1 FROM {enr} x WHERE x.journey_id = %s "
        f"AND x.customer_id = ct.customer_id AND x.status = 'active') ON CONFLICT DO NOTHING")
    return _sql(statement, [version.journey.enterprise_id, version.journey_id, version.pk, True,
                            definition.nodes[0].id, _db(now), version.entry_tag_id, version.journey_id])


def _start_timers(journey_ids: list[int], after_enrollment: int, now: datetime) -> int:
    """Each new enrollment's first node, due now."""
    if not journey_ids:
        return 0
    enr, tim = _table(Enrollment), _table(Timer)
    marks = ", ".join(["%s"] * len(journey_ids))
    return _sql(
        f"INSERT INTO {tim} (enrollment_id, node, attempt, kind, due_at, status, claimed_by) "  # noqa: S608
        f"SELECT id, current_node, 2, 'entry', %s, 'pending', '' FROM {enr} "
        f"WHERE journey_id IN ({marks}) AND id > %s AND status = 'active' ON CONFLICT DO NOTHING",
        [_db(now), *journey_ids, after_enrollment])


def _goals(enterprise_id: int, after: int, top: int, now: datetime) -> int:
    """Active enrollments whose goal event arrived (after their entry): a `goal` step, the enrollment ends there,
    its pending timers with it."""
    enr, ev, ver = _table(Enrollment), _table(Event), _table(JourneyVersion)
    found = _rows(
        f"SELECT DISTINCT en.id, en.journey_id FROM {ev} e JOIN {enr} en ON en.customer_id = e.customer_id "  # noqa: S608
        f"AND en.status = 'active' JOIN {ver} v ON v.id = en.version_id WHERE e.enterprise_id = %s AND e.id > %s "
        f"AND e.id <= %s AND v.goal_event <> '' AND e.name = v.goal_event AND e.id > COALESCE(en.entry_event_id, 0)",
        [enterprise_id, after, top])
    if not found:
        return 0
    ids = [row[0] for row in found]
    Step.objects.bulk_create([
        Step(enterprise_id=enterprise_id, enrollment_id=eid, journey_id_copy=jid, node="goal", kind="goal",
             outcome="goal", key=f"journey:{eid}:goal", at=now) for eid, jid in found], ignore_conflicts=True)
    Timer.objects.filter(enrollment_id__in=ids, status=TimerStatus.PENDING).update(status=TimerStatus.DONE)
    return Enrollment.objects.filter(pk__in=ids, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.GOAL, ended_at=now, waiting_event="")


def _awaited(enterprise_id: int, after: int, top: int, now: datetime) -> int:
    """Enrollments waiting for an event that arrived (with the key they wait for): an `event` timer, due now."""
    enr, ev, tim = _table(Enrollment), _table(Event), _table(Timer)
    matched = _json_text("e.properties", "en.waiting_property")
    return _sql(
        f"INSERT INTO {tim} (enrollment_id, node, attempt, kind, due_at, status, claimed_by) "  # noqa: S608
        f"SELECT DISTINCT en.id, en.current_node, 1, 'event', %s, 'pending', '' FROM {ev} e "
        f"JOIN {enr} en ON en.customer_id = e.customer_id AND en.status = 'active' AND en.waiting_event = e.name "
        f"WHERE e.enterprise_id = %s AND e.id > %s AND e.id <= %s AND e.id > COALESCE(en.entry_event_id, 0) "
        f"AND (en.waiting_property = '' OR {matched} = en.waiting_value) ON CONFLICT DO NOTHING",
        [_db(now), enterprise_id, after, top])


def scan(*, enterprise_id: int, now: datetime | None = None) -> int:
    """Read the event log since the cursor: goals, awaited events, then entries. Returns the customers entered."""
    moment = now or timezone.now()
    entered = 0
    with transaction.atomic():
        _cursor(enterprise_id)
        cursor = ScanCursor.objects.select_for_update().get(enterprise_id=enterprise_id)
        top = Event.objects.filter(enterprise_id=enterprise_id).order_by("-id").values_list("id", flat=True).first()
        live = list(JourneyVersion.objects.filter(
            journey__enterprise_id=enterprise_id, journey__status=JourneyStatus.LIVE,
            journey__current_version_id=F("id")).select_related("journey"))
        before = Enrollment.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if top is not None and top > cursor.last_event_id:
            after = cursor.last_event_id
            _goals(enterprise_id, after, top, moment)
            _awaited(enterprise_id, after, top, moment)
            for version in live:
                if version.entry_event:
                    entered += _enter_from_events(version, after, top, moment)
            ScanCursor.objects.filter(pk=cursor.pk).update(last_event_id=top)
        for version in live:
            if version.entry_tag_id:
                entered += _enter_from_tag(version, moment)
            elif version.entry_segment_id:
                entered += _enter_from_segment(version, moment)
        _start_timers([v.journey_id for v in live], before, moment)
    return entered


# ---------------------------------------------------------------------------------------------------------------
# The runner


def requeue_lapsed(*, now: datetime | None = None) -> int:
    """Claims older than the lease (their worker died or hung) go back to pending."""
    moment = now or timezone.now()
    return Timer.objects.filter(status=TimerStatus.CLAIMED, claimed_at__lt=moment - LEASE).update(
        status=TimerStatus.PENDING, claimed_by="", claimed_at=None)


def claim_due(*, now: datetime, limit: int = CLAIM_BATCH) -> tuple[str, list[int]]:
    """Claim up to `limit` due timers for this caller: (its claim token, the timer ids). Several workers claim
    disjoint sets (skip-locked rows on PostgreSQL; the conditional UPDATE decides on both)."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = Timer.objects.filter(status=TimerStatus.PENDING, due_at__lte=now).order_by("due_at", "id")
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if ids:
            Timer.objects.filter(pk__in=ids, status=TimerStatus.PENDING).update(
                status=TimerStatus.CLAIMED, claimed_by=token, claimed_at=now)
    if not ids:
        return token, []
    return token, list(Timer.objects.filter(pk__in=ids, claimed_by=token).order_by("due_at", "id")
                       .values_list("id", flat=True))


def process_due(*, now: datetime | None = None, limit: int = CLAIM_BATCH, rounds: int = 50) -> int:
    """Work the due timers (in claimed batches, each grouped by version and node and moved together by the batch
    runner below) until none is due or `rounds` batches ran. Returns timers worked."""
    moment = now or timezone.now()
    requeue_lapsed(now=moment)
    worked = 0
    sends: list[str] = []
    for _round in range(rounds):
        token, ids = claim_due(now=moment, limit=limit)
        if not ids:
            break
        worked += run_claimed(token=token, timer_ids=ids, now=moment, sends=sends)
    if sends:
        messaging_services.kick_sender()  # once for the lot; the sender's periodic run would find them too
    return worked


def run_timer(*, timer_id: int, token: str, now: datetime, sends: list[str] | None = None) -> bool:
    """One timer, in one transaction: False when it was no longer this caller's or its enrollment moved on. The
    keys of the sends it planned are added to `sends`. The per-customer reference of the batch runner."""
    with transaction.atomic():
        timer = Timer.objects.filter(pk=timer_id).first()
        if timer is None:
            return False
        enrollment = Enrollment.objects.select_for_update().select_related("version", "journey").get(
            pk=timer.enrollment_id)
        if not Timer.objects.filter(pk=timer_id, status=TimerStatus.CLAIMED, claimed_by=token).update(
                status=TimerStatus.DONE):
            return False
        if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.current_node != timer.node:
            return False
        runner = Runner(enrollment, now)
        runner.resume(timer)
    if sends is not None:
        sends.extend(runner.sends)
    return True


def tick(*, now: datetime | None = None) -> int:
    """The worker's periodic job: scan every enterprise with a live journey, then work the due timers."""
    moment = now or timezone.now()
    enterprises = (Journey.objects.filter(status=JourneyStatus.LIVE).order_by("enterprise_id")
                   .values_list("enterprise_id", flat=True).distinct())
    for enterprise_id in list(enterprises):
        scan(enterprise_id=enterprise_id, now=moment)
    return process_due(now=moment)


_PARSED: dict[tuple[int, str], graph.Definition] = {}


def _parsed(version: JourneyVersion) -> graph.Definition:
    """A version's parsed definition, parsed once per process, not once per timer. Keyed by the row and its text:
    a version never changes, but a row id can come back with other content (a rolled-back transaction, a restored
    backup), and a definition parsed for another journey must never run."""
    key = (version.pk, json.dumps(version.definition, sort_keys=True, ensure_ascii=False))
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) > 1000:  # noqa: PLR2004 - a bound, not a tuning knob
            _PARSED.clear()
        found = _PARSED[key] = graph.parse(version.definition)
    return found


class Runner:
    """Moves one (locked) enrollment through its version's nodes until a wait or the end."""

    def __init__(self, enrollment: Enrollment, now: datetime, definition: graph.Definition | None = None) -> None:
        self.en = enrollment
        self.now = now
        self.definition = definition or _parsed(enrollment.version)
        self.ids = [n.id for n in self.definition.nodes]
        self.sends: list[str] = []

    def key(self, node_id: str) -> str:
        return f"journey:{self.en.pk}:{node_id}"

    def step(self, node: Any, outcome: str, code: str = "") -> bool:
        """Record the node's step; False when it was recorded before (then its effect is not repeated)."""
        try:
            with transaction.atomic():
                Step.objects.create(enterprise_id=self.en.enterprise_id, enrollment=self.en,
                                    journey_id_copy=self.en.journey_id, node=node.id, kind=node.kind,
                                    outcome=outcome, code=code[:64], key=self.key(node.id), at=self.now)
        except IntegrityError:
            return False
        return True

    def resume(self, timer: Timer) -> None:
        node = self.definition.node(timer.node)
        if timer.kind in (TimerKind.ENTRY, TimerKind.NEXT):
            self.advance(node.id)  # the first node, due at entry; or the node the batch runner parked it before
            return
        if node.kind == "wait_event":
            arrived = timer.kind == TimerKind.EVENT
            self.step(node, "event" if arrived else "timeout")
            self.en.waiting_event = self.en.waiting_property = self.en.waiting_value = ""
            self.advance(graph.following(node, self.ids) if arrived else node.on_timeout)
            return
        self.step(node, "done")
        self.advance(graph.following(node, self.ids))

    def advance(self, node_id: str | None) -> None:
        while node_id is not None:
            node = self.definition.node(node_id)
            self.en.current_node = node.id
            if node.kind == "wait":
                self.wait(node)
                return
            if node.kind == "wait_event":
                if self.wait_event(node):
                    return
                self.step(node, "event")
                node_id = graph.following(node, self.ids)
                continue
            if node.kind == "exit":
                self.step(node, "done")
                self.finish(EnrollmentStatus.EXITED)
                return
            node_id = self.branch(node) if node.kind == "branch" else self.act(node)
        self.finish(EnrollmentStatus.COMPLETED)

    def save(self) -> None:
        self.en.save(update_fields=["current_node", "waiting_event", "waiting_property", "waiting_value",
                                    "status", "ended_at"])

    def finish(self, status: str) -> None:
        self.en.status = status
        self.en.ended_at = self.now
        self.en.waiting_event = ""
        self.save()

    def timer(self, node: Any, due: datetime, attempt: int, kind: str) -> None:
        Timer.objects.bulk_create([Timer(enrollment=self.en, node=node.id, attempt=attempt, kind=kind, due_at=due)],
                                  ignore_conflicts=True)

    def wait(self, node: graph.WaitNode) -> None:
        if node.date_field:
            born = Customer.objects.filter(pk=self.en.customer_id).values_list("birthday", flat=True).first()
            if born is None:
                self.step(node, "skipped", "no_date")
                self.finish(EnrollmentStatus.EXITED)
                return
            self.timer(node, until_date(node, born, self.now), 0, TimerKind.STEP)
        else:
            self.timer(node, wait_until(node, self.now), 0, TimerKind.STEP)
        self.save()

    def wait_event(self, node: graph.WaitEventNode) -> bool:
        """Start waiting (True); False when the awaited event has already arrived since entry."""
        prop = value = ""
        if node.match is not None:
            prop = node.match.property
            value = self.entry_property(node.match.entry_property)
        if self.arrived_since_entry(node.event, prop, value):
            return False
        self.en.waiting_event, self.en.waiting_property, self.en.waiting_value = node.event, prop, value
        self.timer(node, self.now + timedelta(minutes=node.timeout_minutes), 0, TimerKind.TIMEOUT)
        self.save()
        return True

    def entry_property(self, name: str) -> str:
        if self.en.entry_event_id is None:
            return ""
        props = Event.objects.filter(pk=self.en.entry_event_id).values_list("properties", flat=True).first() or {}
        value = props.get(name, "")
        return "" if value is None else str(value)

    def since_entry(self, event: str) -> Any:
        return Event.objects.filter(enterprise_id=self.en.enterprise_id, customer_id=self.en.customer_id, name=event,
                                    id__gt=self.en.entry_event_id or 0, occurred_at__gte=self.en.entered_at)

    def arrived_since_entry(self, event: str, prop: str, value: str) -> bool:
        for props in self.since_entry(event).values_list("properties", flat=True)[:1000]:
            if not prop or str((props or {}).get(prop, "")) == value:
                return True
        return False

    def branch(self, node: graph.BranchNode) -> str:
        if node.condition == "has_tag":
            yes = CustomerTag.objects.filter(customer_id=self.en.customer_id, tag_id=int(node.tag_id or 0)).exists()
        elif node.condition == "event_since_entry":
            yes = self.since_entry(node.event).exists()
        else:
            yes = bucket(self.en.journey_id, self.en.customer_id) < node.percent
        self.step(node, "yes" if yes else "no")
        return node.then if yes else node.otherwise

    def send(self, node: graph.ActionNode) -> str | None:
        """Plan the message as a campaign's delivery keyed by the step; the sender worker sends it. Blocked by the
        contact budget: the step is `skipped` with the reason, and the journey goes to `on_blocked` if given."""
        key = self.key(node.id)
        if not self.step(node, "done"):
            outcome = Step.objects.filter(enterprise_id=self.en.enterprise_id, key=key).values_list(
                "outcome", flat=True).first()
            blocked = outcome == "skipped"
        else:
            campaign_id = _send_campaign(self.en.journey, self.en.version_id, node)
            planned = messaging_services.plan_journey_send(
                enterprise_id=self.en.enterprise_id, campaign_id=campaign_id, customer_id=self.en.customer_id,
                key=key, now=self.now)
            blocked = planned.status != "planned"
            if blocked:
                Step.objects.filter(key=key, enterprise_id=self.en.enterprise_id).update(
                    outcome="skipped", code=planned.reason[:64])
            else:
                self.sends.append(key)
        if blocked and node.on_blocked:
            return node.on_blocked
        return graph.following(node, self.ids)

    def act(self, node: graph.ActionNode) -> str | None:
        if node.action == "send":
            return self.send(node)
        if self.step(node, "done"):
            try:
                with transaction.atomic():
                    skipped = perform(node, enterprise_id=self.en.enterprise_id, customer_id=self.en.customer_id,
                                      key=self.key(node.id), reason=self.en.journey.name, now=self.now)
                if skipped:
                    Step.objects.filter(key=self.key(node.id), enterprise_id=self.en.enterprise_id).update(
                        outcome="skipped", code=skipped)
            except DomainError as refused:
                Step.objects.filter(key=self.key(node.id), enterprise_id=self.en.enterprise_id).update(
                    outcome="failed", code=refused.code[:64])
        return graph.following(node, self.ids)


def bucket(journey_id: int, customer_id: int) -> int:
    """A stable 0-99 bucket per (journey, customer): a random split that never reshuffles."""
    digest = hashlib.sha256(f"{journey_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def _quiet(local: datetime) -> bool:
    moment = local.time()
    return moment >= QUIET_START or moment < QUIET_END


def wait_until(node: graph.WaitNode, now: datetime) -> datetime:
    """When a wait ends: `minutes` on, then the next `until` local time on an allowed weekday, then out of quiet
    hours (21:00-08:00 Shanghai) when the node honours them."""
    local = (now + timedelta(minutes=node.minutes)).astimezone(SHANGHAI)
    if node.until:
        hour, minute = (int(p) for p in node.until.split(":"))
        candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate < local:
            candidate += timedelta(days=1)
        while node.weekdays and candidate.weekday() not in node.weekdays:
            candidate += timedelta(days=1)
        local = candidate
    if node.quiet_hours and _quiet(local):
        end = local.replace(hour=QUIET_END.hour, minute=QUIET_END.minute, second=0, microsecond=0)
        local = end if local.time() < QUIET_END else end + timedelta(days=1)
    return local.astimezone(now.tzinfo)


def until_date(node: graph.WaitNode, born: date, now: datetime) -> datetime:
    """The next yearly date (`born`'s month and day; 29 February is the 28th in other years) moved by
    `offset_days`, at `until` (10:00) Shanghai, not before now; then out of quiet hours."""
    hour, minute = (int(p) for p in (node.until or "10:00").split(":"))
    today = now.astimezone(SHANGHAI)
    for year in (today.year - 1, today.year, today.year + 1):
        day = born.replace(year=year) if (born.month, born.day) != (2, 29) or calendar.isleap(year) else date(
            year, 2, 28)
        moment = datetime.combine(day + timedelta(days=node.offset_days), time(hour, minute), tzinfo=SHANGHAI)
        if moment >= today:
            break
    if node.quiet_hours and _quiet(moment):
        end = moment.replace(hour=QUIET_END.hour, minute=QUIET_END.minute)
        moment = end if moment.time() < QUIET_END else end + timedelta(days=1)
    return moment.astimezone(now.tzinfo)


def perform(node: graph.ActionNode, *, enterprise_id: int, customer_id: int, key: str, reason: str,
            now: datetime) -> str:
    """The action, through the owning app's service, keyed by the step. Returns a skip code ('' when done)."""
    if node.action == "add_tag":
        customer_services.tag_customers(enterprise_id=enterprise_id, customer_ids=[customer_id],
                                        tag_ids=[int(node.tag_id or 0)], source=TagKind.EVENT)
    elif node.action == "remove_tag":
        customer_services.untag_customers(enterprise_id=enterprise_id, customer_ids=[customer_id],
                                          tag_ids=[int(node.tag_id or 0)])
    elif node.action == "grant_points":
        loyalty_services.adjust(scope=Scope.hq(enterprise_id, label="journey"), customer_id=customer_id,
                                points=node.points, reason=reason, key=key, now=now)
    elif node.action == "issue_coupon":
        promotion_services.issue_coupon(enterprise_id=enterprise_id, template_id=int(node.coupon_template_id or 0),
                                        customer_id=customer_id, idempotency_key=key, now=now)
    else:
        return create_task(enterprise_id=enterprise_id, customer_id=customer_id, title=node.title, key=key,
                           due_at=now + timedelta(hours=node.due_hours), now=now)
    return ""


def create_task(*, enterprise_id: int, customer_id: int, title: str, key: str, due_at: datetime,
                now: datetime) -> str:
    """A task for the customer's owning staff (their first active relationship); `no_owner` when there is none."""
    owner = (Relationship.objects.filter(customer_id=customer_id, status=RelationshipStatus.ACTIVE,
                                         staff__is_active=True)
             .order_by("added_at", "id").values_list("staff_id", "staff__store_id").first())
    if owner is None:
        return "no_owner"
    StaffTask.objects.bulk_create([StaffTask(
        enterprise_id=enterprise_id, staff_id=owner[0], store_id=owner[1], customer_id=customer_id, title=title,
        key=key, status=TaskStatus.OPEN, due_at=due_at, created_at=now)], ignore_conflicts=True)
    return ""


def complete_task(*, scope: Scope, task_id: int, actor: Actor = None, now: datetime | None = None) -> StaffTask:
    """A staff member marks their task done (their own; a manager any in their scope). Done twice is done once."""
    from siyu.automation import queries  # noqa: PLC0415

    task = queries.get_task(scope, task_id)
    moment = now or timezone.now()
    with transaction.atomic():
        StaffTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(status=TaskStatus.DONE, done_at=moment)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="automation.task_done",
                     target_type="staff_task", target_id=task.pk, summary=task.title)
    task.refresh_from_db()
    return task


# ---------------------------------------------------------------------------------------------------------------
# The batch runner
#
# The batch runner: the due timers a worker claimed, grouped by (version, node, kind), each group moved through the
# graph together, set-based where the node allows, in transactions of at most GROUP_MAX enrollments.
#
# One transaction per chunk of a group: its enrollments are locked (in id order, PostgreSQL) and its timers marked done
# by the conditional UPDATE on the claim token, then the chunk walks the version's nodes in topological order, so
# customers that split at a branch and meet again move on together:
# - a tag or untag action: one INSERT of the step rows, one set-based tag write (`customers.services.tag_customers`,
#   which adds only the missing rows) for the customers whose step is new;
# - a branch: one query (has the tag / an event since entry) or the stable bucket function, then the group splits;
# - a wait: one INSERT of timers (the due time is the same for all, or one pass over their birthdays);
# - a wait for an event: one query for the entry events' keys and one for events already arrived;
# - an exit, or the end: one UPDATE of the enrollments per resulting state.
# Actions with a side effect in another app (points, coupons, staff tasks, sends) run per customer through the same
# `Runner.act` as the per-customer path, keyed by the step, and at most one such node per transaction: a walk that
# reaches a second one parks the enrollments there with a `next` timer due at once (the next claim takes it), and a
# group that can reach one is cut into chunks of EFFECT_MAX. A worker killed mid-way rolls back the chunk it was in;
# its claims lapse and the chunk is run again from the same state, so nothing is lost and nothing doubles.
#
# `services.run_timer` (one enrollment per transaction) is the per-customer reference the batch runner is tested
# against (tests/automation/test_batch_runner.py).

GROUP_MAX = 1000
EFFECT_MAX = 100
EFFECTS = frozenset({"grant_points", "issue_coupon", "create_task", "send"})
NEXT_ATTEMPT = 3
_STATE = ("current_node", "waiting_event", "waiting_property", "waiting_value", "status", "ended_at")
_SPREAD = 20  # more distinct end states than this in a chunk: one bulk UPDATE (CASE) instead of one per state


def run_claimed(*, token: str, timer_ids: Sequence[int], now: datetime, sends: list[str]) -> int:
    """Work the timers this caller claimed (`token`), grouped; returns the timers worked. The keys of the sends
    planned are added to `sends`."""
    rows = (Timer.objects.filter(pk__in=list(timer_ids), claimed_by=token, status=TimerStatus.CLAIMED)
            .order_by("due_at", "id").values_list("id", "enrollment_id", "node", "kind", "enrollment__version_id"))
    groups: dict[tuple[int, str, str], list[tuple[int, int]]] = {}
    for timer_id, enrollment_id, node, kind, version_id in rows:
        start = "run" if kind in (TimerKind.ENTRY, TimerKind.NEXT) else str(kind)
        groups.setdefault((version_id, node, start), []).append((timer_id, enrollment_id))
    worked = 0
    for (version_id, node_id, start), members in groups.items():
        version = JourneyVersion.objects.select_related("journey").get(pk=version_id)
        definition = _parsed(version)
        size = EFFECT_MAX if _reaches_effect(definition, _first_nodes(definition, node_id, start)) else GROUP_MAX
        for at in range(0, len(members), size):
            chunk = members[at:at + size]
            walk = _Walk(version, definition, now)
            with transaction.atomic():
                walk.run(token, node_id, start, chunk)
            sends.extend(walk.sends)
            worked += len(chunk)
    return worked


def _first_nodes(definition: graph.Definition, node_id: str, start: str) -> list[str]:
    """The nodes a group's walk visits first."""
    node = definition.node(node_id)
    ids = [n.id for n in definition.nodes]
    if start == "run":
        return [node_id]
    if start == TimerKind.TIMEOUT and isinstance(node, graph.WaitEventNode):
        return [node.on_timeout]
    return [n for n in [graph.following(node, ids)] if n]


def _reaches_effect(definition: graph.Definition, starts: Iterable[str]) -> bool:
    """Whether a walk from `starts` may reach a per-customer action before a wait stops it."""
    ids = [n.id for n in definition.nodes]
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node = definition.node(todo.pop())
        if node.id in seen:
            continue
        seen.add(node.id)
        if isinstance(node, graph.ActionNode) and node.action in EFFECTS:
            return True
        if isinstance(node, graph.WaitNode):
            continue
        todo += [t for t in graph.targets(node, ids) if not isinstance(node, graph.WaitEventNode)
                 or t != node.on_timeout]
    return False


def _topological(definition: graph.Definition) -> dict[str, int]:
    ids = [n.id for n in definition.nodes]
    done: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for target in graph.targets(definition.node(node_id), ids):
            visit(target)
        done.append(node_id)

    for node_id in ids:
        visit(node_id)
    return {node_id: index for index, node_id in enumerate(reversed(done))}


def _insert(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows in one go, a repeat (the unique key) skipped: SQLite runs one prepared INSERT by executemany (in C);
    PostgreSQL takes multi-row VALUES (per-row statements there cost a round trip each)."""
    if not rows:
        return
    marks = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES {marks} ON CONFLICT DO NOTHING", rows)  # noqa: S608
            return
        for at in range(0, len(rows), 1000):
            part = rows[at:at + 1000]
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * len(part))} "  # noqa: S608
                           f"ON CONFLICT DO NOTHING", [value for row in part for value in row])


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


class _Walk:
    """One chunk of a group, inside its transaction."""

    def __init__(self, version: JourneyVersion, definition: graph.Definition, now: datetime) -> None:
        self.version = version
        self.definition = definition
        self.ids = [n.id for n in definition.nodes]
        self.order = _topological(definition)
        self.now = now
        self.at = _db(now)
        self.dues: dict[datetime, Any] = {now: self.at}
        self.enterprise_id = version.journey.enterprise_id
        self.pending: dict[str, list[Enrollment]] = {}
        self.members: list[Enrollment] = []
        self.timers: list[tuple[Any, ...]] = []
        self.effect_run = False
        self.sends: list[str] = []

    # -- the chunk

    def run(self, token: str, node_id: str, start: str, chunk: list[tuple[int, int]]) -> None:
        timer_ids = [t for t, _e in chunk]
        wanted = sorted({e for _t, e in chunk})
        locked = Enrollment.objects.filter(pk__in=wanted).order_by("pk")
        if connection.vendor == "postgresql":
            locked = locked.select_for_update()
        found = {en.pk: en for en in locked}
        table, marks = Timer._meta.db_table, _marks(timer_ids)
        _sql(f"UPDATE {table} SET status = 'done' WHERE id IN ({marks}) AND status = 'claimed' "  # noqa: S608
                      f"AND claimed_by = %s", [*timer_ids, token])
        mine = {row[0] for row in _rows(
            f"SELECT enrollment_id FROM {table} WHERE id IN ({marks}) AND status = 'done' "  # noqa: S608
            f"AND claimed_by = %s", [*timer_ids, token])}
        for eid in wanted:
            en = found.get(eid)
            if en is None or eid not in mine or en.status != EnrollmentStatus.ACTIVE or en.current_node != node_id:
                continue
            en.version = self.version
            en.journey = self.version.journey
            self.members.append(en)
        if not self.members:
            return
        self.resume(node_id, start, self.members)
        while self.pending:
            at = min(self.pending, key=self.order.__getitem__)
            self.visit(self.definition.node(at), self.pending.pop(at))
        self.flush()

    def resume(self, node_id: str, start: str, members: list[Enrollment]) -> None:
        """What `Runner.resume` does, for the group."""
        node = self.definition.node(node_id)
        if start == "run":
            self.push(node_id, members)
        elif isinstance(node, graph.WaitEventNode):
            arrived = start == TimerKind.EVENT
            self.steps(node, [(en, "event" if arrived else "timeout", "") for en in members])
            for en in members:
                en.waiting_event = en.waiting_property = en.waiting_value = ""
            self.push(graph.following(node, self.ids) if arrived else node.on_timeout, members)
        else:
            self.steps(node, [(en, "done", "") for en in members])
            self.push(graph.following(node, self.ids), members)

    def push(self, node_id: str | None, members: list[Enrollment]) -> None:
        if not members:
            return
        if node_id is None:
            self.finish(members, EnrollmentStatus.COMPLETED)
        else:
            self.pending.setdefault(node_id, []).extend(members)

    def visit(self, node: Any, members: list[Enrollment]) -> None:
        for en in members:
            en.current_node = node.id
        if isinstance(node, graph.WaitNode):
            self.wait(node, members)
        elif isinstance(node, graph.WaitEventNode):
            self.wait_event(node, members)
        elif isinstance(node, graph.ExitNode):
            self.steps(node, [(en, "done", "") for en in members])
            self.finish(members, EnrollmentStatus.EXITED)
        elif isinstance(node, graph.BranchNode):
            self.branch(node, members)
        elif node.action in EFFECTS:
            self.effect(node, members)
        else:
            self.tag(node, members)

    def finish(self, members: list[Enrollment], status: str) -> None:
        for en in members:
            en.status = status
            en.ended_at = self.now
            en.waiting_event = ""

    # -- writes

    def key(self, en: Enrollment, node_id: str) -> str:
        return f"journey:{en.pk}:{node_id}"

    def steps(self, node: Any, rows: list[tuple[Enrollment, str, str]]) -> None:
        """The step rows of a node, one statement; a row already there (a repeat) stays as it was."""
        _insert(
            Step._meta.db_table, "enterprise_id, enrollment_id, journey_id_copy, node, kind, outcome, code, key, at",
            [(self.enterprise_id, en.pk, en.journey_id, node.id, node.kind, outcome, code[:64],
              self.key(en, node.id), self.at) for en, outcome, code in rows])

    def fresh(self, node: Any, members: list[Enrollment]) -> list[Enrollment]:
        """The members without a step at the node yet (its effect has not happened)."""
        ids = [en.pk for en in members]
        seen = {row[0] for row in _rows(
            f"SELECT enrollment_id FROM {Step._meta.db_table} WHERE enrollment_id IN ({_marks(ids)}) "  # noqa: S608
            f"AND node = %s", [*ids, node.id])}
        return [en for en in members if en.pk not in seen]

    def timer(self, en: Enrollment, node: Any, due: datetime, attempt: int, kind: str) -> None:
        when = self.dues.get(due)
        if when is None:
            when = self.dues[due] = _db(due)
        self.timers.append((en.pk, node.id, attempt, str(kind), when, "pending", ""))

    def flush(self) -> None:
        _insert(Timer._meta.db_table, "enrollment_id, node, attempt, kind, due_at, status, claimed_by", self.timers)
        states: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for en in self.members:
            states[tuple(getattr(en, f) for f in _STATE)].append(en.pk)
        if len(states) > _SPREAD:
            Enrollment.objects.bulk_update(self.members, list(_STATE), batch_size=500)
            return
        for state, ids in states.items():
            Enrollment.objects.filter(pk__in=ids).update(**dict(zip(_STATE, state, strict=True)))

    # -- the nodes

    def wait(self, node: graph.WaitNode, members: list[Enrollment]) -> None:
        if not node.date_field:
            due = wait_until(node, self.now)
            for en in members:
                self.timer(en, node, due, 0, TimerKind.STEP)
            return
        born = dict(Customer.objects.filter(pk__in={en.customer_id for en in members})
                    .values_list("pk", "birthday"))
        without = [en for en in members if born.get(en.customer_id) is None]
        self.steps(node, [(en, "skipped", "no_date") for en in without])
        self.finish(without, EnrollmentStatus.EXITED)
        for en in members:
            day = born.get(en.customer_id)
            if day is not None:
                self.timer(en, node, until_date(node, day, self.now), 0, TimerKind.STEP)

    def since_entry(self, event: str, members: list[Enrollment]) -> dict[int, list[tuple[int, datetime, Any]]]:
        """The customers' `event`s since the earliest entry among them: customer -> (id, occurred_at, properties)."""
        found: dict[int, list[tuple[int, datetime, Any]]] = defaultdict(list)
        rows = Event.objects.filter(enterprise_id=self.enterprise_id, name=event,
                                    customer_id__in={en.customer_id for en in members},
                                    occurred_at__gte=min(en.entered_at for en in members)).values_list(
            "customer_id", "id", "occurred_at", "properties")
        for customer_id, event_id, at, props in rows:
            found[customer_id].append((event_id, at, props))
        return found

    @staticmethod
    def after_entry(en: Enrollment, events: list[tuple[int, datetime, Any]]) -> list[Any]:
        return [props for event_id, at, props in events
                if event_id > (en.entry_event_id or 0) and at >= en.entered_at]

    def wait_event(self, node: graph.WaitEventNode, members: list[Enrollment]) -> None:
        prop = node.match.property if node.match is not None else ""
        values: dict[int, str] = {}
        if node.match is not None:
            name = node.match.entry_property
            entries = dict(Event.objects.filter(pk__in={en.entry_event_id for en in members if en.entry_event_id})
                           .values_list("pk", "properties"))
            for en in members:
                raw = (entries.get(en.entry_event_id or 0) or {}).get(name, "")
                values[en.pk] = "" if raw is None else str(raw)
        events = self.since_entry(node.event, members)
        arrived: list[Enrollment] = []
        for en in members:
            value = values.get(en.pk, "")
            if any(not prop or str((p or {}).get(prop, "")) == value
                   for p in self.after_entry(en, events.get(en.customer_id, []))):
                arrived.append(en)
                continue
            en.waiting_event, en.waiting_property, en.waiting_value = node.event, prop, value
            self.timer(en, node, self.now + timedelta(minutes=node.timeout_minutes), 0, TimerKind.TIMEOUT)
        self.steps(node, [(en, "event", "") for en in arrived])
        self.push(graph.following(node, self.ids), arrived)

    def branch(self, node: graph.BranchNode, members: list[Enrollment]) -> None:
        if node.condition == "has_tag":
            tagged = set(CustomerTag.objects.filter(customer_id__in={en.customer_id for en in members},
                                                    tag_id=int(node.tag_id or 0)).values_list("customer_id",
                                                                                              flat=True))
            yes = {en.pk for en in members if en.customer_id in tagged}
        elif node.condition == "event_since_entry":
            events = self.since_entry(node.event, members)
            yes = {en.pk for en in members if self.after_entry(en, events.get(en.customer_id, []))}
        else:
            yes = {en.pk for en in members if bucket(en.journey_id, en.customer_id) < node.percent}
        self.steps(node, [(en, "yes" if en.pk in yes else "no", "") for en in members])
        self.push(node.then, [en for en in members if en.pk in yes])
        self.push(node.otherwise, [en for en in members if en.pk not in yes])

    def tag(self, node: graph.ActionNode, members: list[Enrollment]) -> None:
        """Add or remove a tag: one write for the customers whose step is new (a repeat tags no one)."""
        new = self.fresh(node, members)
        codes: dict[int, str] = {}
        customers = list(dict.fromkeys(en.customer_id for en in new))
        if customers:
            try:
                with transaction.atomic():
                    if node.action == "add_tag":
                        customer_services.tag_customers(enterprise_id=self.enterprise_id, customer_ids=customers,
                                                        tag_ids=[int(node.tag_id or 0)], source=TagKind.EVENT)
                    else:
                        customer_services.untag_customers(enterprise_id=self.enterprise_id, customer_ids=customers,
                                                          tag_ids=[int(node.tag_id or 0)])
            except DomainError:
                codes = self.one_by_one(node, new)  # a merged customer, a deleted tag: each on its own
        self.steps(node, [(en, "failed" if en.pk in codes else "done", codes.get(en.pk, "")) for en in new])
        self.push(graph.following(node, self.ids), members)

    def one_by_one(self, node: graph.ActionNode, members: list[Enrollment]) -> dict[int, str]:
        codes: dict[int, str] = {}
        for en in members:
            try:
                with transaction.atomic():
                    perform(node, enterprise_id=self.enterprise_id, customer_id=en.customer_id,
                                     key=self.key(en, node.id), reason=self.version.journey.name, now=self.now)
            except DomainError as refused:
                codes[en.pk] = refused.code
        return codes

    def effect(self, node: graph.ActionNode, members: list[Enrollment]) -> None:
        """Points, a coupon, a task or a send: per customer (keyed by the step), once per transaction."""
        if self.effect_run:
            for en in members:
                self.timer(en, node, self.now, NEXT_ATTEMPT, TimerKind.NEXT)
            return
        self.effect_run = True
        onward: dict[str | None, list[Enrollment]] = defaultdict(list)
        for en in members:
            runner = Runner(en, self.now, self.definition)
            onward[runner.act(node)].append(en)
            self.sends.extend(runner.sends)
        for node_id, going in onward.items():
            self.push(node_id, going)

# ---------------------------------------------------------------------------------------------------------------
# Standard SOPs: a draft to start from


def _welcome_sop() -> dict[str, Any]:
    """New-contact welcome series: a staff task on day 0, 1, 3 and 7 after the add."""
    nodes: list[dict[str, Any]] = []
    for day, wait_days, title in ((0, 0, _("Welcome the new contact")), (1, 1, _("Day 1: share the brand story")),
                                  (3, 2, _("Day 3: recommend a best seller")), (7, 4, _("Day 7: invite to a group"))):
        if wait_days:
            nodes.append({"id": f"wait{day}", "kind": "wait", "minutes": wait_days * 1440})
        nodes.append({"id": f"day{day}", "kind": "action", "action": "create_task", "title": str(title)})
    return {"entry": {"kind": "event", "event": "wecom_contact_added"}, "goal": {"event": "order_paid"},
            "nodes": nodes}


def _cart_sop(enterprise_id: int) -> dict[str, Any]:
    """Abandoned cart: wait two hours for the same cart to be paid; if it is not, a coupon (the newest template) or,
    with none, a task for the owning staff."""
    from siyu.promotions import queries as promotion_queries  # noqa: PLC0415

    template = promotion_queries.coupon_templates(Scope.hq(enterprise_id)).order_by("-id").first()
    nudge: dict[str, Any] = (
        {"id": "nudge", "kind": "action", "action": "issue_coupon", "coupon_template_id": template.pk}
        if template is not None else
        {"id": "nudge", "kind": "action", "action": "create_task", "title": str(_("Remind about the cart"))})
    return {"entry": {"kind": "event", "event": "cart_abandoned"}, "reentry": {"mode": "always"},
            "nodes": [{"id": "wait_pay", "kind": "wait_event", "event": "order_paid", "timeout_minutes": 120,
                       "match": {"property": "cart_id", "entry_property": "cart_id"}, "on_timeout": "nudge"},
                      {"id": "paid", "kind": "exit"}, nudge]}


def _nudge(enterprise_id: int, node_id: str, title: str) -> dict[str, Any]:
    """A coupon (the newest template) or, with none, a task for the owning staff."""
    from siyu.promotions import queries as promotion_queries  # noqa: PLC0415

    template = promotion_queries.coupon_templates(Scope.hq(enterprise_id)).order_by("-id").first()
    if template is not None:
        return {"id": node_id, "kind": "action", "action": "issue_coupon", "coupon_template_id": template.pk}
    return {"id": node_id, "kind": "action", "action": "create_task", "title": title}


def _first_purchase_sop(enterprise_id: int) -> dict[str, Any]:
    """First-purchase conversion: a day after the add a coupon, three days later a task to follow up; paying
    an order is the goal (they leave the journey there)."""
    return {"entry": {"kind": "event", "event": "wecom_contact_added"}, "reentry": {"mode": "once"},
            "goal": {"event": "order_paid"},
            "nodes": [{"id": "wait1", "kind": "wait", "minutes": 1440},
                      _nudge(enterprise_id, "coupon", str(_("Offer a first-purchase discount"))),
                      {"id": "wait3", "kind": "wait", "minutes": 3 * 1440},
                      {"id": "follow", "kind": "action", "action": "create_task",
                       "title": str(_("Follow up on the first-purchase coupon"))}]}


def _repurchase_sop(days: int) -> dict[str, Any]:
    """Repurchase reminder: `days` after an order (set it to the product's repurchase cycle), a reminder task; a new
    order on the way is the goal, and each order starts the cycle again."""
    return {"entry": {"kind": "event", "event": "order_paid"}, "reentry": {"mode": "always"},
            "goal": {"event": "order_paid"},
            "nodes": [{"id": "cycle", "kind": "wait", "minutes": days * 1440, "until": "10:00"},
                      {"id": "remind", "kind": "action", "action": "create_task",
                       "title": str(_("Remind about repurchasing"))}]}


def _lifecycle_sop(enterprise_id: int, stage: str, title: str, follow: str) -> dict[str, Any]:
    """A customer moving into `stage`: a coupon (or a task), then after three days a call task unless they ordered;
    an order is the goal."""
    return {"entry": {"kind": "event", "event": "lifecycle_changed", "filters": {"to_stage": stage}},
            "reentry": {"mode": "every_n_days", "days": 30}, "goal": {"event": "order_paid"},
            "nodes": [_nudge(enterprise_id, "nudge", title),
                      {"id": "wait3", "kind": "wait", "minutes": 3 * 1440, "until": "10:00"},
                      {"id": "call", "kind": "action", "action": "create_task", "title": follow}]}


def _birthday_sop(enterprise_id: int) -> dict[str, Any]:
    """Birthday: three days before the customer's birthday a coupon, on the day a greeting task; customers without
    a birthday leave at the first wait."""
    return {"entry": {"kind": "event", "event": "wecom_contact_added"}, "reentry": {"mode": "once"},
            "nodes": [{"id": "before", "kind": "wait", "date_field": "birthday", "offset_days": -3, "until": "10:00"},
                      _nudge(enterprise_id, "gift", str(_("Send a birthday gift"))),
                      {"id": "on_day", "kind": "wait", "date_field": "birthday", "until": "09:30"},
                      {"id": "greet", "kind": "action", "action": "create_task",
                       "title": str(_("Wish the customer a happy birthday"))}]}


def _group_sop(enterprise_id: int) -> dict[str, Any]:
    """New group member: a welcome task at once, a coupon the next day, a check-in task on day 3."""
    return {"entry": {"kind": "event", "event": "group_joined"}, "reentry": {"mode": "once"},
            "nodes": [{"id": "welcome", "kind": "action", "action": "create_task",
                       "title": str(_("Welcome the new group member"))},
                      {"id": "wait1", "kind": "wait", "minutes": 1440, "until": "10:00"},
                      _nudge(enterprise_id, "coupon", str(_("Share the group's welcome offer"))),
                      {"id": "wait3", "kind": "wait", "minutes": 2 * 1440, "until": "10:00"},
                      {"id": "check", "kind": "action", "action": "create_task",
                       "title": str(_("Check in with the new group member"))}]}


def sop_definition(sop: str, enterprise_id: int) -> tuple[str, dict[str, Any]]:
    """A standard SOP's (name, definition) for the enterprise (its newest coupon template where it offers one)."""
    if sop == "welcome":
        return str(_("New-contact welcome series")), _welcome_sop()
    if sop == "abandoned_cart":
        return str(_("Abandoned cart")), _cart_sop(enterprise_id)
    if sop == "first_purchase":
        return str(_("First-purchase conversion")), _first_purchase_sop(enterprise_id)
    if sop == "repurchase":
        return str(_("Repurchase reminder")), _repurchase_sop(30)
    if sop == "silent_wake_up":
        return str(_("Silent-customer wake-up")), _lifecycle_sop(
            enterprise_id, "silent", str(_("Wake up a silent customer")), str(_("Call the silent customer")))
    if sop == "churned_win_back":
        return str(_("Churned win-back")), _lifecycle_sop(
            enterprise_id, "churned", str(_("Win back a churned customer")), str(_("Call the churned customer")))
    if sop == "birthday":
        return str(_("Birthday")), _birthday_sop(enterprise_id)
    if sop == "group_onboarding":
        return str(_("New group-member onboarding")), _group_sop(enterprise_id)
    raise ValidationFailed(_("unknown template"), field="sop", code="unknown_sop")


SOPS = ("welcome", "abandoned_cart", "first_purchase", "repurchase", "silent_wake_up", "churned_win_back", "birthday",
        "group_onboarding")


def create_from_sop(*, scope: Scope, sop: str, actor: Actor = None) -> Journey:
    """A draft journey from a standard SOP, named after it, to be edited and activated."""
    _require_hq(scope)
    name, definition = sop_definition(sop, scope.enterprise_id)
    return create_journey(scope=scope, name=name, definition=definition, actor=actor)


def merge_customer_journeys(absorbed_id: int, survivor_id: int) -> int:
    """A customers merge step: the absorbed customer leaves the journeys they are inside (their history stays with
    them); their staff tasks follow the survivor."""
    inside = Enrollment.objects.filter(customer_id=absorbed_id, status=EnrollmentStatus.ACTIVE)
    Timer.objects.filter(enrollment__in=inside, status=TimerStatus.PENDING).update(status=TimerStatus.DONE)
    exited = inside.update(status=EnrollmentStatus.EXITED, ended_at=timezone.now(), waiting_event="")
    StaffTask.objects.filter(customer_id=absorbed_id).update(customer_id=survivor_id)
    return int(exited)
