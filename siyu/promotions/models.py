"""Promotions data: coupon templates and coupons, full-reductions (满减/满折 tiers), flash sales (秒杀), group buys
(拼团) and the shipping policy. The pricing engine (`pricing.py`) never reads these: `queries.load_pricing_input`
turns them into frozen inputs.

Limits that must hold under concurrency are counters changed only by conditional UPDATEs, with unique constraints
on the per-customer counter rows: template.issued_count (total stock), CouponQuota (per-customer limit),
FlashSaleItem.sold (flash stock), FlashPurchase (per-customer flash limit), GroupBuyTeam.member_count (team size).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Category, Product, Sku
from siyu.customers.models import Customer
from siyu.org.models import Enterprise


class CouponKind(models.TextChoices):
    FIXED = "fixed", _("Fixed amount off")
    PERCENT = "percent", _("Percentage off (with cap)")
    THRESHOLD = "threshold", _("Spend X get Y off (满减券)")


class PromotionScope(models.TextChoices):
    ALL = "all", _("All products")
    PRODUCTS = "products", _("Chosen products")
    CATEGORIES = "categories", _("Chosen categories")


class ValidityKind(models.TextChoices):
    FIXED = "fixed", _("Fixed window")
    RELATIVE = "relative", _("N days after issue")


class CouponTemplate(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    kind = models.CharField(max_length=10, choices=CouponKind.choices)
    amount_off_fen = models.BigIntegerField(default=0, help_text="fixed and threshold coupons")
    percent_off = models.PositiveSmallIntegerField(default=0, help_text="percent coupons: 15 means 15% off (8.5折)")
    max_off_fen = models.BigIntegerField(null=True, blank=True, help_text="cap of a percent coupon")
    threshold_fen = models.BigIntegerField(default=0, help_text="minimum eligible spend (满X)")
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    scope = models.CharField(max_length=12, choices=PromotionScope.choices, default=PromotionScope.ALL)
    products = models.ManyToManyField(Product, related_name="+", blank=True)
    categories = models.ManyToManyField(Category, related_name="+", blank=True)
    validity_kind = models.CharField(max_length=10, choices=ValidityKind.choices, default=ValidityKind.RELATIVE)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(default=1)
    total_stock = models.PositiveIntegerField(null=True, blank=True, help_text="empty: unlimited")
    issued_count = models.PositiveIntegerField(default=0)
    claimable = models.BooleanField(_("customers may claim it"), default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(total_stock__isnull=True) | Q(issued_count__lte=F("total_stock")),
                name="coupon_template_within_stock",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class CouponStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    VOIDED = "voided", _("Voided")


class CouponSource(models.TextChoices):
    ISSUE = "issue", _("Issued")
    CLAIM = "claim", _("Claimed")


class Coupon(models.Model):
    """A coupon held by one customer. `used` locks it to an order (`order_id`); a refund or a cancel returns it."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=CouponStatus.choices, default=CouponStatus.AVAILABLE)
    source = models.CharField(max_length=10, choices=CouponSource.choices, default=CouponSource.ISSUE)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    issued_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128)
    batch = models.ForeignKey("CouponBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="the issue batch that gave it (a coupon to a tag set or a segment)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "idempotency_key"], name="uniq_coupon_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["status", "valid_until"]),
            models.Index(fields=["order_id"]),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.code


class CouponQuota(models.Model):
    """How many coupons of a template a customer holds; the per-customer limit is a conditional UPDATE here."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    issued = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "customer"], name="uniq_coupon_quota")]

    def __str__(self) -> str:
        return f"{self.template_id}:{self.customer_id}={self.issued}"


class CouponBatchSource(models.TextChoices):
    TAGS = "tags", _("Customers with tags")
    SEGMENT = "segment", _("Segment members")


class CouponBatchStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Issuing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class CouponBatch(models.Model):
    """One issue of a coupon template to a set of customers (a tag set, a segment). The set is frozen when the
    operator confirms (`CouponBatchTarget`, the count they saw), then issued by the worker chunk by chunk, each chunk
    one INSERT … SELECT; every coupon's idempotency key is derived from (batch, template, customer), so a re-run
    issues nothing twice. `key` is the confirmation's own key: a double submit finds the first batch."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=64)
    source = models.CharField(max_length=10, choices=CouponBatchSource.choices)
    source_label = models.CharField(max_length=255, blank=True, help_text="what was picked, as the operator saw it")
    source_params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=CouponBatchStatus.choices, default=CouponBatchStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="customers in the frozen set")
    done = models.PositiveIntegerField(default=0, help_text="customers looked at so far")
    issued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="already at the template's per-customer limit")
    sold_out = models.BooleanField(default=False)
    error = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # the lease (siyu.core.leases): which worker runs it and when its progress last said it was alive
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_coupon_batch_key")]
        indexes = [models.Index(fields=["template", "-created_at"], name="coupon_batch_by_template"),
                   models.Index(fields=["status", "heartbeat_at"], name="coupon_batch_lease")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"coupon batch {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == CouponBatchStatus.DONE:
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0

    @property
    def retrying(self) -> bool:
        """Queued again after its worker was lost (siyu.core.leases): the console says so."""
        return self.status == CouponBatchStatus.QUEUED and self.attempts > 0

    @property
    def finished(self) -> bool:
        return self.status in (CouponBatchStatus.DONE, CouponBatchStatus.FAILED)


class CouponBatchTarget(models.Model):
    """One customer of a batch's frozen set."""

    batch = models.ForeignKey(CouponBatch, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "customer"], name="uniq_coupon_batch_target")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.customer_id}"


class ThresholdKind(models.TextChoices):
    AMOUNT = "amount", _("Spend (满X元)")
    QUANTITY = "quantity", _("Pieces (满N件)")


class BenefitKind(models.TextChoices):
    AMOUNT_OFF = "amount", _("Amount off (减)")
    PERCENT_OFF = "percent", _("Percent off (折)")


class FullReduction(models.Model):
    """Threshold tiers, e.g. 满199减20 / 满299减40, or 满2件9折 / 满3件8折. `tiers` is [[threshold, value], ...]
    ascending; threshold in fen or pieces, value in fen off or percent off."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    threshold_kind = models.CharField(max_length=10, choices=ThresholdKind.choices, default=ThresholdKind.AMOUNT)
    benefit_kind = models.CharField(max_length=10, choices=BenefitKind.choices, default=BenefitKind.AMOUNT_OFF)
    tiers = models.JSONField(default=list)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    scope = models.CharField(max_length=12, choices=PromotionScope.choices, default=PromotionScope.ALL)
    products = models.ManyToManyField(Product, related_name="+", blank=True)
    categories = models.ManyToManyField(Category, related_name="+", blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "is_active", "ends_at"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class FlashSale(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    allow_oversell = models.BooleanField(
        _("may promise more than the stock"), default=False,
        help_text="the operator chose flash stock above the SKU's stock (the stock still limits what is sold)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return self.name


class FlashSaleItem(models.Model):
    flash_sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    flash_price_fen = models.BigIntegerField()
    flash_stock = models.PositiveIntegerField()
    sold = models.PositiveIntegerField(default=0)
    per_customer_limit = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flash_sale", "sku"], name="uniq_flash_sale_sku"),
            models.CheckConstraint(condition=Q(sold__lte=F("flash_stock")), name="flash_sold_within_stock"),
            models.CheckConstraint(condition=Q(flash_price_fen__gte=0), name="flash_price_not_negative"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.flash_sale_id}:{self.sku_id}"


class FlashPurchase(models.Model):
    """A customer's flash-sale units for one item; the per-customer limit is a conditional UPDATE on this row."""

    item = models.ForeignKey(FlashSaleItem, on_delete=models.CASCADE, related_name="purchases")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "customer"], name="uniq_flash_purchase")]

    def __str__(self) -> str:
        return f"{self.item_id}:{self.customer_id}={self.quantity}"


class GroupBuy(models.Model):
    """A group-buy campaign (拼团): `group_size` people within `hours` hours buy `sku` at the group price."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    group_price_fen = models.BigIntegerField()
    group_size = models.PositiveSmallIntegerField(default=2)
    hours = models.PositiveSmallIntegerField(default=24)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(group_size__gte=2), name="group_buy_size_at_least_two"),
            models.CheckConstraint(condition=Q(group_price_fen__gte=0), name="group_buy_price_not_negative"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class TeamStatus(models.TextChoices):
    """A team's own words (拼团中 / 已成团 / 拼团失败), not the generic "Open" a store's opening hours use."""

    OPEN = "open", _("Forming")
    COMPLETE = "complete", _("Formed")
    FAILED = "failed", _("Team failed")


class GroupBuyTeam(models.Model):
    """One team of a group buy: open → complete (size reached in time) or failed (expired; members refunded)."""

    group_buy = models.ForeignKey(GroupBuy, on_delete=models.PROTECT, related_name="teams")
    leader = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=TeamStatus.choices, default=TeamStatus.OPEN)
    size = models.PositiveSmallIntegerField()
    member_count = models.PositiveSmallIntegerField(default=0)
    opened_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(member_count__lte=F("size")), name="team_within_size"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"team {self.pk} ({self.status})"


class GroupBuyMember(models.Model):
    team = models.ForeignKey(GroupBuyTeam, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    order_id = models.BigIntegerField()
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "customer"], name="uniq_team_member"),
            models.UniqueConstraint(fields=["order_id"], name="uniq_team_member_order"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.team_id}:{self.customer_id}"


class ShippingPolicy(models.Model):
    """An enterprise's shipping rule; without a row the defaults in pricing.py apply."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    free_over_fen = models.BigIntegerField(null=True, blank=True, help_text="empty: never free")
    fee_fen = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)

    def __str__(self) -> str:
        return f"shipping {self.enterprise_id}"
