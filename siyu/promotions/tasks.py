"""Worker tasks: one service call each, safe to run twice or on several workers at once."""

from __future__ import annotations

from django_tasks import task

from siyu.promotions import services


@task()
def expire_coupons() -> int:
    """Periodic (e.g. every 10 minutes): available coupons past their validity become expired."""
    return services.expire_coupons()
