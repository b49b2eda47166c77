"""API shapes for segments. A rule travels as a JSON object and is validated by siyu.audiences.rules, whose errors
name the JSON path of the bad node (`rule.root.conditions[1].window.last_days`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field


class SegmentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=255)
    kind: Literal["dynamic", "static"] = "dynamic"
    rule: dict[str, Any]
    region_id: int | None = Field(default=None, ge=1)
    store_id: int | None = Field(default=None, ge=1)


class SegmentPatchIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=80)
    description: str | None = Field(default=None, max_length=255)
    rule: dict[str, Any] | None = None


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")
    rule: dict[str, Any]
    region_id: int | None = Field(default=None, ge=1)
    store_id: int | None = Field(default=None, ge=1)
    sample: int = Field(default=10, ge=0, le=50)


class MemberOut(Schema):
    id: int
    name: str
    phone: str
    gender: str
    region: str
    home_store_id: int | None


class PreviewOut(Schema):
    count: int
    fresh_as_of: datetime | None
    elapsed_ms: float
    sample: list[MemberOut]


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    rule: dict[str, Any]
    region_id: int | None
    store_id: int | None
    revision: int
    built_revision: int
    built_at: datetime | None
    snapshot_at: datetime | None
    member_count: int
    can_edit: bool
    created_at: datetime
    updated_at: datetime


class SegmentDetailOut(SegmentOut):
    count: int
    fresh_as_of: datetime | None


class MemberPageOut(Schema):
    items: list[MemberOut]
    total: int
    page: int
    page_size: int
    pages: int
    fresh_as_of: datetime | None


class MembersQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=20, ge=1, le=200)


class ExportQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "xlsx"] = "csv"


class StintOut(Schema):
    customer_id: int
    customer_name: str
    entered_at: datetime
    left_at: datetime | None


class SnapshotOut(Schema):
    members: int
    moved: int


class RfmRunOut(Schema):
    id: int
    as_of: datetime
    status: str
    trigger: str
    window_days: int
    customers: int
    buyers: int
    edges: dict[str, Any]
    cells: dict[str, int]
    stages: dict[str, int]
    movement: dict[str, dict[str, int]]
    stage_movement: dict[str, dict[str, int]]
    seconds: float


class RfmOverviewOut(Schema):
    run: RfmRunOut | None
    cells: dict[str, int]
    stages: dict[str, int]
    fresh_as_of: datetime | None


class CustomerScoreOut(Schema):
    customer_id: int
    r: int
    f: int
    m: int
    cell: str
    stage: str
    stage_since: datetime | None
    recency_days: int | None
    frequency: int
    monetary_fen: int
    super_score: float
    segments: list[dict[str, Any]]


class SuperUserOut(Schema):
    customer_id: int
    name: str
    score: float
    explanation: dict[str, Any]


class LifecycleRulesIn(Schema):
    model_config = ConfigDict(extra="forbid")
    new_days: int | None = Field(default=None, ge=1, le=3650)
    active_days: int | None = Field(default=None, ge=1, le=3650)
    silent_days: int | None = Field(default=None, ge=1, le=3650)
    at_risk_days: int | None = Field(default=None, ge=1, le=3650)
    rfm_window_days: int | None = Field(default=None, ge=1, le=3650)
    super_weights: dict[str, float] | None = None


class LifecycleRulesOut(Schema):
    new_days: int
    active_days: int
    silent_days: int
    at_risk_days: int
    rfm_window_days: int
    super_weights: dict[str, float]


class TagRuleIn(Schema):
    model_config = ConfigDict(extra="forbid")
    tag_id: int = Field(ge=1)
    kind: Literal["segment", "event"]
    segment_id: int | None = Field(default=None, ge=1)
    event_name: str = Field(default="", max_length=64)
    event_where: list[dict[str, Any]] = Field(default_factory=list, max_length=10)
    expire_days: int = Field(default=0, ge=0, le=3650)


class TagRuleOut(Schema):
    id: int
    tag_id: int
    tag: str
    kind: str
    segment_id: int | None
    event_name: str
    event_where: list[dict[str, Any]]
    expire_days: int
    applied_at: datetime | None
