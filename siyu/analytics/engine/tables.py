"""What the columnar copy holds: one TableSpec per mirrored OLTP table, and the enum types its low-cardinality columns
use (DuckDB ENUMs are dictionary-encoded: a one-byte code per row instead of a string).

Apps add their own tables (segment membership, later loyalty and deliveries) with `register_table` from their
AppConfig.ready; the engine never imports those apps.

A column is read from the OLTP row either as a plain column or as `expr`, an SQL expression that is valid in SQLite,
PostgreSQL and DuckDB alike (the same text is used by the incremental reader on the OLTP side and by the bulk loader
inside DuckDB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.apps import apps


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # a DuckDB type, or the name of an enum registered below
    source: str = ""  # the OLTP column (default: the model field called `name`)
    expr: str = ""  # or an SQL expression over the OLTP row
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    name: str  # the table's name in the copy
    model: str  # app_label.ModelName of the OLTP table
    columns: tuple[Col, ...]
    order_by: tuple[str, ...] = ()  # physical order after a build or a compaction (lets zone maps skip row groups)
    capture_deletes: bool = True  # False: deletes are not tracked (the event log is append-only)
    customer: str | None = "customer_id"  # the column naming the customer a row is about (changes touch them)
    parent: tuple[str, str] | None = None  # (copy table, fk column): rows whose customer is their parent's

    @property
    def db_table(self) -> str:
        return str(apps.get_model(self.model)._meta.db_table)

    def source_sql(self, column: Col) -> str:
        """The OLTP-side expression of one column."""
        if column.expr:
            return column.expr
        return f'"{self.source_column(column)}"'

    def source_column(self, column: Col) -> str:
        if column.source:
            return column.source
        model = apps.get_model(self.model)
        found = model._meta.get_field(column.name)
        return str(getattr(found, "column", column.name))


@dataclass(frozen=True)
class EnumSpec:
    name: str
    values: Callable[[], list[str]]


_TABLES: dict[str, TableSpec] = {}
_ENUMS: dict[str, EnumSpec] = {}


def register_table(spec: TableSpec) -> None:
    existing = _TABLES.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"copy table {spec.name!r} is already registered differently")
    _TABLES[spec.name] = spec


def register_enum(name: str, values: Callable[[], list[str]]) -> None:
    _ENUMS[name] = EnumSpec(name=name, values=values)


def tables() -> list[TableSpec]:
    _builtin()
    return list(_TABLES.values())


def table(name: str) -> TableSpec:
    _builtin()
    return _TABLES[name]


def enums() -> list[EnumSpec]:
    _builtin()
    return list(_ENUMS.values())


def enum_values(name: str) -> list[str]:
    _builtin()
    return sorted(set(_ENUMS[name].values()))


def _choices(label: str, field_name: str) -> Callable[[], list[str]]:
    def values() -> list[str]:
        model = apps.get_model(label)
        found: Any = model._meta.get_field(field_name)
        return ["", *(str(value) for value, _label in found.choices or [])]

    return values


def _event_names() -> list[str]:
    from siyu.customers import events as event_types

    return event_types.registered_names()


def _channel_values() -> list[str]:
    # Orders and events name channels with the customers.Channel values, plus "" for none.
    return [*_choices("customers.Customer", "created_source")(), "store", "platform", "miniprogram"]


def _id(nullable: bool = False) -> Col:
    return Col("id", "BIGINT", nullable=nullable)


@cache
def _builtin() -> None:
    register_enum("event_name", _event_names)
    register_enum("channel", _channel_values)
    register_enum("gender", _choices("customers.Customer", "gender"))
    register_enum("identity_kind", _choices("customers.Identity", "kind"))
    register_enum("rel_status", _choices("customers.Relationship", "status"))
    register_enum("order_status", _choices("orders.Order", "status"))
    register_enum("order_source", _choices("orders.Order", "source"))
    register_enum("role", _choices("org.Staff", "role"))
    for spec in _CORE:
        register_table(spec)


_CORE = (
    TableSpec(
        "events", "customers.Event",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("customer_id", "BIGINT", nullable=False),
         Col("name", "event_name", nullable=False), Col("occurred_at", "TIMESTAMP", nullable=False),
         Col("channel", "channel"), Col("store_id", "BIGINT"), Col("staff_id", "BIGINT"), Col("campaign", "VARCHAR"),
         Col("properties", "JSON")),
        order_by=("name", "occurred_at"), capture_deletes=False,
    ),
    TableSpec(
        "customers", "customers.Customer",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("gender", "gender"), Col("birthday", "DATE"),
         Col("has_phone", "BOOLEAN", expr="CASE WHEN \"phone\" <> '' THEN 1 ELSE 0 END"),
         Col("region", "VARCHAR"), Col("created_source", "channel"), Col("home_store_id", "BIGINT"),
         Col("merged_into_id", "BIGINT"), Col("created_at", "TIMESTAMP")),
        order_by=("id",), customer="id",
    ),
    TableSpec(
        "identities", "customers.Identity",
        (_id(), Col("customer_id", "BIGINT", nullable=False), Col("kind", "identity_kind"),
         Col("account", "VARCHAR")),
    ),
    TableSpec(
        "relationships", "customers.Relationship",
        (_id(), Col("customer_id", "BIGINT", nullable=False), Col("staff_id", "BIGINT", nullable=False),
         Col("added_at", "TIMESTAMP"), Col("channel", "channel"), Col("state", "VARCHAR"),
         Col("status", "rel_status"), Col("status_changed_at", "TIMESTAMP")),
    ),
    TableSpec(
        "customer_tags", "customers.CustomerTag",
        (_id(), Col("customer_id", "BIGINT", nullable=False), Col("tag_id", "BIGINT", nullable=False),
         Col("created_at", "TIMESTAMP")),
    ),
    TableSpec(
        "tags", "customers.Tag",
        (_id(), Col("group_id", "BIGINT", nullable=False), Col("name", "VARCHAR")), customer=None,
    ),
    TableSpec(
        "tag_groups", "customers.TagGroup",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("name", "VARCHAR")), customer=None,
    ),
    TableSpec(
        "stores", "org.Store",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("region_id", "BIGINT")), customer=None,
    ),
    TableSpec(
        "staff", "org.Staff",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("store_id", "BIGINT"), Col("region_id", "BIGINT"),
         Col("role", "role")), customer=None,
    ),
    TableSpec(
        "orders", "orders.Order",
        (_id(), Col("enterprise_id", "BIGINT", nullable=False), Col("customer_id", "BIGINT"),
         Col("status", "order_status"), Col("source", "order_source"), Col("store_id", "BIGINT"),
         Col("amount_fen", "BIGINT"), Col("paid_fen", "BIGINT"), Col("refunded_fen", "BIGINT"),
         Col("created_at", "TIMESTAMP"), Col("paid_at", "TIMESTAMP")),
    ),
    TableSpec(
        "order_lines", "orders.OrderLine",
        (_id(), Col("order_id", "BIGINT", nullable=False), Col("product_id", "BIGINT"), Col("category_id", "BIGINT"),
         Col("quantity", "BIGINT"), Col("payable_fen", "BIGINT"), Col("refunded_quantity", "BIGINT")),
        customer=None, parent=("orders", "order_id"),
    ),
    TableSpec(
        "oa_followers", "official_account.Follower",
        (_id(), Col("customer_id", "BIGINT"), Col("subscribed", "BOOLEAN")),
    ),
    TableSpec(
        "group_members", "wecom.GroupMembership",
        (_id(), Col("group_id", "BIGINT", nullable=False), Col("customer_id", "BIGINT"), Col("left_at", "TIMESTAMP")),
    ),
)


@dataclass
class TableState:
    """What the copy has read of one table: the highest id seen and, on PostgreSQL, ids below it not seen yet
    (a transaction that took its id earlier may commit later)."""

    watermark: int = 0
    gaps: dict[int, float] = field(default_factory=dict)  # id -> monotonic time first missed
    ahead: set[int] = field(default_factory=set)  # ids above the watermark already copied through the change log
    rows_sorted: int = 0  # rows in physical order after the last build or compaction
    rows_appended: int = 0  # rows appended since
