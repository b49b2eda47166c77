"""What other apps do when an order is paid in full or a refund completes, without orders importing them.

Loyalty registers its points earning and reversal here when it starts. The hooks run inside the transaction that
marks the order paid (`states.mark_paid`, whichever path called it: the WeChat Pay notify, its query fallback, an
offline payment) or completes the refund (`after_sale.complete_refund`), so what they write commits or rolls back
with it; they are keyed by the business fact (the order, the after-sale) and safe to call twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

PaidHook = Callable[[int, int, datetime], Any]  # (enterprise_id, order_id, paid_at)
RefundedHook = Callable[[int, int, int, datetime], Any]  # (enterprise_id, order_id, after_sale_id, refunded_at)

_PAID: dict[str, PaidHook] = {}
_REFUNDED: dict[str, RefundedHook] = {}


def register_paid(name: str, hook: PaidHook) -> None:
    _PAID[name] = hook


def register_refunded(name: str, hook: RefundedHook) -> None:
    _REFUNDED[name] = hook


def order_paid(enterprise_id: int, order_id: int, paid_at: datetime) -> None:
    for hook in _PAID.values():
        hook(enterprise_id, order_id, paid_at)


def refund_completed(enterprise_id: int, order_id: int, after_sale_id: int, refunded_at: datetime) -> None:
    for hook in _REFUNDED.values():
        hook(enterprise_id, order_id, after_sale_id, refunded_at)
