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
