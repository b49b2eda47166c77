from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from siyu.analytics.engine import set_engine
from siyu.analytics.engine.copy import ColumnarCopy
from tests.api.conftest import api_as  # noqa: F401  (the API test client fixture)


@pytest.fixture
def copy(db: None) -> Iterator[ColumnarCopy]:
    """A copy of the test database built through the Django connection (it sees this test's transaction), with
    change capture installed inside the transaction (rolled back with it)."""
    built = ColumnarCopy(None, threads=1)
    yield built
    built.close()
    set_engine(None)


@pytest.fixture(autouse=True)
def _local_engine(settings: Any) -> Iterator[None]:
    """API and console calls in these tests query a private copy built afresh for each query (it sees the test's
    transaction); no analytics process is involved."""
    settings.SIYU_ANALYTICS = "local"
    settings.SIYU_ANALYTICS_LOCAL_TTL = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    set_engine(None)
    yield
    set_engine(None)
