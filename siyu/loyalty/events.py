"""Event types loyalty writes to the customer's log (registered on app start).

Keys: `tier-change:<tier change id>` (one event per row of a customer's tier history), `membership-purchase:<purchase
id>` (a paid period added).
"""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class TierChanged(EventProperties):
    direction: str = Field(pattern="^(up|down)$")
    from_tier: str = Field(default="", max_length=32)
    to_tier: str = Field(default="", max_length=32)
    value: int = Field(ge=-(10**15), le=10**15)


register("tier_changed", TierChanged)


class MembershipPurchased(EventProperties):
    plan: str = Field(max_length=32)
    renewal: bool
    price_fen: int = Field(ge=0, le=10**12)
    ends_at: str = Field(max_length=40)


register("membership_purchased", MembershipPurchased)
