"""A coupon or points attached to a campaign: each recipient gets them exactly once, before their message.

The issue is keyed by the delivery (`campaign:<id>:customer:<id>:coupon` / `...:points`) and goes through the apps
that own coupons and points (`promotions.services.issue_coupon`, `loyalty.services.grant_reward_points`), which
return the first result for a key they have seen. The coupon's code is then written on the delivery (committed)
before the send, so the message can carry it:
- a worker killed after the issue and before that write retakes the row after its lease and gets the same coupon
  back from the key (never two);
- one killed after the write and before the send retakes the row, finds the code, and sends (never none);
- the send itself carries the delivery's key, so a repeat of it is the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, DomainError
from siyu.loyalty import services as loyalty_services
from siyu.messaging.models import Delivery, DeliveryStatus
from siyu.promotions import services as promotion_services


def coupon_key(delivery: Delivery) -> str:
    return f"{delivery.key}:coupon"


def points_key(delivery: Delivery) -> str:
    return f"{delivery.key}:points"


def _issue_one(delivery: Delivery, now: datetime) -> str:
    """The coupon code ('' without a coupon); raises DomainError when the coupon or the points cannot be given."""
    campaign = delivery.campaign
    code = ""
    if campaign.coupon_template_id:
        coupon = promotion_services.issue_coupon(
            enterprise_id=campaign.enterprise_id, template_id=int(campaign.coupon_template_id),
            customer_id=delivery.customer_id, idempotency_key=coupon_key(delivery), now=now)
        code = coupon.code
    if campaign.points:
        lot = loyalty_services.grant_reward_points(
            enterprise_id=campaign.enterprise_id, customer_id=delivery.customer_id, points=int(campaign.points),
            key=points_key(delivery), reason=f"campaign {campaign.pk}: {campaign.name}"[:200], at=now)
        if lot is None:
            raise Conflict(_("the points program is not active"), field="points", code="no_points_program")
    return code


def issue(rows: Sequence[Delivery], token: str, now: datetime) -> dict[int, str]:
    """Issue what each claimed row's campaign attaches, once, and record it on the row before any send.
    Returns {delivery id: error} for rows whose reward could not be given (they are not sent)."""
    failed: dict[int, str] = {}
    for row in rows:
        campaign = row.campaign
        if row.rewarded_at is not None or not (campaign.coupon_template_id or campaign.points):
            continue
        try:
            code = _issue_one(row, now)
        except DomainError as exc:
            failed[row.pk] = str(exc.message)
            continue
        Delivery.objects.filter(pk=row.pk, claim=token, status=DeliveryStatus.SENDING).update(
            coupon_code=code[:32], rewarded_at=now)
        row.coupon_code, row.rewarded_at = code[:32], now
    return failed
