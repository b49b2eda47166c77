"""Request and response shapes of the customers API (they document /api/openapi.json).

Inputs forbid unknown fields, so a misspelt field is a 422 naming it rather than a silent no-op. Enumerations come from
`queries` (API code may not import models) and arrive in handlers as their plain string values.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from siyu.core.pagination import MAX_PAGE_SIZE
from siyu.customers import privacy
from siyu.customers.queries import Channels, Genders, IdentityKinds, RelationshipStatuses, TagKinds
from siyu.customers.services import MAX_BULK_TAG, MAX_EVENT_BATCH
from siyu.org.schemas import PageMeta
from siyu.org.scope import Scope


class Input(Schema):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class PageQuery(Input):
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)


# ---------------------------------------------------------------------------------------------------------------
# Customers


class CustomerListQuery(PageQuery):
    q: str = Field("", max_length=128, description="name, phone prefix, exact identity value or exact tag name")
    store_id: int | None = Field(None, ge=1)
    staff_id: int | None = Field(None, ge=1)
    tag_id: int | None = Field(None, ge=1)
    channel: Channels | None = None
    relationship_status: RelationshipStatuses | None = None


class IdentityIn(Input):
    kind: IdentityKinds
    value: str = Field(min_length=1, max_length=128)
    account: str = Field("", max_length=64)


class CustomerCreateIn(Input):
    name: str = Field("", max_length=64)
    phone: str = Field("", max_length=32)
    gender: Genders = Genders.UNKNOWN
    birthday: date | None = None
    region: str = Field("", max_length=64)
    created_source: Channels = Channels.API
    home_store_id: int | None = Field(None, ge=1)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class CustomerPatchIn(Input):
    """Only the fields sent are changed; `phone: ""` clears the phone."""

    name: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32)
    gender: Genders | None = None
    birthday: date | None = None
    region: str | None = Field(None, max_length=64)
    home_store_id: int | None = Field(None, ge=1)


class MergeIn(Input):
    survivor_id: int = Field(ge=1)
    absorbed_id: int = Field(ge=1)
    force: bool = Field(
        False, description="HQ only: merge although the two carry conflicting strong identities (give force_reason)"
    )
    force_reason: str = Field("", max_length=255, description="why the two are one person (audited)")


class MergePreviewQuery(Input):
    other: int = Field(ge=1, description="the customer that would be merged into this one (absorbed)")


class StoreRef(Schema):
    id: int
    name: str


class TagRef(Schema):
    id: int
    name: str
    group_id: int


def _phone(context: Any, phone: str) -> str:
    request = (context or {}).get("request")
    scope = getattr(request, "auth", None)
    return privacy.phone_for(scope if isinstance(scope, Scope) else None, phone)


class CustomerBase(Schema):
    id: int
    name: str
    gender: str
    birthday: date | None
    phone: str
    region: str
    created_source: str
    home_store: StoreRef | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_phone(obj: Any, context: Any) -> str:
        """Masked for store staff (siyu.customers.privacy)."""
        return _phone(context, obj.phone)


class CustomerOut(CustomerBase):
    tags: list[TagRef]

    @staticmethod
    def resolve_tags(obj: Any) -> list[Any]:
        return [row.tag for row in obj.customer_tags.all()]


class CustomerPage(PageMeta):
    items: list[CustomerOut]


class IdentityOut(Schema):
    id: int
    kind: str
    value: str
    account: str
    created_at: datetime

    @staticmethod
    def resolve_value(obj: Any, context: Any) -> str:
        """A phone identity is masked like the profile's phone."""
        return _phone(context, obj.value) if obj.kind == "phone" else str(obj.value)


class StaffRef(Schema):
    id: int
    name: str
    store_id: int | None
    region_id: int | None


class RelationshipOut(Schema):
    staff: StaffRef
    added_at: datetime
    channel: str
    state: str = Field(description="source state of the channel code that brought the customer")
    remark: str
    status: str
    status_changed_at: datetime | None


class ProfileTagOut(TagRef):
    group_name: str

    @staticmethod
    def resolve_group_name(obj: Any) -> str:
        return str(obj.group.name)


class MergeOut(Schema):
    absorbed_id: int
    reason: str
    force_reason: str
    moved: dict[str, int]
    created_at: datetime


class MergeTagOut(ProfileTagOut):
    exclusive: bool

    @staticmethod
    def resolve_exclusive(obj: Any) -> bool:
        return bool(obj.group.exclusive)


class MergeSideOut(Schema):
    customer: CustomerBase
    identities: list[IdentityOut]
    tags: list[MergeTagOut]
    relationships: list[RelationshipOut]
    counts: dict[str, int] = Field(description="rows that move with the customer: events, orders, ...")


class MergeConflictOut(Schema):
    kind: str
    account: str = Field(description="the corp id or appid the identity belongs to (empty for unionid)")
    survivor_values: list[str]
    absorbed_values: list[str]


class KeptFieldOut(Schema):
    field: str
    value: Any
    source: str = Field(description="survivor or absorbed: whose value the merged profile keeps")

    @staticmethod
    def resolve_value(obj: Any, context: Any) -> Any:
        return _phone(context, obj.value) if obj.field == "phone" else obj.value


class MergePreviewOut(Schema):
    survivor: MergeSideOut
    absorbed: MergeSideOut
    mergeable: bool = Field(description="false when conflicts make the merge need HQ's force with a reason")
    conflicts: list[MergeConflictOut]
    profile: list[KeptFieldOut] = Field(description="the survivor's profile after the merge")
    tags_kept: list[MergeTagOut]
    tags_dropped: list[MergeTagOut] = Field(description="the absorbed customer's tags lost to exclusive groups")
    profile_rule: str
    exclusive_tag_rule: str


class ProfileOut(Schema):
    customer: CustomerBase
    identities: list[IdentityOut]
    relationships: list[RelationshipOut]
    tags: list[ProfileTagOut]
    merges: list[MergeOut]


class EventOut(Schema):
    id: int
    name: str
    occurred_at: datetime
    received_at: datetime
    channel: str
    store_id: int | None
    staff_id: int | None
    campaign: str
    properties: dict[str, Any]
    idempotency_key: str


class EventPage(PageMeta):
    items: list[EventOut]


class TimelineQuery(PageQuery):
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    name: str = Field("", max_length=64, description="only events of this type")


# ---------------------------------------------------------------------------------------------------------------
# Tags


class TagGroupIn(Input):
    name: str = Field(min_length=1, max_length=64)
    exclusive: bool = False


class TagIn(Input):
    name: str = Field(min_length=1, max_length=64)
    kind: TagKinds = TagKinds.MANUAL
    rule: dict[str, Any] = Field(default_factory=dict)


class TagGroupPatchIn(Input):
    """A group's name is all that changes: whether it is mutually exclusive is fixed at creation (the service has no
    way to change it), so sending `exclusive` is a 422 naming the field."""

    name: str = Field(min_length=1, max_length=64)


class TagPatchIn(Input):
    name: str = Field(min_length=1, max_length=64)


class TagDeleteOut(Schema):
    id: int
    customers_untagged: int = Field(description="customers who carried the tag and lost it")


class TagGroupDeleteOut(Schema):
    id: int
    tags_deleted: int
    customer_tags_removed: int = Field(
        description="customer-tag pairs removed with the group's tags (a customer with two of them counts twice)"
    )


class TagOut(Schema):
    id: int
    name: str
    group_id: int
    kind: str
    customer_count: int | None = Field(None, description="customers in the caller's scope carrying the tag")


class TagGroupOut(Schema):
    id: int
    name: str
    exclusive: bool
    tags: list[TagOut]

    @staticmethod
    def resolve_tags(obj: Any) -> list[Any]:
        return list(obj.tags.all())


class BulkTagIn(Input):
    customer_ids: list[int] = Field(min_length=1, max_length=MAX_BULK_TAG)
    tag_ids: list[int] = Field(min_length=1, max_length=100)


class BulkTagOut(Schema):
    changed: int = Field(description="customer-tag pairs added (bulk-tag) or removed (bulk-untag)")


# ---------------------------------------------------------------------------------------------------------------
# Events


class EventIn(Input):
    name: str = Field(min_length=1, max_length=64)
    occurred_at: datetime = Field(description="with a timezone offset")
    idempotency_key: str = Field(min_length=1, max_length=128)
    customer_id: int | None = Field(None, ge=1)
    identity: IdentityIn | None = None
    channel: str = ""
    store_id: int | None = Field(None, ge=1)
    staff_id: int | None = Field(None, ge=1)
    campaign: str = Field("", max_length=64)
    properties: dict[str, Any] = Field(default_factory=dict)


class EventBatchIn(Input):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENT_BATCH)


class EventBatchOut(Schema):
    created: int
    duplicates: int


class EventTypeOut(Schema):
    name: str
    properties_schema: dict[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# Personal data (PIPL): consent, export, erasure


class ConsentIn(Input):
    channel: Literal["wecom", "official_account", "sms", "mini_program"]
    granted: bool
    method: str = Field(max_length=16, description="storefront, sms_reply, paper, import, operator or api")
    text: str = Field("", max_length=500, description="the wording the customer agreed to (required for a grant)")
    text_version: str = Field("", max_length=32)
    evidence: dict[str, str] = Field(default_factory=dict, description="where it was given: ip, user agent, ...")
    recorded_at: datetime | None = Field(None, description="when the customer gave it (default: now); not future")
    idempotency_key: str = Field("", max_length=128, description="or the Idempotency-Key header")


class ConsentRecordOut(Schema):
    id: int
    channel: str
    granted: bool
    method: str
    text: str
    text_version: str
    recorded_at: datetime


class ConsentStateOut(Schema):
    channel: str
    granted: bool
    by_default: bool
    method: str
    recorded_at: datetime | None


class ConsentsOut(Schema):
    states: list[ConsentStateOut]
    history: list[ConsentRecordOut]


class EraseIn(Input):
    reason: str = Field(max_length=255, description="why, e.g. the request's reference")
    confirm: int = Field(description="the customer's id again, to confirm")


class ErasureOut(Schema):
    customer_id: int
    erased_at: datetime
    counts: dict[str, int]
