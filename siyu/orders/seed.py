"""The demo data step for the mall: the demo mini-program account (pointed at the simulator), the catalog and
12 months of orders with category-realistic repeat purchases."""

from __future__ import annotations

import random
from typing import Any

from django.conf import settings

MP_TOKEN = "siyuDemoMpToken"  # noqa: S105 - only ever talks to the local simulator


def seed_orders(enterprise_id: int, rng: Any, progress: Any) -> None:
    from siyu.channels.demo_accounts import MINIPROGRAM
    from siyu.channels.services import ensure_account
    from siyu.core.errors import DomainError
    from siyu.orders.demo import seed_demo_orders

    note = getattr(progress, "note", None)
    try:
        ensure_account(
            enterprise_id=enterprise_id,
            kind="miniprogram",
            name="商城小程序",
            app_id=MINIPROGRAM.app_id,
            secret=MINIPROGRAM.secret,
            token=MP_TOKEN,
            base_url=f"http://127.0.0.1:{settings.SIYU_SIMULATOR_PORT}/mp",
        )
    except DomainError as exc:  # the demo mini-program already belongs to another enterprise in this database
        if callable(note):
            note(f"mini-program demo account skipped: {exc}")
    made = seed_demo_orders(enterprise_id, random.Random(int(rng.integers(0, 2**31))), months=12)  # noqa: S311
    if callable(note):
        note(f"demo orders: {made.orders:,} orders from {made.buyers:,} buyers")


def install() -> None:
    from siyu.core.seed.hooks import register_seed_step

    register_seed_step("orders.demo", seed_orders)
