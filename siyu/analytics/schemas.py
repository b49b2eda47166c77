from __future__ import annotations

from typing import Any

from ninja import Schema


class FigureOut(Schema):
    key: str
    label: str
    unit: str
    value: float | int | None
    previous: float | int | None
    change: float | None


class ColumnOut(Schema):
    key: str
    label: str
    unit: str


class ChartOut(Schema):
    kind: str
    x: str
    series: list[str]
    stack: bool


class TableOut(Schema):
    key: str
    title: str
    note: str
    columns: list[ColumnOut]
    rows: list[list[Any]]
    chart: ChartOut | None


class DashboardOut(Schema):
    name: str
    title: str
    filters: dict[str, Any]
    previous: dict[str, str]
    fresh_as_of: str | None
    queries: int
    cached: int
    figures: list[FigureOut]
    tables: list[TableOut]
    definitions: list[str]
