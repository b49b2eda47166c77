from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.analytics.engine import set_engine
from siyu.analytics.engine.copy import ColumnarCopy


@pytest.fixture
def copy(db: None) -> Iterator[ColumnarCopy]:
    """A copy of the test database built through the Django connection (it sees this test's transaction), with
    change capture installed inside the transaction (rolled back with it)."""
    built = ColumnarCopy(None, threads=1)
    yield built
    built.close()
    set_engine(None)
