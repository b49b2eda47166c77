"""Event types the promotions write to the customer's log (registered on app start, see apps.py)."""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class CouponEvent(EventProperties):
    coupon_id: int = Field(ge=1)
    template_id: int = Field(ge=1)
    name: str = Field(default="", max_length=64)
    source: str = Field(default="", max_length=10)
    order_id: int | None = None
    reason: str = Field(default="", max_length=20)
    batch_id: int | None = None


class GroupBuyEvent(EventProperties):
    team_id: int = Field(ge=1)
    group_buy_id: int = Field(ge=1)
    order_id: int | None = None


register("coupon_issued", CouponEvent)
register("coupon_used", CouponEvent)
register("coupon_returned", CouponEvent)
register("coupon_expired", CouponEvent)
register("coupon_voided", CouponEvent)  # taken back (a referral reward whose order was refunded)
register("group_buy_opened", GroupBuyEvent)
register("group_buy_joined", GroupBuyEvent)
register("group_buy_completed", GroupBuyEvent)
register("group_buy_failed", GroupBuyEvent)
