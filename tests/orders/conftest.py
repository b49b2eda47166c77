from __future__ import annotations

import pytest

from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop


@pytest.fixture
def shop(org: Org) -> Shop:
    return build_shop(org)
