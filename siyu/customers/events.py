"""The registry of event types: every event's properties are validated against its type's schema before it is written.

Apps add their own types with `register(name, Schema)` in their `events.py`, imported from AppConfig.ready.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EventProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoProperties(EventProperties):
    pass


class ContactAdded(EventProperties):
    state: str = Field(default="", max_length=64)
    welcome_sent: bool = False


class ContactDeleted(EventProperties):
    by: str = Field(pattern="^(customer|staff)$")


class Followed(EventProperties):
    scene: str = Field(default="", max_length=64)


class PageViewed(EventProperties):
    path: str = Field(max_length=255)
    title: str = Field(default="", max_length=120)


class ProductViewed(EventProperties):
    product_id: int = Field(ge=1)
    sku_id: int | None = Field(default=None, ge=1)


class MessageEvent(EventProperties):
    kind: str = Field(default="text", max_length=20)
    text: str = Field(default="", max_length=2000)


class CheckIn(EventProperties):
    streak: int = Field(default=1, ge=1)


class TagChanged(EventProperties):
    tag_id: int = Field(ge=1)
    tag: str = Field(default="", max_length=64)


class GroupEvent(EventProperties):
    chat_id: str = Field(max_length=64)


class MergeEvent(EventProperties):
    absorbed_id: int
    reason: str = Field(max_length=64)


class MemberImported(EventProperties):
    """One row of a member sheet applied to this customer (the imported attributes, as the sheet had them)."""

    import_id: int = Field(ge=1)
    row: int = Field(ge=1)
    tier: str = Field(default="", max_length=32)
    points_balance: int | None = Field(default=None, ge=0)
    lifetime_spend_fen: int | None = Field(default=None, ge=0)
    store_code: str = Field(default="", max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=20)
    first_purchase_on: str = Field(default="", max_length=10)
    last_purchase_on: str = Field(default="", max_length=10)


class ConsentChanged(EventProperties):
    channel: str = Field(max_length=20)
    granted: bool
    method: str = Field(max_length=16)


_REGISTRY: dict[str, type[EventProperties]] = {}


def register(name: str, schema: type[EventProperties]) -> None:
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not schema:
        raise ValueError(f"event type {name!r} is already registered with another schema")
    _REGISTRY[name] = schema


def schema_for(name: str) -> type[EventProperties] | None:
    return _REGISTRY.get(name)


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


_BUILT_IN: dict[str, type[EventProperties]] = {
    "customer_created": NoProperties,
    "customer_merged": MergeEvent,
    "wecom_contact_added": ContactAdded,
    "wecom_contact_deleted": ContactDeleted,
    "oa_followed": Followed,
    "oa_unfollowed": NoProperties,
    "oa_scanned": Followed,
    "page_viewed": PageViewed,
    "product_viewed": ProductViewed,
    "message_received": MessageEvent,
    "message_sent": MessageEvent,
    "check_in": CheckIn,
    "tag_added": TagChanged,
    "tag_removed": TagChanged,
    "group_joined": GroupEvent,
    "group_left": GroupEvent,
    "member_imported": MemberImported,
    "consent_changed": ConsentChanged,
    "customer_erased": NoProperties,
}
for _name, _schema in _BUILT_IN.items():
    register(_name, _schema)
