"""A Scope as SQL over the copy: the same rule as siyu.customers.queries.customers(scope), written once for every
analytics query (segments, RFM, dashboards). HQ sees the enterprise's live customers; a region manager those whose
home store is in the region or who follow (not transferred) a staff member of the region; a store manager the same
for the store; store staff the customers who follow them."""

from __future__ import annotations

from typing import Any

from siyu.org.models import Role
from siyu.org.scope import Scope

_FOLLOWS = (
    "SELECT r.customer_id FROM relationships r JOIN staff s ON s.id = r.staff_id "
    "LEFT JOIN stores st ON st.id = s.store_id WHERE r.status <> 'transferred'"
)


def _marks(values: frozenset[int]) -> tuple[str, list[Any]]:
    ordered = sorted(values) or [0]
    return ", ".join("?" for _ in ordered), list(ordered)


def customer_scope_sql(scope: Scope, alias: str = "c") -> tuple[str, list[Any]]:
    """A predicate over the copy's `customers` table (as `alias`) and its parameters."""
    base = f"{alias}.enterprise_id = ? AND {alias}.merged_into_id IS NULL"
    params: list[Any] = [scope.enterprise_id]
    if scope.is_hq:
        return base, params
    if scope.role == Role.REGION_MANAGER:
        marks, ids = _marks(scope.region_ids)
        sql = (f"{base} AND ({alias}.home_store_id IN (SELECT id FROM stores WHERE region_id IN ({marks})) "  # noqa: S608
               f"OR {alias}.id IN ({_FOLLOWS} AND (st.region_id IN ({marks}) OR s.region_id IN ({marks}))))")
        return sql, [*params, *ids, *ids, *ids]
    if scope.role == Role.STORE_MANAGER:
        marks, ids = _marks(scope.store_ids)
        sql = (f"{base} AND ({alias}.home_store_id IN ({marks}) "
               f"OR {alias}.id IN ({_FOLLOWS} AND s.store_id IN ({marks})))")
        return sql, [*params, *ids, *ids]
    return f"{base} AND {alias}.id IN ({_FOLLOWS} AND r.staff_id = ?)", [*params, scope.staff_id or 0]
