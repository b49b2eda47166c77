"""The batch runner: the due timers a worker claimed, grouped by (version, node, kind), each group moved through the
graph together, set-based where the node allows, in transactions of at most GROUP_MAX enrollments.

One transaction per chunk of a group: its enrollments are locked (in id order, PostgreSQL) and its timers marked done
by the conditional UPDATE on the claim token, then the chunk walks the version's nodes in topological order, so
customers that split at a branch and meet again move on together:
- a tag or untag action: one INSERT of the step rows, one set-based tag write (`customers.services.tag_customers`,
  which adds only the missing rows) for the customers whose step is new;
- a branch: one query (has the tag / an event since entry) or the stable bucket function, then the group splits;
- a wait: one INSERT of timers (the due time is the same for all, or one pass over their birthdays);
- a wait for an event: one query for the entry events' keys and one for events already arrived;
- an exit, or the end: one UPDATE of the enrollments per resulting state.
Actions with a side effect in another app (points, coupons, staff tasks, sends) run per customer through the same
`Runner.act` as the per-customer path, keyed by the step, and at most one such node per transaction: a walk that
reaches a second one parks the enrollments there with a `next` timer due at once (the next claim takes it), and a
group that can reach one is cut into chunks of EFFECT_MAX. A worker killed mid-way rolls back the chunk it was in;
its claims lapse and the chunk is run again from the same state, so nothing is lost and nothing doubles.

`services.run_timer` (one enrollment per transaction) is the per-customer reference the batch runner is tested
against (tests/automation/test_batch_runner.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from siyu.automation import graph, services
from siyu.automation.models import (
    Enrollment,
    EnrollmentStatus,
    JourneyVersion,
    Step,
    Timer,
    TimerKind,
    TimerStatus,
)
from siyu.core.errors import DomainError
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, CustomerTag, Event, TagKind

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
        definition = services._parsed(version)  # noqa: SLF001 - the app's own parse cache
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
        self.at = services._db(now)  # noqa: SLF001
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
        services._sql(f"UPDATE {table} SET status = 'done' WHERE id IN ({marks}) AND status = 'claimed' "  # noqa: S608, SLF001
                      f"AND claimed_by = %s", [*timer_ids, token])
        mine = {row[0] for row in services._rows(  # noqa: SLF001
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
        seen = {row[0] for row in services._rows(  # noqa: SLF001
            f"SELECT enrollment_id FROM {Step._meta.db_table} WHERE enrollment_id IN ({_marks(ids)}) "  # noqa: S608
            f"AND node = %s", [*ids, node.id])}
        return [en for en in members if en.pk not in seen]

    def timer(self, en: Enrollment, node: Any, due: datetime, attempt: int, kind: str) -> None:
        when = self.dues.get(due)
        if when is None:
            when = self.dues[due] = services._db(due)  # noqa: SLF001
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
            due = services.wait_until(node, self.now)
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
                self.timer(en, node, services.until_date(node, day, self.now), 0, TimerKind.STEP)

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
            yes = {en.pk for en in members if services.bucket(en.journey_id, en.customer_id) < node.percent}
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
                    services.perform(node, enterprise_id=self.enterprise_id, customer_id=en.customer_id,
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
            runner = services.Runner(en, self.now, self.definition)
            onward[runner.act(node)].append(en)
            self.sends.extend(runner.sends)
        for node_id, going in onward.items():
            self.push(node_id, going)
