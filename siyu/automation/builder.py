"""The journey builder's form: a definition as flat form fields (`entry_*`, `reentry_*`, `goal_event` and one group
`n-<i>-<field>` per node in list order) and back, the builder's edits (add a node of a kind, remove, move up or down)
and pydantic's errors placed on the field they belong to. The definition is checked by the same pydantic graph the
API and the services use (siyu/automation/graph.py); nothing here decides what is valid.

Fields the builder does not show for a node (a kind or an action added later) ride along in a hidden JSON field, so
an edit never drops them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from pydantic import ValidationError

from siyu.automation import graph

NODE_KINDS = ("wait", "wait_event", "branch", "action", "exit")
INTS = {"minutes", "timeout_minutes", "tag_id", "percent", "points", "coupon_template_id", "due_hours", "days"}
FIELDS: dict[str, tuple[str, ...]] = {
    "wait": ("minutes", "until", "weekdays", "quiet_hours"),
    "wait_event": ("event", "match_property", "match_entry_property", "timeout_minutes", "on_timeout"),
    "branch": ("condition", "tag_id", "event", "percent", "then", "otherwise"),
    "action": ("action", "tag_id", "points", "coupon_template_id", "title", "due_hours"),
    "exit": (),
}
MAX_NODES = graph.MAX_NODES


@dataclass
class NodeForm:
    kind: str
    values: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.values.get("id", ""))

    @property
    def extra_json(self) -> str:
        return json.dumps(self.extra, ensure_ascii=False) if self.extra else ""


@dataclass
class BuilderForm:
    name: str
    head: dict[str, Any]
    nodes: list[NodeForm]
    errors: dict[str, str] = field(default_factory=dict)  # name, entry_*, reentry_*, goal_event, "" for the graph

    @property
    def ids(self) -> list[str]:
        return [n.id for n in self.nodes if n.id]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(n.errors for n in self.nodes)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def from_definition(name: str, definition: Mapping[str, Any]) -> BuilderForm:
    entry = definition.get("entry") or {"kind": "event", "event": ""}
    reentry = definition.get("reentry") or {}
    head = {"entry_kind": entry.get("kind", "event"), "entry_event": _text(entry.get("event")),
            "entry_tag_id": _text(entry.get("tag_id")),
            "entry_filters": json.dumps(entry.get("filters") or {}, ensure_ascii=False) if entry.get("filters") else "",
            "reentry_mode": reentry.get("mode", "not_while_inside"), "reentry_days": _text(reentry.get("days") or ""),
            "goal_event": _text((definition.get("goal") or {}).get("event"))}
    nodes = []
    for raw in definition.get("nodes", []):
        kind = str(raw.get("kind", ""))
        values: dict[str, Any] = {"id": raw.get("id", ""), "next": _text(raw.get("next"))}
        shown = set(FIELDS.get(kind, ())) | {"id", "next", "kind"}
        for name_ in FIELDS.get(kind, ()):
            if name_.startswith("match_"):
                values[name_] = _text((raw.get("match") or {}).get(name_[len("match_"):]))
            elif name_ == "weekdays":
                values[name_] = [str(d) for d in raw.get("weekdays", [])]
            elif name_ == "quiet_hours":
                values[name_] = bool(raw.get("quiet_hours", True))
            else:
                values[name_] = _text(raw.get(name_))
        extra = {k: v for k, v in raw.items() if k not in shown and k != "match"}
        nodes.append(NodeForm(kind=kind, values=values, extra=extra))
    return BuilderForm(name=name, head=head, nodes=nodes)


def from_post(post: QueryDict) -> BuilderForm:
    head = {k: post.get(k, "").strip() for k in ("entry_kind", "entry_event", "entry_tag_id", "entry_filters",
                                                  "reentry_mode", "reentry_days", "goal_event")}
    try:
        count = min(int(post.get("count", "0")), MAX_NODES + 1)
    except ValueError:
        count = 0
    nodes = []
    for i in range(count):
        kind = post.get(f"n-{i}-kind", "")
        if kind not in NODE_KINDS:
            continue
        values: dict[str, Any] = {"id": post.get(f"n-{i}-id", "").strip(), "next": post.get(f"n-{i}-next", "")}
        for name_ in FIELDS[kind]:
            if name_ == "weekdays":
                values[name_] = post.getlist(f"n-{i}-weekdays")
            elif name_ == "quiet_hours":
                values[name_] = post.get(f"n-{i}-quiet_hours") == "1"
            else:
                values[name_] = post.get(f"n-{i}-{name_}", "").strip()
        try:
            extra = json.loads(post.get(f"n-{i}-extra") or "{}")
        except ValueError:
            extra = {}
        nodes.append(NodeForm(kind=kind, values=values, extra=extra if isinstance(extra, dict) else {}))
    return BuilderForm(name=post.get("name", "").strip(), head=head, nodes=nodes)


def _num(value: str) -> Any:
    """An integer field: the number, or the text as typed (pydantic then says it is not a number, on that field)."""
    try:
        return int(value)
    except ValueError:
        return value


def _node(form: NodeForm) -> dict[str, Any]:
    out: dict[str, Any] = {**form.extra, "id": form.id, "kind": form.kind}
    if form.values.get("next"):
        out["next"] = form.values["next"]
    match: dict[str, Any] = {}
    for name_ in FIELDS.get(form.kind, ()):
        value = form.values.get(name_)
        if name_ == "weekdays":
            if value:
                out["weekdays"] = [_num(v) for v in value]
        elif name_ == "quiet_hours":
            out["quiet_hours"] = bool(value)
        elif name_.startswith("match_"):
            if value:
                match[name_[len("match_"):]] = value
        elif value not in ("", None):
            out[name_] = _num(value) if name_ in INTS else value
    if match:
        out["match"] = match
    return out


def to_definition(form: BuilderForm) -> dict[str, Any]:
    h = form.head
    entry: dict[str, Any] = {"kind": h.get("entry_kind") or "event"}
    if entry["kind"] == "tag":
        entry["tag_id"] = _num(h.get("entry_tag_id", ""))
    else:
        entry["event"] = h.get("entry_event", "")
        if h.get("entry_filters"):
            try:
                entry["filters"] = json.loads(h["entry_filters"])
            except ValueError:
                entry["filters"] = h["entry_filters"]
    reentry: dict[str, Any] = {"mode": h.get("reentry_mode") or "not_while_inside"}
    if h.get("reentry_days"):
        reentry["days"] = _num(h["reentry_days"])
    out: dict[str, Any] = {"entry": entry, "reentry": reentry, "nodes": [_node(n) for n in form.nodes]}
    if h.get("goal_event"):
        out["goal"] = {"event": h["goal_event"]}
    return out


def _fresh_id(form: BuilderForm) -> str:
    """The smallest free step number: a number reads the same in every language (a kind-named id such as
    `wait_1` would put English on a Chinese page); the operator may rename it."""
    taken = set(form.ids)
    n = 1
    while str(n) in taken:
        n += 1
    return str(n)


DEFAULTS: dict[str, dict[str, Any]] = {
    "wait": {"minutes": "60", "until": "", "weekdays": [], "quiet_hours": True},
    "wait_event": {"event": "order_paid", "match_property": "", "match_entry_property": "", "timeout_minutes": "120",
                   "on_timeout": ""},
    "branch": {"condition": "random", "tag_id": "", "event": "", "percent": "50", "then": "", "otherwise": ""},
    "action": {"action": "create_task", "tag_id": "", "points": "", "coupon_template_id": "", "title": "",
               "due_hours": "24"},
    "exit": {},
}


def apply_op(form: BuilderForm, op: str) -> None:
    """The builder's edits, in place: `add:<kind>`, `remove:<i>`, `up:<i>`, `down:<i>` (unknown ops do nothing)."""
    verb, _sep, arg = op.partition(":")
    if verb == "add" and arg in NODE_KINDS and len(form.nodes) < MAX_NODES:
        values = {"id": _fresh_id(form), "next": "", **json.loads(json.dumps(DEFAULTS[arg]))}
        form.nodes.append(NodeForm(kind=arg, values=values))
        return
    try:
        i = int(arg)
    except ValueError:
        return
    if not 0 <= i < len(form.nodes):
        return
    if verb == "remove":
        form.nodes.pop(i)
    elif verb == "up" and i > 0:
        form.nodes[i - 1], form.nodes[i] = form.nodes[i], form.nodes[i - 1]
    elif verb == "down" and i + 1 < len(form.nodes):
        form.nodes[i + 1], form.nodes[i] = form.nodes[i], form.nodes[i + 1]


def _head_field(form: BuilderForm, path: list[str | int]) -> str:
    top = path[0] if path else ""
    if top == "entry":
        inner = [str(p) for p in path[2:]]  # past the union's tag: ("entry", "event", "event")
        if inner[:1] in (["event"], ["tag_id"], ["filters"]):
            return f"entry_{inner[0]}"
        return "entry_tag_id" if form.head.get("entry_kind") == "tag" else "entry_event"
    if top == "reentry":
        return "reentry_mode" if path[1:2] == ["mode"] else "reentry_days"
    if top == "goal":
        return "goal_event"
    return ""


def place(form: BuilderForm, path: list[str | int], message: str) -> None:
    """Put one error on its field: `nodes.<i>.<field>` on the node's field (or the node), entry/reentry/goal fields
    on theirs, anything else (the graph as a whole: ids repeat, unknown targets, loops) on the form."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int) and path[1] < len(form.nodes):  # noqa: PLR2004
        node = form.nodes[path[1]]
        rest = [str(p) for p in path[2:] if p not in NODE_KINDS]
        key = "_".join(rest[:2]) if rest[:1] == ["match"] and len(rest) > 1 else (rest[0] if rest else "")
        node.errors.setdefault(key, message)
        return
    form.errors.setdefault(_head_field(form, path), message)


def validate(form: BuilderForm) -> graph.Definition | None:
    """The definition, or None with every pydantic error placed on its field."""
    try:
        return graph.parse(to_definition(form))
    except ValidationError as exc:
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            place(form, list(err["loc"]), message)
        return None


def place_service_error(form: BuilderForm, field_path: str | None, message: str) -> None:
    """A service's ValidationFailed (`definition.nodes.2.tag_id`, `name`) on its field."""
    path = (field_path or "").split(".")
    if path[:1] == ["definition"]:
        place(form, [int(p) if p.isdigit() else p for p in path[1:]], message)
    elif path[:1] == ["name"]:
        form.errors.setdefault("name", message)
    else:
        form.errors.setdefault("", message)
