"""Worker tasks for points: thin, safe to run twice (a lot is claimed by one run)."""

from __future__ import annotations

from django_tasks import task

from siyu.loyalty import services


@task()
def unlock_points_task() -> int:
    """Pending points whose return window has passed become available (posted to the points liability)."""
    return services.unlock_all()


@task()
def expire_points_task() -> int:
    """Lots past their expiry date lose what is left (ticked hourly, so the nightly expiry is never a day late)."""
    return services.expire_all()


@task()
def evaluate_tiers_task() -> int:
    """The tier evaluation (downgrades after the grace period), once per enterprise and Shanghai day; ticked hourly."""
    return services.evaluate_all_tiers()


@task()
def grant_interactions_task() -> int:
    """Interaction rewards (follow the OA, add staff, complete the profile) for what is new since the last run."""
    return services.grant_all_interactions()


@task()
def expire_memberships_task() -> int:
    """Paid memberships whose end has passed become expired (one conditional UPDATE)."""
    return services.expire_memberships()


@task()
def grant_member_coupons_task() -> int:
    """Each running paid period's coupons for its current month, once."""
    return services.grant_member_coupons()
