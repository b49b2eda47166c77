"""Request and response shapes of the org API (regions, stores, staff, API tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from siyu.core.pagination import MAX_PAGE_SIZE


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None
    index: int | None = None


class OrgPageQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class PageMeta(Schema):
    total: int
    page: int
    page_size: int
    pages: int


class RegionOut(Schema):
    id: int
    name: str
    code: str
    store_count: int


class RegionPage(PageMeta):
    items: list[RegionOut]


class RegionRef(Schema):
    id: int
    name: str


class StoreOut(Schema):
    id: int
    name: str
    code: str
    city: str
    address: str
    is_active: bool
    region: RegionRef
    staff_count: int


class StorePage(PageMeta):
    items: list[StoreOut]


class StaffOut(Schema):
    id: int
    name: str
    wecom_userid: str
    role: str
    store_id: int | None
    region_id: int | None
    is_active: bool


class StaffPage(PageMeta):
    items: list[StaffOut]


class TokenIn(Schema):
    model_config = ConfigDict(extra="forbid")

    staff_id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=120)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    staff_id: int
    created_at: datetime
    secret: str = Field(description="shown once; only its hash is stored")


class TokenInfoOut(Schema):
    """A token as listed: never its secret."""

    id: int
    name: str
    prefix: str
    staff_id: int
    staff_name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_staff_name(obj: Any) -> str:
        return str(obj.staff.name)


class TokenPage(PageMeta):
    items: list[TokenInfoOut]
