"""A journey version's definition: entry, re-entry rule, goal and the nodes, validated by pydantic.

Nodes are a list (the console shows them as a vertical step list); each goes on to `next` when given, else to the
node after it in the list. A branch names `then`/`otherwise`; a wait-for-event goes on when the event arrives and to
`on_timeout` when it does not. The graph is checked to be acyclic with every reference known, so a node is visited at
most once per enrollment and (enrollment, node) is a safe idempotency key for what it does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

NODE_ID = r"^[a-z0-9_]{1,24}$"
PROPERTY = r"^[A-Za-z_][A-Za-z0-9_]{0,39}$"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_NODES = 50
MAX_WAIT_MINUTES = 60 * 24 * 366


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventEntry(Strict):
    kind: Literal["event"] = "event"
    event: str = Field(min_length=1, max_length=64)
    filters: dict[Annotated[str, Field(pattern=PROPERTY)], str | int] = Field(default_factory=dict, max_length=5)


class TagEntry(Strict):
    """A schedule over a tag: customers carrying the tag enter at each tick (subject to the re-entry rule)."""

    kind: Literal["tag"]
    tag_id: int = Field(ge=1)


class SegmentEntry(Strict):
    """Customers newly in a segment (`entered`) or newly out of it (`left`) since the journey last looked: the set
    difference between the segment's members now and the journey's snapshot of them (taken when it went live)."""

    kind: Literal["segment"]
    segment_id: int = Field(ge=1)
    on: Literal["entered", "left"] = "entered"


class Reentry(Strict):
    mode: Literal["once", "every_n_days", "not_while_inside", "always"] = "not_while_inside"
    days: int = Field(default=0, ge=0, le=3650)

    @model_validator(mode="after")
    def _days(self) -> Reentry:
        if self.mode == "every_n_days" and self.days < 1:
            raise ValueError("every_n_days needs days >= 1")
        return self


class Goal(Strict):
    event: str = Field(min_length=1, max_length=64)


class NodeBase(Strict):
    id: str = Field(pattern=NODE_ID)
    next: str | None = Field(default=None, pattern=NODE_ID)


class WaitNode(NodeBase):
    """Wait `minutes`, or until the next `until` local (Shanghai) time, on one of `weekdays` (0 = Monday) if given;
    or until the next yearly date from the customer's data (`date_field`: birthday) moved by `offset_days`, at
    `until` (10:00 when not given; a customer without the date leaves the journey there, step `skipped`/`no_date`).
    A due moment inside quiet hours moves to their end (the wait comes before a touch)."""

    kind: Literal["wait"]
    minutes: int = Field(default=0, ge=0, le=MAX_WAIT_MINUTES)
    until: str = ""
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=list, max_length=7)
    quiet_hours: bool = True
    date_field: Literal["", "birthday"] = ""
    offset_days: int = Field(default=0, ge=-60, le=60)

    @model_validator(mode="after")
    def _shape(self) -> WaitNode:
        if self.until and not HHMM.match(self.until):
            raise ValueError("until is HH:MM")
        if not self.minutes and not self.until and not self.date_field:
            raise ValueError("a wait needs minutes, until or date_field")
        if self.date_field and (self.minutes or self.weekdays):
            raise ValueError("a wait until a date takes until and offset_days only")
        return self


class Match(Strict):
    """The awaited event's `property` equals the entry event's `entry_property` (e.g. both `cart_id`)."""

    property: str = Field(pattern=PROPERTY)
    entry_property: str = Field(pattern=PROPERTY)


class WaitEventNode(NodeBase):
    kind: Literal["wait_event"]
    event: str = Field(min_length=1, max_length=64)
    match: Match | None = None
    timeout_minutes: int = Field(ge=1, le=MAX_WAIT_MINUTES)
    on_timeout: str = Field(pattern=NODE_ID)


class BranchNode(NodeBase):
    kind: Literal["branch"]
    condition: Literal["has_tag", "event_since_entry", "random"]
    tag_id: int | None = Field(default=None, ge=1)
    event: str = Field(default="", max_length=64)
    percent: int = Field(default=50, ge=0, le=100)
    then: str = Field(pattern=NODE_ID)
    otherwise: str = Field(pattern=NODE_ID)

    @model_validator(mode="after")
    def _needs(self) -> BranchNode:
        if self.condition == "has_tag" and self.tag_id is None:
            raise ValueError("has_tag needs tag_id")
        if self.condition == "event_since_entry" and not self.event:
            raise ValueError("event_since_entry needs event")
        return self


CHANNELS = ("wecom", "official_account", "sms")
MAX_TEXT = 500


class ActionNode(NodeBase):
    """An action; `send` sends a message through the campaigns' delivery path: the first of `channels` (in order)
    the customer can be reached on within the contact budget, the text of that channel from `content` (with
    `{name}`, `{staff_name}`, `{store}`). A send the budget blocks (DND, caps, consent, no channel) records why and
    goes on to `on_blocked` when given, else on as usual."""

    kind: Literal["action"]
    action: Literal["add_tag", "remove_tag", "grant_points", "issue_coupon", "create_task", "send"]
    channels: list[Literal["wecom", "official_account", "sms"]] = Field(default_factory=list, max_length=3)
    content: dict[Literal["wecom", "official_account", "sms"], Annotated[str, Field(max_length=MAX_TEXT)]] = Field(
        default_factory=dict)
    wecom_account_id: int | None = Field(default=None, ge=1)
    oa_account_id: int | None = Field(default=None, ge=1)
    oa_template_id: str = Field(default="", max_length=64)
    sms_sign: str = Field(default="", max_length=20)
    on_blocked: str | None = Field(default=None, pattern=NODE_ID)
    tag_id: int | None = Field(default=None, ge=1)
    points: int = Field(default=0, ge=0, le=1_000_000)
    coupon_template_id: int | None = Field(default=None, ge=1)
    title: str = Field(default="", max_length=120)
    due_hours: int = Field(default=24, ge=1, le=24 * 90)

    @model_validator(mode="after")
    def _needs(self) -> ActionNode:
        needs = {"add_tag": self.tag_id, "remove_tag": self.tag_id, "grant_points": self.points or None,
                 "issue_coupon": self.coupon_template_id, "create_task": self.title or None,
                 "send": self.channels or None}
        if needs[self.action] is None:
            raise ValueError(f"{self.action} needs its parameter")
        if self.action == "send":
            if len(set(self.channels)) != len(self.channels):
                raise ValueError("each channel once")
            if any(not (self.content.get(c) or "").strip() for c in self.channels):
                raise ValueError("send needs the text of each of its channels")
        elif self.on_blocked:
            raise ValueError("on_blocked is for a send")
        return self


class ExitNode(NodeBase):
    kind: Literal["exit"]


Node = Annotated[WaitNode | WaitEventNode | BranchNode | ActionNode | ExitNode, Field(discriminator="kind")]


class Definition(Strict):
    entry: Annotated[EventEntry | TagEntry | SegmentEntry, Field(discriminator="kind")]
    reentry: Reentry = Field(default_factory=Reentry)
    goal: Goal | None = None
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES)

    @model_validator(mode="after")
    def _graph(self) -> Definition:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids repeat")
        for node in self.nodes:
            for target in targets(node, ids):
                if target not in ids:
                    raise ValueError(f"node {node.id} goes to unknown node {target}")
        _acyclic(self.nodes, ids)
        return self

    def node(self, node_id: str) -> Any:
        return next(n for n in self.nodes if n.id == node_id)


def following(node: Any, ids: list[str]) -> str | None:
    """Where a node goes on by default: `next`, else the node after it in the list (None after the last)."""
    if node.next:
        return str(node.next)
    at = ids.index(node.id)
    return ids[at + 1] if at + 1 < len(ids) else None


def targets(node: Any, ids: list[str]) -> list[str]:
    if isinstance(node, ExitNode):
        return []
    if isinstance(node, BranchNode):
        return [node.then, node.otherwise]
    found = [t for t in [following(node, ids)] if t]
    if isinstance(node, WaitEventNode):
        found.append(node.on_timeout)
    if isinstance(node, ActionNode) and node.on_blocked:
        found.append(node.on_blocked)
    return found


def _acyclic(nodes: list[Any], ids: list[str]) -> None:
    by_id = {n.id: n for n in nodes}
    state: dict[str, int] = {}

    def visit(node_id: str) -> None:
        if state.get(node_id) == 1:
            raise ValueError(f"the steps loop back at {node_id}")
        if state.get(node_id) == 2:  # noqa: PLR2004 - done
            return
        state[node_id] = 1
        for target in targets(by_id[node_id], ids):
            visit(target)
        state[node_id] = 2

    for node_id in ids:
        visit(node_id)


def parse(raw: Any) -> Definition:
    """A Definition, or ValidationError (the API and the services turn it into field errors)."""
    return Definition.model_validate(raw)


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of a validation error, the path dotted: `nodes.2.minutes`."""
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in _KINDS))
    return path or "definition", str(err["msg"])


_KINDS = {"wait", "wait_event", "branch", "action", "exit", "event", "tag", "segment"}
