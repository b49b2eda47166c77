from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from siyu.analytics.dashboards.framework import clear_cache
from siyu.analytics.engine import CopyEngine, set_engine
from siyu.analytics.engine.copy import ColumnarCopy


@pytest.fixture
def copy(db: None) -> Iterator[ColumnarCopy]:
    """A copy of the test database built through the Django connection (it sees this test's transaction), with
    change capture installed inside the transaction (rolled back with it)."""
    built = ColumnarCopy(None, threads=1)
    yield built
    built.close()
    set_engine(None)


@pytest.fixture
def dashboards_uncached(settings: Any) -> Iterator[None]:
    """Dashboard answers computed afresh in each test (the cache would carry one test's figures to the next)."""
    settings.SIYU_DASHBOARD_CACHE_TTL = 0
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def engine(shop: Any) -> Iterator[CopyEngine]:
    """The columnar copy of the module's hand-made `shop`, built once for the test, as the dashboards read it."""
    built = ColumnarCopy(None, capture_changes=False, threads=1)
    built.build(bulk=False)
    yield CopyEngine(built)
    built.close()
