from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.core.seed import hooks


@pytest.fixture(autouse=True)
def _without_order_history() -> Iterator[None]:
    """These tests count what the generator itself writes; the orders step adds order events on top of them."""
    step = dict(hooks.seed_steps()).get("orders.demo")
    hooks.unregister_seed_step("orders.demo")
    yield
    if step is not None:
        hooks.register_seed_step("orders.demo", step)
