"""A customer's timeline as an operator reads it: product views name the product, order events list their items
and amount, and a source `state` shows the channel code's name. Everything the entries of one page name is looked up
in one query per kind (products, orders' lines, channel codes), within the viewer's scope; orders and codes through
the namers their apps register (siyu.customers.sections), so the console imports neither app."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from siyu.console import labels
from siyu.customers import sections
from siyu.org.scope import Scope


@dataclass(frozen=True)
class Names:
    products: Mapping[int, str]
    orders: Mapping[int, str]  # order id -> "商品A ×2、商品B ×1"
    codes: Mapping[str, str]  # state -> channel code name


def _ints(values: Iterable[Any]) -> set[int]:
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool)}


def names_for(scope: Scope, events: list[Any]) -> Names:
    props = [(event.name, event.properties or {}) for event in events]
    product_ids = _ints(p.get("product_id") for _n, p in props)
    order_ids = _ints(p.get("order_id") for name, p in props if name.startswith("order_"))
    states = {str(p["state"]) for _n, p in props if p.get("state")}
    return Names(
        products=sections.names("products", scope, product_ids),
        orders=sections.names("order_items", scope, order_ids),
        codes=sections.names("source", scope, states),
    )


def event_meta(event: Any, names: Names) -> list[str]:
    """The small print under a timeline entry: its properties (named), then who, where and which campaign."""
    properties = dict(event.properties or {})
    parts: list[str] = []
    order_id = properties.get("order_id")
    items = names.orders.get(order_id) if isinstance(order_id, int) and event.name.startswith("order_") else ""
    if items:
        parts.append(f"{_('Items')}: {items}")
    product_id = properties.get("product_id")
    if isinstance(product_id, int) and not isinstance(product_id, bool):
        properties["product_id"] = names.products.get(product_id) or _("#%(id)s (not in the catalog)") % {
            "id": product_id}
    if properties.get("state") in names.codes:
        properties["state"] = names.codes[str(properties["state"])]
    parts.extend(f"{label}: {value}" if label else value for label, value in labels.event_details(properties))
    if event.staff is not None:
        parts.append(f"{_('Staff')}: {event.staff.name}")
    if event.store is not None:
        parts.append(event.store.name)
    if event.campaign:
        parts.append(f"{_('Campaign')}: {event.campaign}")
    return parts
