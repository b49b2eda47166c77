"""docs/segments.md carries the rule language's JSON Schema exactly as the validator generates it; the compiled SQL
of every condition type parses as ClickHouse SQL through sqlglot (the dialect stays translatable)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from siyu.audiences.rules import rule_json_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "segments.md"


def test_the_documented_schema_is_the_validators() -> None:
    text = DOC.read_text()
    block = re.search(r"## JSON Schema \(version 1\).*?```json\n(.*?)\n```", text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == json.loads(json.dumps(rule_json_schema()))


ALL_CONDITIONS = {"version": 1, "root": {"type": "group", "op": "or", "conditions": [
    {"type": "gender", "values": ["female"]}, {"type": "age", "min": 20, "max": 30},
    {"type": "region", "op": "prefix", "values": ["江苏省"]}, {"type": "home_store", "store_ids": [1]},
    {"type": "source", "values": ["wecom"]}, {"type": "created", "window": {"last_days": 7}},
    {"type": "reachable", "via": "wecom"}, {"type": "reachable", "via": "oa"}, {"type": "opted_out"},
    {"type": "followed_by", "staff_ids": [1]}, {"type": "added_via", "states": ["s"]},
    {"type": "in_group", "group_ids": [1]}, {"type": "tags", "match": "all", "tag_ids": [1, 2]},
    {"type": "not", "condition": {"type": "event", "event": {"name": "page_viewed", "where": [
        {"property": "path", "op": "neq", "value": "/a"}]}, "count": {"op": "lte", "value": 2},
        "window": {"since": "2026-01-01", "until": "2026-02-01"}}},
    {"type": "event_time", "event": {"name": "check_in"}, "which": "first", "op": "before", "at": {"days_ago": 3}},
    {"type": "sequence", "first": {"name": "product_viewed"}, "then": {"name": "order_paid"}, "within_hours": 24},
    {"type": "purchased", "product_ids": [1], "count": {"op": "eq", "value": 2}},
    {"type": "order_count", "count": {"op": "gte", "value": 3}, "window": {"last_days": 90}},
    {"type": "spend", "op": "lte", "value_fen": 100}, {"type": "aov", "op": "gte", "value_fen": 100},
    {"type": "last_order", "op": "after", "at": {"day": "2026-01-01"}},
    {"type": "rfm_cell", "cells": ["important_value"]}, {"type": "rfm_score", "dimension": "m", "min": 4},
    {"type": "lifecycle", "stages": ["active"]}, {"type": "segment", "segment_id": 5},
    {"type": "bucket", "salt": "x", "modulus": 10, "low": 0, "high": 4}]}}


def test_compiled_sql_translates_to_clickhouse() -> None:
    sqlglot = pytest.importorskip("sqlglot")
    from sqlglot.errors import ErrorLevel

    from siyu.audiences import sql
    from siyu.audiences.context import Context, ResolvedSegment
    from siyu.audiences.rules import parse_rule
    from siyu.org.scope import Scope

    rule = parse_rule(ALL_CONDITIONS)
    ctx = Context(enterprise_id=1, now=datetime(2026, 6, 15, 4, tzinfo=UTC),
                  segments={5: ResolvedSegment(5, True, None, Scope.hq(1))})
    compiled = sql.members_sql(rule, ctx, scopes=[Scope.hq(1)])
    assert compiled.text.count("?") == len(compiled.params)
    clickhouse = sqlglot.transpile(_inline(compiled.text, compiled.params), read="duckdb", write="clickhouse",
                                   unsupported_level=ErrorLevel.RAISE)[0]
    sqlglot.parse_one(clickhouse, read="clickhouse")  # parses back as ClickHouse
    assert "JSONExtractString" in clickhouse


def _literal(value: object) -> str:
    from datetime import date

    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _inline(text: str, params: list[object]) -> str:
    """The statement with its parameters as literals (ClickHouse spells placeholders differently)."""
    parts = text.split("?")
    out = parts[0]
    for value, rest in zip(params, parts[1:], strict=True):
        out += _literal(value) + rest
    return out
