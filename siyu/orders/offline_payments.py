"""Recording an offline payment (cash, bank transfer) against an order.

The finance app owns it (it checks the role, audits and posts to the ledger) and registers its recorder when it starts;
orders' API and console reach it through here, so orders never imports finance (finance depends on orders).
"""

from __future__ import annotations

from typing import Any, Protocol

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict
from siyu.org.scope import Scope


class Recorder(Protocol):
    def __call__(self, *, scope: Scope, order_id: int, reason: str, payment_ref: str = "", actor: Any = None) -> Any:
        ...


_recorder: list[Recorder] = []


def register(recorder: Recorder) -> None:
    _recorder[:] = [recorder]


def record(*, scope: Scope, order_id: int, reason: str, payment_ref: str = "", actor: Any = None) -> Any:
    if not _recorder:
        raise Conflict(_("offline payments are recorded by the finance app, which is not installed"),
                       code="finance_not_installed")
    return _recorder[0](scope=scope, order_id=order_id, reason=reason, payment_ref=payment_ref, actor=actor)
