"""Catalog data: two-level categories, products with SKUs (spec combinations), bundles and store availability.

Money columns are integer fen; the currency sits on the product (its SKUs share it) and on the bundle.
Stock lives on the SKU row and is only ever changed by conditional UPDATEs in `catalog.services`
(`stock = stock - n WHERE stock >= n`), so concurrent checkouts cannot oversell; a CHECK backs that up.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Enterprise, Store


class ProductStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ON_SALE = "on_sale", _("On sale")
    OFF_SALE = "off_sale", _("Off sale")


class ProductRole(models.TextChoices):
    TRAFFIC = "traffic", _("Traffic (引流)")
    PROFIT = "profit", _("Profit (利润)")
    IMAGE = "image", _("Image (形象)")


class Category(models.Model):
    """A top-level category (parent is null) or its child. Products sit in a leaf (a category without children)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    name = models.CharField(_("name"), max_length=64)
    sort = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "parent", "name"], name="uniq_category_name"),
            models.UniqueConstraint(
                fields=["enterprise", "name"], condition=Q(parent__isnull=True), name="uniq_root_category_name"
            ),
        ]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=120)
    subtitle = models.CharField(_("subtitle"), max_length=200, blank=True)
    selling_points = models.TextField(_("selling points"), blank=True)
    images = models.JSONField(default=list, blank=True, help_text="image URLs or static paths, first is the cover")
    status = models.CharField(max_length=10, choices=ProductStatus.choices, default=ProductStatus.DRAFT)
    role = models.CharField(max_length=10, choices=ProductRole.choices, default=ProductRole.PROFIT)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    all_stores = models.BooleanField(_("sold in all stores"), default=True)
    stores = models.ManyToManyField(Store, through="ProductStore", related_name="+", blank=True)
    sort = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["enterprise", "status"]),
            models.Index(fields=["enterprise", "category"]),
        ]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class ProductStore(models.Model):
    """A store that sells a product whose `all_stores` is off."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="store_links")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "store"], name="uniq_product_store")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.store_id}"


class Sku(models.Model):
    """One spec combination of a product, e.g. {"颜色": "红", "尺码": "M"}; `spec_key` is its canonical form."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField(_("SKU code"), max_length=64)
    specs = models.JSONField(default=dict, blank=True)
    spec_key = models.CharField(max_length=255, blank=True)
    price_fen = models.BigIntegerField(_("price (fen)"))
    member_price_fen = models.BigIntegerField(_("member price (fen)"), null=True, blank=True)
    stock = models.IntegerField(_("stock"), default=0)
    is_active = models.BooleanField(default=True)
    sort = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "code"], name="uniq_sku_code"),
            models.UniqueConstraint(fields=["product", "spec_key"], name="uniq_sku_specs"),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="sku_price_not_negative"),
            models.CheckConstraint(
                condition=Q(member_price_fen__isnull=True)
                | (Q(member_price_fen__gte=0) & Q(member_price_fen__lte=F("price_fen"))),
                name="sku_member_price_in_range",
            ),
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_not_negative"),
        ]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.code


class Bundle(models.Model):
    """Several SKUs × quantities sold together at one price (组合). Availability is the min over its components."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    images = models.JSONField(default=list, blank=True)
    price_fen = models.BigIntegerField(_("bundle price (fen)"))
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    status = models.CharField(max_length=10, choices=ProductStatus.choices, default=ProductStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(price_fen__gte=0), name="bundle_price_not_negative")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class BundleItem(models.Model):
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="bundle_items")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bundle", "sku"], name="uniq_bundle_sku"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="bundle_item_quantity_positive"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.bundle_id}:{self.sku_id}×{self.quantity}"
