"""Closing an expiring order's open payments at the payment platform before the order is cancelled.

The finance app owns the platform calls and registers its closer when it starts; the expiry job reaches it through
here, so orders never imports finance. The closer is called outside any transaction and answers which of the given
orders may be cancelled now: those with no open payment, or whose payments the platform closed. An order the
shopper paid at the last moment, or whose platform could not be reached, is left for the next run.
"""

from __future__ import annotations

from collections.abc import Callable

Closer = Callable[[list[int]], set[int]]

_closer: list[Closer] = []


def register(closer: Closer) -> None:
    _closer[:] = [closer]


def closable(order_ids: list[int]) -> set[int]:
    if not _closer or not order_ids:
        return set(order_ids)
    return _closer[0](order_ids)
