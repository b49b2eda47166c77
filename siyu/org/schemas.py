"""Request and response shapes of the org API (regions, stores, staff, API tokens)."""

from __future__ import annotations

from datetime import date, datetime
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
    opening_state: str
    opened_on: date | None
    region: RegionRef
    staff_count: int


class StorePage(PageMeta):
    items: list[StoreOut]


class StaffOut(Schema):
    id: int
    name: str
    wecom_userid: str
    mobile: str
    role: str
    store_id: int | None
    region_id: int | None
    is_active: bool
    left_at: datetime | None


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


class AuditQuery(OrgPageQuery):
    q: str = Field("", max_length=100, description="the actor, the object's id or words of the summary")
    action: str = Field("", max_length=64, description="an action or its prefix (coupon., order.ship)")
    target_type: str = Field("", max_length=64)
    target_id: str = Field("", max_length=64)


class AuditEntryOut(Schema):
    """One audit entry: `action` is its code; `message` its summary in the caller's language (Accept-Language),
    rendered from `message_id` (the source-language message, stable) and `params`; rows written before messages
    existed have only `message`."""

    id: int
    created_at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    message_id: str
    params: dict[str, Any]
    message: str


class AuditPage(PageMeta):
    items: list[AuditEntryOut]


# ---------------------------------------------------------------------------------------------------------------
# Editing the organisation (HQ; managers for their team's staff)


class RegionQuery(OrgPageQuery):
    q: str = Field("", max_length=100)


class StoreQuery(OrgPageQuery):
    q: str = Field("", max_length=100)
    region_id: int | None = Field(None, ge=1)
    state: str = Field("", max_length=16)


class StaffQuery(OrgPageQuery):
    q: str = Field("", max_length=100)
    store_id: int | None = Field(None, ge=1)
    role: str = Field("", max_length=20)
    active: bool | None = None


class RegionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    code: str = Field(max_length=200)


class RegionSaved(Schema):
    id: int
    name: str
    code: str


class StoreIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    code: str = Field(max_length=200)
    region_id: int = Field(ge=1)
    city: str = Field("", max_length=200)
    address: str = Field("", max_length=400)
    opening_state: str = Field("open", max_length=16)
    opened_on: date | None = None


class StoreSaved(Schema):
    id: int
    name: str
    code: str
    region_id: int
    city: str
    address: str
    opening_state: str
    opened_on: date | None
    is_active: bool


class StaffIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    role: str = Field("store_staff", max_length=20)
    wecom_userid: str = Field("", max_length=200)
    mobile: str = Field("", max_length=40)
    store_id: int | None = Field(None, ge=1)
    region_id: int | None = Field(None, ge=1)


class LeftIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=400)


class PasswordIn(Schema):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=150)
    password: str = Field(min_length=1, max_length=256)


class SheetRowError(Schema):
    field: str
    message: str


class SheetRow(Schema):
    sheet: str
    row: int
    type: str
    key: str
    name: str
    action: str
    errors: list[SheetRowError]


class SheetOut(Schema):
    id: int
    filename: str
    rows: int
    errors: int
    create: int
    update: int
    unchanged: int
    applied_at: datetime | None
    items: list[SheetRow]


class DepartmentOut(Schema):
    id: int
    account_id: int
    department_id: int
    parent_id: int
    name: str
    store_id: int | None
    region_id: int | None
    member_count: int


class DepartmentPage(PageMeta):
    items: list[DepartmentOut]


class DepartmentMapIn(Schema):
    model_config = ConfigDict(extra="forbid")

    store_id: int | None = Field(None, ge=1)
    region_id: int | None = Field(None, ge=1)
