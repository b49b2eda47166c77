"""Points data: earn lots, the operations that move them, and the batch runs that unlock and expire them.

A customer's points are **lots**: each earn (an order paid, an adjustment, a reward) is one `PointsLot` with its own
expiry and the value of one point in fen at the time it was earned. A lot is `pending` until the return window has
passed (not yet owed: nothing is on the ledger), then `available` (posted to the ledger's points liability). Every
operation that takes points (a redemption, a refund's reversal, an expiry, a negative adjustment) is one
`PointsOperation` keyed by its business fact and split over lots in `PointsAllocation` rows, soonest-expiring first.

So a balance is never one mutable number: it is the sum of the lots' `remaining`, and each lot's `remaining` equals its
`points` plus its allocations (a CHECK keeps it between 0 and `points`); the ledger's points liability equals the sum
over available lots of `remaining × fen_per_point` (tests/loyalty/test_points_properties.py checks both after random
sequences).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.customers.models import Customer
from siyu.org.models import Enterprise


class PointsProgram(models.Model):
    """An enterprise's points rules (one row; no row means points are not earned). `fen_per_point` is what one point
    is worth on the ledger; changing it applies to lots earned from then on (each lot keeps its own)."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(_("active"), default=True)
    points_per_yuan = models.PositiveIntegerField(_("points per yuan paid"), default=1)
    fen_per_point = models.PositiveIntegerField(_("value of one point (fen)"), default=1)
    return_window_days = models.PositiveIntegerField(_("return window (days)"), default=7)
    expiry_days = models.PositiveIntegerField(_("points expire after (days)"), default=365)
    ugc_points = models.PositiveIntegerField(_("points for an approved review or photo"), default=0)
    follow_oa_points = models.PositiveIntegerField(_("points for following the Official Account"), default=0)
    add_staff_points = models.PositiveIntegerField(_("points for adding a staff member"), default=0)
    profile_points = models.PositiveIntegerField(_("points for completing the profile"), default=0)
    checkout_points_per_yuan = models.PositiveIntegerField(
        _("points that pay one yuan at checkout"), default=0, help_text="0: points cannot pay for orders")
    checkout_max_percent = models.PositiveIntegerField(
        _("most of an order's goods points may pay (%)"), default=50)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(fen_per_point__gte=1), name="points_program_value_positive"),
            models.CheckConstraint(condition=Q(expiry_days__gte=1), name="points_program_expiry_positive"),
            models.CheckConstraint(condition=Q(checkout_max_percent__lte=99), name="points_program_checkout_share"),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.points_per_yuan}/yuan"


class CategoryRate(models.Model):
    """A category's own earn rate (points per yuan), instead of the program's; a line's category, then its parent."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    category_id = models.BigIntegerField()
    points_per_yuan = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "category_id"], name="uniq_points_category_rate")]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.points_per_yuan}/yuan"


class LotSource(models.TextChoices):
    ORDER = "order", _("Order paid")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    REWARD = "reward", _("Reward")
    RETURNED = "returned", _("Returned (order cancelled or refunded)")


class LotStatus(models.TextChoices):
    PENDING = "pending", _("Pending (return window)")
    AVAILABLE = "available", _("Available")
    CANCELLED = "cancelled", _("Cancelled (refunded before it unlocked)")


class PointsRun(models.Model):
    """One batch of the periodic jobs for one enterprise: the pending lots it unlocked or the lots it expired, and the
    one journal entry that posted them (`points-unlock:<run id>` / `points-expire:<run id>`)."""

    class Kind(models.TextChoices):
        UNLOCK = "unlock", _("Unlock")
        EXPIRE = "expire", _("Expire")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    cutoff = models.DateTimeField()
    lots = models.PositiveIntegerField(default=0)
    points = models.BigIntegerField(default=0)
    value_fen = models.BigIntegerField(default=0)
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "kind", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.cutoff:%Y-%m-%d %H:%M} ({self.lots} lots)"


class PointsLot(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=12, choices=LotSource.choices)
    key = models.CharField(max_length=128)
    order_id = models.BigIntegerField(null=True, blank=True)
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    fen_per_point = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=LotStatus.choices)
    earned_at = models.DateTimeField()
    available_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    line_points = models.JSONField(default=dict, blank=True, help_text="order lots: points earned per order line")
    reason = models.CharField(max_length=200, blank=True)
    growth = models.BigIntegerField(default=0, help_text="order lots: yuan paid (the tiers' growth value)")
    growth_reversed = models.BigIntegerField(default=0, help_text="of the growth, what refunds took back")
    points_reversed = models.BigIntegerField(default=0, help_text="of the points, what refunds asked back")
    unlock_run = models.ForeignKey(PointsRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expire_run = models.ForeignKey(PointsRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expired = models.BigIntegerField(default=0, help_text="what the expiry run took (its operation says the same)")
    journal_entry_id = models.BigIntegerField(null=True, blank=True, help_text="earned straight to available")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_points_lot_key"),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_lot_points_positive"),
            models.CheckConstraint(condition=Q(remaining__gte=0) & Q(remaining__lte=F("points")),
                                   name="points_lot_remaining_in_range"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("available_at")), name="points_lot_expires_after"),
        ]
        indexes = [
            models.Index(fields=["customer", "status", "expires_at"]),
            models.Index(fields=["enterprise", "status", "available_at"]),
            models.Index(fields=["enterprise", "status", "expires_at"]),
            models.Index(fields=["enterprise", "order_id"]),
        ]
        ordering = ["expires_at", "id"]

    def __str__(self) -> str:
        return f"{self.key}: {self.remaining}/{self.points}"


class OperationKind(models.TextChoices):
    REDEEM = "redeem", _("Redeemed")
    REVERSE = "reverse", _("Reversed (refund)")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted")
    CHECKOUT = "checkout", _("Paid an order")


class PointsOperation(models.Model):
    """Points taken from a customer's lots, once per business fact (`key`). `points` is what was taken (positive);
    a refund's reversal that found fewer points than it asked for records the rest as `shortfall` (the customer had
    spent them: they are not clawed back, see docs/loyalty.md)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=OperationKind.choices)
    key = models.CharField(max_length=128)
    points = models.BigIntegerField()
    shortfall = models.BigIntegerField(default=0)
    order_id = models.BigIntegerField(null=True, blank=True)
    lot = models.ForeignKey(PointsLot, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                            help_text="an expiry: the lot it expired")
    run = models.ForeignKey(PointsRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_points_operation_key"),
            models.CheckConstraint(condition=Q(points__gte=0) & Q(shortfall__gte=0), name="points_operation_amounts"),
        ]
        indexes = [models.Index(fields=["customer", "created_at"]), models.Index(fields=["run"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.points} ({self.key})"


class PointsAllocation(models.Model):
    """The part of an operation taken from one lot."""

    operation = models.ForeignKey(PointsOperation, on_delete=models.CASCADE, related_name="allocations")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.BigIntegerField()
    from_pending = models.BooleanField(default=False, help_text="taken before the lot unlocked: never on the ledger")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_allocation_positive")]

    def __str__(self) -> str:
        return f"{self.operation_id} <- lot {self.lot_id}: {self.points}"


# ---------------------------------------------------------------------------------------------------------------
# Free tiers (docs/loyalty.md, "Tiers")


class TierBasis(models.TextChoices):
    GROWTH = "growth", _("Growth value (1 per yuan paid, net of refunds)")
    POINTS = "points", _("Points earned (orders and rewards, net of refunds)")


class TierPolicy(models.Model):
    """How an enterprise's customers qualify for tiers: what counts (`basis`), over how many Shanghai days up to and
    including today (`window_days`), and how many days a customer who no longer qualifies keeps the tier before the
    periodic evaluation moves them down (`grace_days`)."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    basis = models.CharField(_("qualifies by"), max_length=10, choices=TierBasis.choices, default=TierBasis.GROWTH)
    window_days = models.PositiveIntegerField(_("rolling window (days)"), default=365)
    grace_days = models.PositiveIntegerField(_("grace before a downgrade (days)"), default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(window_days__gte=1), name="tier_policy_window_positive")]

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.basis}/{self.window_days}d"


class Tier(models.Model):
    """One tier: reached at `threshold` (growth value or points over the window); `rank` orders the active tiers
    (1 the lowest); a removed tier is kept inactive (history points at it) once no customer holds it."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=32)
    name = models.CharField(_("name"), max_length=40)
    rank = models.PositiveSmallIntegerField(default=0)
    threshold = models.BigIntegerField(_("threshold"))
    multiplier_percent = models.PositiveIntegerField(_("earn multiplier (%)"), default=100)
    benefits = models.TextField(_("benefits"), blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "code"], name="uniq_tier_code"),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="tier_threshold_positive"),
            models.CheckConstraint(condition=Q(multiplier_percent__gte=100), name="tier_multiplier_at_least_one"),
        ]
        ordering = ["rank", "id"]

    def __str__(self) -> str:
        return self.name


class CustomerTier(models.Model):
    """A customer's tier now (`tier` null: none). `below_since` is the Shanghai day an evaluation first found the
    customer below their tier's threshold (the grace period runs from it); cleared when they qualify again."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    since = models.DateTimeField()
    below_since = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "tier"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.tier_id}"


class TierRun(models.Model):
    """One periodic evaluation of one enterprise for one Shanghai day: the unique day makes a second run (or a second
    worker) that day a no-op."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    evaluated_at = models.DateTimeField()
    customers = models.PositiveIntegerField(default=0)
    upgraded = models.PositiveIntegerField(default=0)
    downgraded = models.PositiveIntegerField(default=0)
    grace_started = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "day"], name="uniq_tier_run_day")]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.enterprise_id} {self.day}"


class TierScore(models.Model):
    """Scratch rows of one evaluation (each customer's value, qualified and current tier), deleted when it ends."""

    run = models.ForeignKey(TierRun, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    value = models.BigIntegerField()
    tier_id = models.BigIntegerField(null=True)
    rank = models.IntegerField(default=0)
    current_tier_id = models.BigIntegerField(null=True)
    current_rank = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["run", "customer_id"])]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.customer_id}: {self.value}"


class TierChange(models.Model):
    """A customer's tier history: each move up (on an event or at an evaluation) or down (at an evaluation)."""

    class Direction(models.TextChoices):
        UP = "up", _("Upgrade")
        DOWN = "down", _("Downgrade")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    value = models.BigIntegerField(help_text="the customer's growth value or points over the window then")
    run = models.ForeignKey(TierRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "at"]), models.Index(fields=["run", "customer"])]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_tier_id} -> {self.to_tier_id}"


# ---------------------------------------------------------------------------------------------------------------
# Daily check-in


class CheckInRule(models.Model):
    """HQ's check-in rules: `daily_points` each day, plus a bonus on the days a streak reaches (`streak_bonuses`:
    [{"day": 7, "points": 50}, ...])."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    daily_points = models.PositiveIntegerField(default=1)
    streak_bonuses = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {self.daily_points}/day"


class CheckIn(models.Model):
    """One check-in: at most one per customer and Shanghai day (the unique constraint decides between concurrent
    calls); `streak` counts the consecutive days ending here; `lot` holds the points it granted."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    streak = models.PositiveIntegerField()
    points = models.PositiveIntegerField()
    lot = models.ForeignKey(PointsLot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "day"], name="uniq_check_in_day")]
        indexes = [models.Index(fields=["enterprise", "day"])]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.day} ({self.streak})"


class InteractionCursor(models.Model):
    """How far the interaction job has read: the event log up to `last_event_id`, customers updated up to
    `profiles_until` (each run reads only what is new, whatever the size of the log)."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    last_event_id = models.BigIntegerField(default=0)
    profiles_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.enterprise_id}: event {self.last_event_id}"


class RewardKind(models.TextChoices):
    GIFT = "gift", _("Gift (shipped as an order)")
    COUPON = "coupon", _("Coupon")


class Reward(models.Model):
    """One item of the points catalogue (积分商城): a gift (a SKU, its stock the SKU's, shipped as a zero-price order)
    or a coupon (issued from a coupon template), for `points` each."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=RewardKind.choices)
    name = models.CharField(_("name"), max_length=100)
    points = models.PositiveIntegerField(_("points"))
    sku_id = models.BigIntegerField(null=True, blank=True)
    coupon_template_id = models.BigIntegerField(null=True, blank=True)
    is_active = models.BooleanField(_("on offer"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=1), name="reward_points_positive"),
            models.CheckConstraint(
                condition=(Q(kind="gift", sku_id__isnull=False, coupon_template_id__isnull=True)
                           | Q(kind="coupon", sku_id__isnull=True, coupon_template_id__isnull=False)),
                name="reward_kind_target"),
        ]
        indexes = [models.Index(fields=["enterprise", "is_active"])]
        ordering = ["points", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points})"


class Redemption(models.Model):
    """A customer took a reward for points: the points operation that paid (`redeem:<key>`), and the gift order or
    the coupon it gave. Written in the same transaction as both, so none exists without the others."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    key = models.CharField(max_length=128)
    quantity = models.PositiveIntegerField(default=1)
    points = models.BigIntegerField()
    operation = models.OneToOneField(PointsOperation, on_delete=models.PROTECT, related_name="+")
    order_id = models.BigIntegerField(null=True, blank=True)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_redemption_key")]
        indexes = [models.Index(fields=["enterprise", "created_at"]), models.Index(fields=["customer", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reward_id} × {self.quantity}: {self.points}"


# ---------------------------------------------------------------------------------------------------------------
# Paid membership (付费会员)


class RefundPolicy(models.TextChoices):
    PRO_RATA = "pro_rata", _("Pro rata (the unused days)")
    NONE = "none", _("No refund")


class MembershipPlan(models.Model):
    """A paid plan (like JD Plus): its price for `period_days`, and the benefits a member has while it runs."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    price_fen = models.BigIntegerField(_("price (fen)"))
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    period_days = models.PositiveIntegerField(_("period (days)"))
    points_multiplier_percent = models.PositiveIntegerField(_("points multiplier (%)"), default=100)
    member_price_percent = models.PositiveIntegerField(_("member price (% of list)"), default=100)
    free_shipping = models.BooleanField(_("free shipping"), default=False)
    coupon_template_id = models.BigIntegerField(null=True, blank=True)
    coupons_per_month = models.PositiveIntegerField(_("coupons per month"), default=0)
    refund_policy = models.CharField(_("refund policy"), max_length=10, choices=RefundPolicy.choices,
                                     default=RefundPolicy.PRO_RATA)
    sale_ends_at = models.DateTimeField(_("on sale until"), null=True, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "code"], name="uniq_membership_plan_code"),
            models.CheckConstraint(condition=Q(price_fen__gte=1), name="membership_plan_price_positive"),
            models.CheckConstraint(condition=Q(period_days__gte=1), name="membership_plan_period_positive"),
        ]
        ordering = ["price_fen", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_fen})"


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")


class Membership(models.Model):
    """A customer's paid membership: one row per customer, its end extended by each paid period (a renewal starts
    where the current one ends). The worker moves it to expired once `ends_at` has passed."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=MembershipStatus.choices, default=MembershipStatus.ACTIVE)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "ends_at"]), models.Index(fields=["enterprise", "status"])]
        ordering = ["-ends_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.plan_id} until {self.ends_at}"


class PurchaseStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for payment")
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")


class MembershipPurchase(models.Model):
    """One period bought: the order it is paid through (WeChat Pay, the one payment path), then the window it added
    (`starts_at`-`ends_at`, set once when the order is paid, so a replayed notify adds nothing)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="purchases")
    key = models.CharField(max_length=128)
    order_id = models.BigIntegerField(unique=True)
    price_fen = models.BigIntegerField()
    period_days = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=PurchaseStatus.choices, default=PurchaseStatus.PENDING)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    next_coupon_at = models.DateTimeField(null=True, blank=True, help_text="when the next month's coupons are due")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_membership_purchase_key")]
        indexes = [models.Index(fields=["customer", "created_at"]), models.Index(fields=["enterprise", "status"]),
                   models.Index(fields=["status", "next_coupon_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.plan_id} {self.status}"


class MembershipCoupon(models.Model):
    """A benefit coupon issued for one month of a paid period (`member-coupon:<purchase>:<month>`), once."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    purchase = models.ForeignKey(MembershipPurchase, on_delete=models.CASCADE, related_name="coupons")
    month = models.PositiveIntegerField()
    coupon_ids = models.JSONField(default=list)
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["purchase", "month"], name="uniq_membership_coupon_month")]

    def __str__(self) -> str:
        return f"{self.purchase_id} month {self.month}"
