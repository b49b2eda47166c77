"""Worker tasks for the storefront: thin and safe to run twice (each event is keyed by its cart and version)."""

from __future__ import annotations

from django_tasks import task

from siyu.storefront.services import cart


@task()
def abandoned_carts_task() -> int:
    """`cart_abandoned` for the carts left untouched long enough (the abandoned-cart journey's entry)."""
    return cart.emit_abandoned_carts()
