from __future__ import annotations

from typing import Any

from ninja import Field, Schema


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


class DashboardQuery(Schema):
    """The filters, as strings (checked by siyu.analytics.queries.parse_filters, which names the bad field)."""

    start: str | None = Field(None, max_length=10, description="first Shanghai day, YYYY-MM-DD")
    end: str | None = Field(None, max_length=10, description="last Shanghai day, YYYY-MM-DD (inclusive)")
    channel: str | None = Field(None, max_length=20)
    store: str | None = Field(None, max_length=20)
    region: str | None = Field(None, max_length=20)
    steps: str | None = Field(None, max_length=600, description="conversion: the funnel's event names, comma separated")
    windows: str | None = Field(None, max_length=100, description="conversion: hours allowed per step after the first")
    cohort: str | None = Field(None, max_length=10, description="retention: add or order")
    period: str | None = Field(None, max_length=10, description="retention: week or month")
