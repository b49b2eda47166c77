"""Commissions and store settlement data (imported by siyu.finance.models so Django registers them).

- `CommissionRule`: what a staff member earns on a product, a category or a product role (traffic / profit /
  image), as basis points of what the customer paid for the line or as fixed fen per unit, valid between two
  Shanghai dates. The most specific active rule wins: product, then the line's category, then its parent category,
  then the product's role.
- `SaleAccrual`: one row per order line sold (kind `sale`) and one per line given back by a refund (kind `refund`),
  with the store and staff the sale is attributed to, the sales and the commission (negative on a refund) and the
  journal entry they were posted with. Unique per (enterprise, key): the key is the business fact
  (`sale:<line id>`, `refund:<out_refund_no>:<line id>`), so a notify delivered twice accrues once. Append-only: a
  refund is a new row, never an edit. Monthly statements are grouped sums over these rows.
- `StoreSettlement`: the month a store was settled (once per store per month, by a unique constraint), with the
  amount cleared from its receivable and the entry that cleared it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Enterprise


class RuleTarget(models.TextChoices):
    PRODUCT = "product", _("Product")
    CATEGORY = "category", _("Category")
    ROLE = "role", _("Product role")


class RuleBasis(models.TextChoices):
    PERCENT = "percent", _("Percentage of the line paid")
    FIXED = "fixed", _("Fixed amount per unit")


class CommissionRule(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    target = models.CharField(_("applies to"), max_length=10, choices=RuleTarget.choices)
    product_id = models.BigIntegerField(null=True, blank=True)
    category_id = models.BigIntegerField(null=True, blank=True)
    product_role = models.CharField(max_length=10, blank=True)
    basis = models.CharField(_("basis"), max_length=10, choices=RuleBasis.choices)
    rate_bp = models.PositiveIntegerField(_("rate (basis points)"), default=0)
    fixed_fen = models.BigIntegerField(_("fixed per unit (fen)"), default=0)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until (inclusive)"), null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rate_bp__lte=10_000), name="commission_rule_rate_at_most_100pct"),
            models.CheckConstraint(condition=Q(fixed_fen__gte=0), name="commission_rule_fixed_not_negative"),
            models.CheckConstraint(
                condition=(Q(target="product", product_id__isnull=False)
                           | Q(target="category", category_id__isnull=False)
                           | Q(target="role", product_role__in=["traffic", "profit", "image"])),
                name="commission_rule_target_named"),
            models.CheckConstraint(condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                                   name="commission_rule_dates_ordered"),
        ]
        indexes = [models.Index(fields=["enterprise", "target", "is_active"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class AccrualKind(models.TextChoices):
    SALE = "sale", _("Sale")
    REFUND = "refund", _("Refund")


class AttributionSource(models.TextChoices):
    SHARED_LINK = "shared_link", _("Staff's shared link")
    RELATIONSHIP = "relationship", _("Customer's staff")
    STORE = "store", _("Store only")
    NONE = "none", _("Not attributed")


class SaleAccrual(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    kind = models.CharField(max_length=10, choices=AccrualKind.choices)
    order_id = models.BigIntegerField()
    order_line_id = models.BigIntegerField()
    store_id = models.BigIntegerField(null=True, blank=True)
    staff_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=AttributionSource.choices)
    rule = models.ForeignKey(CommissionRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.IntegerField()
    sales_fen = models.BigIntegerField()
    commission_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    entry_id = models.BigIntegerField(null=True, blank=True)
    posted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_sale_accrual_key"),
            models.CheckConstraint(
                condition=(Q(kind="sale", sales_fen__gte=0, commission_fen__gte=0, quantity__gte=0)
                           | Q(kind="refund", sales_fen__lte=0, commission_fen__lte=0, quantity__lte=0)),
                name="sale_accrual_sign_follows_kind"),
            models.CheckConstraint(condition=Q(commission_fen__gte=models.F("sales_fen"), kind="refund")
                                   | Q(commission_fen__lte=models.F("sales_fen"), kind="sale"),
                                   name="sale_accrual_commission_within_sales"),
        ]
        indexes = [
            models.Index(fields=["enterprise", "posted_at"]),
            models.Index(fields=["enterprise", "staff_id", "posted_at"]),
            models.Index(fields=["enterprise", "store_id", "posted_at"]),
            models.Index(fields=["order_line_id"]),
            models.Index(fields=["order_id", "kind"]),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.key


class StoreSettlement(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    store_id = models.BigIntegerField()
    month = models.DateField(help_text="the first day of the Shanghai month settled")
    currency = models.CharField(max_length=3)
    sales_fen = models.BigIntegerField()
    refunds_fen = models.BigIntegerField()
    amount_fen = models.BigIntegerField(help_text="cleared from the store's receivable (negative: the store owes)")
    entry_id = models.BigIntegerField(null=True, blank=True)
    settled_at = models.DateTimeField()
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "store_id", "month", "currency"],
                                    name="uniq_store_settlement_month"),
        ]
        ordering = ["-month", "store_id"]

    def __str__(self) -> str:
        return f"{self.store_id} {self.month:%Y-%m}"
