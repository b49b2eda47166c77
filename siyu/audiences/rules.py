"""The segment rule language, version 1 (docs/segments.md): a JSON document, validated here in two passes.

1. Shape (pydantic): every node's type, fields and ranges. The JSON Schema in docs/segments.md is generated from these
   models (`rule_json_schema()`), so the schema and the validator cannot drift apart.
2. Meaning (`check_rule`): the ids a rule names belong to the enterprise, event names and properties exist, windows
   are ordered, segment references do not loop.

Both passes report the JSON path of the bad node (`$.root.conditions[2].window.last_days`) in the error's `field`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic import ValidationError as PydanticValidationError

from siyu.core.errors import ValidationFailed

RULE_VERSION = 1
MAX_DEPTH = 6
MAX_CONDITIONS = 50
MAX_IDS = 500


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------------
# Shared parts


class Window(Node):
    """When: the last N days up to the evaluation instant, or Shanghai calendar dates (both ends included)."""

    last_days: int | None = Field(default=None, ge=1, le=3650)
    since: date | None = Field(default=None, description="first Shanghai day included")
    until: date | None = Field(default=None, description="last Shanghai day included")

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        if self.last_days is None and self.since is None and self.until is None:
            raise ValueError("give last_days, or since and/or until")
        if self.last_days is not None and (self.since is not None or self.until is not None):
            raise ValueError("give last_days or dates, not both")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is after until")
        return self


class Count(Node):
    op: Literal["gte", "lte", "eq"] = "gte"
    value: int = Field(default=1, ge=0, le=1_000_000)


class Moment(Node):
    """A point in time: N days before the evaluation instant, or the start of a Shanghai calendar day."""

    days_ago: int | None = Field(default=None, ge=0, le=3650)
    day: date | None = None

    @model_validator(mode="after")
    def _one(self) -> Moment:
        if (self.days_ago is None) == (self.day is None):
            raise ValueError("give days_ago or day")
        return self


class PropertyFilter(Node):
    property: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    op: Literal["eq", "neq", "in"] = "eq"
    value: str | int | None = None
    values: list[str | int] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _shape(self) -> PropertyFilter:
        if self.op == "in" and (self.values is None or self.value is not None):
            raise ValueError("op 'in' takes values")
        if self.op != "in" and (self.value is None or self.values is not None):
            raise ValueError(f"op {self.op!r} takes value")
        return self


class EventMatch(Node):
    name: str = Field(min_length=1, max_length=64)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=10)


Ids = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=MAX_IDS)]


# ---------------------------------------------------------------------------------------------------------------
# Conditions


class Group(Node):
    type: Literal["group"]
    op: Literal["and", "or"] = "and"
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_CONDITIONS)


class Not(Node):
    type: Literal["not"]
    condition: Condition


class Gender(Node):
    type: Literal["gender"]
    values: list[Literal["male", "female", "unknown"]] = Field(min_length=1)


class Age(Node):
    """Age in whole years on the Shanghai day of evaluation, from the birthday; no birthday never matches."""

    type: Literal["age"]
    min: int | None = Field(default=None, ge=0, le=150)
    max: int | None = Field(default=None, ge=0, le=150)

    @model_validator(mode="after")
    def _range(self) -> Age:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class Region(Node):
    """The profile's region text ("province / city"): exactly one of `values`, or starting with one of them."""

    type: Literal["region"]
    op: Literal["in", "prefix"] = "in"
    values: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=100)


class HomeStore(Node):
    type: Literal["home_store"]
    store_ids: Ids


class Source(Node):
    """The channel the customer first came from (created_source)."""

    type: Literal["source"]
    values: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(min_length=1, max_length=20)


class Created(Node):
    type: Literal["created"]
    window: Window


class Reachable(Node):
    """wecom: an active WeCom relationship; oa: follows an Official Account; phone: has a phone number."""

    type: Literal["reachable"]
    via: Literal["wecom", "oa", "phone"]


class OptedOut(Node):
    """The customer's latest opt-out / opt-in event is an opt-out (opted_out, opted_in events)."""

    type: Literal["opted_out"]


class FollowedBy(Node):
    """Has a relationship (active unless `any_status`) with one of these staff members."""

    type: Literal["followed_by"]
    staff_ids: Ids
    any_status: bool = False


class AddedVia(Node):
    """Was added through one of these channel codes (the relationship's `state`)."""

    type: Literal["added_via"]
    states: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=100)


class InGroup(Node):
    """Is a member now of one of these WeCom customer groups."""

    type: Literal["in_group"]
    group_ids: Ids


class Tags(Node):
    type: Literal["tags"]
    match: Literal["any", "all", "none"] = "any"
    tag_ids: Ids


class Event(Node):
    """Did the event (with property filters) `count` times in the window (all time without one). `count` eq 0 is
    "did not do"; lte counts customers who never did it."""

    type: Literal["event"]
    event: EventMatch
    count: Count = Field(default_factory=Count)
    window: Window | None = None


class EventTime(Node):
    """The first or last time the customer did the event is before / after a moment (never did it: no match)."""

    type: Literal["event_time"]
    event: EventMatch
    which: Literal["first", "last"] = "last"
    op: Literal["before", "after"]
    at: Moment


class Sequence(Node):
    """Did `first`, then `then` within `within_hours` after it (both inside the window when one is given)."""

    type: Literal["sequence"]
    first: EventMatch
    then: EventMatch
    within_hours: int = Field(ge=1, le=24 * 365)
    window: Window | None = None


class Purchased(Node):
    """Paid orders holding one of these products or categories (a parent category covers its children)."""

    type: Literal["purchased"]
    product_ids: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1, max_length=MAX_IDS)
    category_ids: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1, max_length=MAX_IDS)
    count: Count = Field(default_factory=Count)
    window: Window | None = None

    @model_validator(mode="after")
    def _what(self) -> Purchased:
        if not self.product_ids and not self.category_ids:
            raise ValueError("give product_ids and/or category_ids")
        return self


class OrderCount(Node):
    """Paid orders (any product) in the window."""

    type: Literal["order_count"]
    count: Count
    window: Window | None = None


class Spend(Node):
    """Net paid amount (paid minus refunded, fen) of paid orders in the window; lte counts non-buyers as 0."""

    type: Literal["spend"]
    op: Literal["gte", "lte"] = "gte"
    value_fen: int = Field(ge=0, le=10**13)
    window: Window | None = None


class Aov(Node):
    """Average net amount per paid order in the window (customers without one do not match)."""

    type: Literal["aov"]
    op: Literal["gte", "lte"] = "gte"
    value_fen: int = Field(ge=0, le=10**13)
    window: Window | None = None


class LastOrder(Node):
    """The last paid order is before / after a moment (no paid order: no match)."""

    type: Literal["last_order"]
    op: Literal["before", "after"]
    at: Moment


RFM_CELLS = ("important_value", "important_develop", "important_keep", "important_win_back",
             "general_value", "general_develop", "general_keep", "general_win_back")
LIFECYCLE_STAGES = ("new", "active", "silent", "at_risk", "churned", "won_back")


class RfmCell(Node):
    """The customer's cell in the latest RFM run."""

    type: Literal["rfm_cell"]
    cells: list[Literal[RFM_CELLS]] = Field(min_length=1)  # type: ignore[valid-type]


class RfmScore(Node):
    """One quintile score (1-5) of the latest RFM run within [min, max]."""

    type: Literal["rfm_score"]
    dimension: Literal["r", "f", "m"]
    min: int = Field(default=1, ge=1, le=5)
    max: int = Field(default=5, ge=1, le=5)


class Lifecycle(Node):
    type: Literal["lifecycle"]
    stages: list[Literal[LIFECYCLE_STAGES]] = Field(min_length=1)  # type: ignore[valid-type]


class InSegment(Node):
    """Member of another segment: a dynamic one's rule is evaluated in place; a static one's frozen members."""

    type: Literal["segment"]
    segment_id: int = Field(ge=1)


class Bucket(Node):
    """A stable pseudo-random bucket of the customer id and a salt: bucket in [low, high] of 0..modulus-1 (holdouts,
    A/B splits). The hash is plain integer arithmetic, the same in every evaluator."""

    type: Literal["bucket"]
    salt: str = Field(min_length=1, max_length=64)
    modulus: int = Field(default=100, ge=2, le=10_000)
    low: int = Field(ge=0)
    high: int = Field(ge=0)

    @model_validator(mode="after")
    def _range(self) -> Bucket:
        if self.low > self.high or self.high >= self.modulus:
            raise ValueError("need 0 <= low <= high < modulus")
        return self


Condition = Annotated[
    Group | Not | Gender | Age | Region | HomeStore | Source | Created | Reachable | OptedOut | FollowedBy | AddedVia
    | InGroup | Tags | Event | EventTime | Sequence | Purchased | OrderCount | Spend | Aov | LastOrder | RfmCell
    | RfmScore | Lifecycle | InSegment | Bucket,
    Field(discriminator="type"),
]
CONDITION_TYPES = ("group", "not", "gender", "age", "region", "home_store", "source", "created", "reachable",
                   "opted_out", "followed_by", "added_via", "in_group", "tags", "event", "event_time", "sequence",
                   "purchased", "order_count", "spend", "aov", "last_order", "rfm_cell", "rfm_score", "lifecycle",
                   "segment", "bucket")


class Rule(Node):
    version: Literal[1] = 1
    root: Condition


Group.model_rebuild()
Not.model_rebuild()
Rule.model_rebuild()

_RULE = TypeAdapter(Rule)


# ---------------------------------------------------------------------------------------------------------------
# Paths and parsing


def json_path(loc: tuple[int | str, ...] | list[Any]) -> str:
    """pydantic's location as a JSON path, without the union tags pydantic inserts after a condition field."""
    out = "$"
    parts = list(loc)
    skip_tag = False
    for part in parts:
        if skip_tag and isinstance(part, str) and part in CONDITION_TYPES:
            skip_tag = False
            continue
        skip_tag = False
        if isinstance(part, int):
            out += f"[{part}]"
            skip_tag = True
        else:
            out += f".{part}"
            skip_tag = part in ("root", "condition")
    return out


def parse_rule(data: Any) -> Rule:
    """The rule's shape, or ValidationFailed naming the JSON path of the first bad node."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("a rule is a JSON object"), field="$", code="invalid_rule")
    try:
        rule = _RULE.validate_python(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        path = json_path(first["loc"])
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path += ".type"
        raise ValidationFailed(_("%(value)s") % {"value": first['msg']}, field=path, code="invalid_rule") from exc
    depth = _depth(rule.root)
    if depth > MAX_DEPTH:
        raise ValidationFailed(
            _("groups nest at most %(MAX_DEPTH)s deep") % {"MAX_DEPTH": MAX_DEPTH},
            field="$.root", code="invalid_rule",
        )
    return rule


def _depth(node: Any) -> int:
    if isinstance(node, Group):
        return 1 + max(_depth(child) for child in node.conditions)
    if isinstance(node, Not):
        return 1 + _depth(node.condition)
    return 1


def walk(node: Any, path: str = "$.root") -> list[tuple[str, Any]]:
    """Every condition with its JSON path, parents first."""
    out = [(path, node)]
    if isinstance(node, Group):
        for index, child in enumerate(node.conditions):
            out += walk(child, f"{path}.conditions[{index}]")
    elif isinstance(node, Not):
        out += walk(node.condition, f"{path}.condition")
    return out


def rule_json_schema() -> dict[str, Any]:
    schema = _RULE.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Siyu segment rule, version 1"
    return schema


def dump_rule(rule: Rule) -> dict[str, Any]:
    return dict(rule.model_dump(mode="json", exclude_none=True))
