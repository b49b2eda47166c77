"""Every dashboard query is written so sqlglot can carry it to ClickHouse: each SQL text a dashboard runs (every
dashboard, every option) parses in DuckDB's dialect and is generated for ClickHouse without an unsupported construct."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from siyu.analytics import queries
from siyu.analytics.engine import Answer, CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.org.scope import Scope
from tests.factories import EnterpriseFactory

VARIANTS = [("overview", {}), ("conversion", {"steps": "page_viewed,product_viewed,check_in", "windows": "24,2"}),
            ("retention", {"cohort": "add", "period": "week"}), ("retention", {"cohort": "order", "period": "month"}),
            ("products", {}), ("users", {}), ("traffic", {}),
            ("supervision", {}), ("campaigns", {})]
# per variant: overview 5, conversion 5, retention 2 + 2, products 6, users 4, traffic 5, supervision 4, campaigns 5
QUERIES = 5 + 5 + 2 + 2 + 6 + 4 + 5 + 4 + 5


class Recording:
    def __init__(self, inner: CopyEngine) -> None:
        self.inner = inner
        self.sql: list[str] = []

    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        self.sql.append(sql)
        return self.inner.query(sql, params)


@pytest.mark.django_db
def test_every_dashboard_query_translates_to_clickhouse(settings: Any) -> None:
    settings.SIYU_DASHBOARD_CACHE_TTL = 0
    enterprise = EnterpriseFactory.create()
    built = ColumnarCopy(None, capture_changes=False, threads=1)
    built.build(bulk=False)
    engine = Recording(CopyEngine(built))
    try:
        for name, options in VARIANTS:
            queries.dashboard(Scope.hq(enterprise.pk), name, {"start": "2026-03-01", "end": "2026-03-31", **options},
                              engine=engine)
    finally:
        built.close()
    assert len(engine.sql) == QUERIES
    for sql in engine.sql:
        out = sqlglot.transpile(sql, read="duckdb", write="clickhouse", unsupported_level=ErrorLevel.RAISE)[0]
        assert "?" not in out or out.count("?") == sql.count("?")  # parameters survive as placeholders
