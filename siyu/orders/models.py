"""Orders data: carts, orders with their priced lines, after-sales (refunds and returns), presales, storefront
sessions and public-platform imports.

Money is integer fen beside a `currency` column. An order stores the pricing engine's breakdown as its snapshot
(`breakdown`) and spreads it over its lines (list price, each discount, payable), so what the customer was shown is
what the order keeps, whatever prices do later. State moves are conditional UPDATEs in `orders.services`
(`... WHERE status = <expected>`), so two workers or a worker and a customer can never both move one order.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Bundle, Sku
from siyu.customers.models import Customer
from siyu.org.models import Enterprise, Staff, Store


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    DEPOSIT_PAID = "deposit_paid", _("Deposit paid")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    PICKED_UP = "picked_up", _("Picked up")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class OrderKind(models.TextChoices):
    NORMAL = "normal", _("Normal")
    PRESALE = "presale", _("Presale")


class OrderSource(models.TextChoices):
    MALL = "mall", _("Mall (mini-program / H5)")
    STORE = "store", _("Store")
    PLATFORM = "platform", _("Public platform")


class Fulfillment(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    PICKUP = "pickup", _("Store pickup")


class CancelReason(models.TextChoices):
    TIMEOUT = "timeout", _("Not paid in time")
    BALANCE_TIMEOUT = "balance_timeout", _("Balance not paid in time")
    CUSTOMER = "customer", _("Cancelled by the customer")
    STAFF = "staff", _("Cancelled by staff")
    PLATFORM = "platform", _("Closed on the platform")


class Platform(models.TextChoices):
    TMALL = "tmall", _("Tmall / Taobao")
    JD = "jd", _("JD")
    DOUYIN = "douyin", _("Douyin")
    PDD = "pdd", _("Pinduoduo")
    OTHER = "other", _("Other platform")


class Presale(models.Model):
    """A presale (预售) of one SKU: customers pay `deposit_fen` in the deposit window (which reserves stock), then the
    balance (`price_fen - deposit_fen`) in the balance window; an unpaid balance cancels the order, deposit kept."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    price_fen = models.BigIntegerField(_("presale price (fen)"))
    deposit_fen = models.BigIntegerField(_("deposit (fen)"))
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    deposit_starts_at = models.DateTimeField()
    deposit_ends_at = models.DateTimeField()
    balance_starts_at = models.DateTimeField()
    balance_ends_at = models.DateTimeField()
    per_customer_limit = models.PositiveIntegerField(default=5)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(deposit_fen__gt=0) & Q(deposit_fen__lt=F("price_fen")), name="presale_deposit_in_range"
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.RESTRICT, related_name="orders",
        help_text="empty only for a platform order whose buyer matched no customer",
    )
    order_no = models.CharField(_("order number"), max_length=32, unique=True)
    kind = models.CharField(max_length=10, choices=OrderKind.choices, default=OrderKind.NORMAL)
    source = models.CharField(max_length=10, choices=OrderSource.choices, default=OrderSource.MALL)
    platform = models.CharField(max_length=10, choices=Platform.choices, blank=True)
    external_order_no = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT)
    fulfillment = models.CharField(max_length=10, choices=Fulfillment.choices, default=Fulfillment.DELIVERY)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Attribution: the link a staff member shared (chat, group, moments) names staff, campaign and channel code.
    channel = models.CharField(max_length=20, blank=True)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    campaign = models.CharField(max_length=64, blank=True)
    channel_state = models.CharField(_("channel code"), max_length=64, blank=True)
    # Money (fen): the breakdown's totals; amount_fen is what the customer pays in all.
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    list_total_fen = models.BigIntegerField(default=0)
    subtotal_fen = models.BigIntegerField(default=0)
    reduction_discount_fen = models.BigIntegerField(default=0)
    coupon_discount_fen = models.BigIntegerField(default=0)
    shipping_fen = models.BigIntegerField(default=0)
    amount_fen = models.BigIntegerField(default=0)
    deposit_fen = models.BigIntegerField(default=0, help_text="presale: the part paid first")
    paid_fen = models.BigIntegerField(default=0)
    refunded_fen = models.BigIntegerField(default=0)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    reduction_id = models.BigIntegerField(null=True, blank=True)
    presale = models.ForeignKey(Presale, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    group_team_id = models.BigIntegerField(null=True, blank=True, help_text="group buy: the team to join")
    breakdown = models.JSONField(default=dict, blank=True)
    address = models.JSONField(default=dict, blank=True)
    buyer_note = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=64, blank=True)
    cart_id = models.CharField(max_length=64, blank=True, help_text="the storefront cart it was checked out from")
    # Times
    created_at = models.DateTimeField(db_index=True)
    pay_deadline = models.DateTimeField(null=True, blank=True)
    deposit_paid_at = models.DateTimeField(null=True, blank=True)
    deposit_payment_ref = models.CharField(max_length=64, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_ref = models.CharField(max_length=64, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=32, blank=True)
    tracking_no = models.CharField(max_length=64, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "platform", "external_order_no"], condition=~Q(platform=""),
                name="uniq_platform_order",
            ),
            models.UniqueConstraint(
                fields=["enterprise", "idempotency_key"], condition=~Q(idempotency_key=""),
                name="uniq_order_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="order_amount_not_negative"),
            models.CheckConstraint(condition=Q(refunded_fen__lte=F("paid_fen")), name="order_refund_within_paid"),
        ]
        indexes = [
            models.Index(fields=["enterprise", "created_at"]),
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["status", "pay_deadline"]),
            models.Index(fields=["enterprise", "status"]),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.order_no


class OrderLine(models.Model):
    """One priced line: a SKU (maybe at a flash-sale, group-buy or presale price) or a bundle; platform lines may
    name no SKU. Amounts are the line's share of the order's breakdown; `payable_fen` lines add up to the goods."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    index = models.PositiveSmallIntegerField(default=0)
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    bundle = models.ForeignKey(Bundle, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    product_id = models.BigIntegerField(null=True, blank=True)
    category_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    price_source = models.CharField(max_length=12, default="list")
    unit_list_price_fen = models.BigIntegerField(default=0)
    unit_price_fen = models.BigIntegerField(default=0)
    list_amount_fen = models.BigIntegerField(default=0)
    amount_fen = models.BigIntegerField(default=0)
    reduction_discount_fen = models.BigIntegerField(default=0)
    coupon_discount_fen = models.BigIntegerField(default=0)
    payable_fen = models.BigIntegerField(default=0)
    flash_item_id = models.BigIntegerField(null=True, blank=True)
    group_buy_id = models.BigIntegerField(null=True, blank=True)
    components = models.JSONField(default=list, blank=True, help_text="[[sku_id, units], ...] taken from stock")
    refunded_quantity = models.PositiveIntegerField(default=0)
    refunded_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "index"], name="uniq_order_line_index"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(refunded_quantity__lte=F("quantity")), name="order_line_refund_qty"),
        ]
        indexes = [models.Index(fields=["sku"]), models.Index(fields=["product_id"])]
        ordering = ["order_id", "index"]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.index} {self.name}×{self.quantity}"


class AfterSaleKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only")
    RETURN_REFUND = "return_refund", _("Return and refund")


class AfterSaleStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    RETURNED = "returned", _("Goods returned")
    REFUNDED = "refunded", _("Refunded")


OPEN_AFTER_SALE = (AfterSaleStatus.REQUESTED, AfterSaleStatus.APPROVED, AfterSaleStatus.RETURNED)


class AfterSale(models.Model):
    """A refund request (售后): refund only, or return and refund. requested → approved / rejected; a return goes
    approved → returned; both end refunded. One open after-sale per order at a time."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="after_sales")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    kind = models.CharField(max_length=16, choices=AfterSaleKind.choices)
    status = models.CharField(max_length=10, choices=AfterSaleStatus.choices, default=AfterSaleStatus.REQUESTED)
    reason = models.CharField(max_length=200, blank=True)
    amount_fen = models.BigIntegerField()
    shipping_fen = models.BigIntegerField(default=0, help_text="the part of amount_fen that is the shipping fee")
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    requested_by = models.CharField(max_length=10, default="customer", help_text="customer / staff / system")
    idempotency_key = models.CharField(max_length=128, blank=True)
    requested_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    reject_reason = models.CharField(max_length=200, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_tracking_no = models.CharField(max_length=64, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_ref = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status__in=["requested", "approved", "returned"]),
                name="uniq_open_after_sale",
            ),
            models.UniqueConstraint(
                fields=["enterprise", "idempotency_key"], condition=~Q(idempotency_key=""),
                name="uniq_after_sale_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="after_sale_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["enterprise", "status", "requested_at"])]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"after-sale {self.pk} ({self.status})"


class AfterSaleLine(models.Model):
    after_sale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["after_sale", "order_line"], name="uniq_after_sale_line")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.after_sale_id}:{self.order_line_id}×{self.quantity}"


class CartItem(models.Model):
    """A line in a customer's cart (persisted: the mini-program and H5 share it). `line_key` names what it is, so
    adding the same thing twice raises the quantity instead of adding a row."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    line_key = models.CharField(max_length=64)
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    bundle = models.ForeignKey(Bundle, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    flash_item_id = models.BigIntegerField(null=True, blank=True)
    group_buy_id = models.BigIntegerField(null=True, blank=True)
    quantity = models.PositiveIntegerField()
    cart_id = models.CharField(max_length=64, blank=True,
                               help_text="the cart's identity: the same on every line, new once it was emptied")
    added_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "line_key"], name="uniq_cart_line"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_quantity_positive"),
        ]
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.line_key}×{self.quantity}"


class StorefrontSession(models.Model):
    """A customer signed in to the mall (after the mini-program login). Only the SHA-256 of the token is stored; the
    mini-program's session_key (needed later to decrypt the phone number) is sealed."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    app_id = models.CharField(max_length=64)
    openid = models.CharField(max_length=128)
    sealed_session_key = models.TextField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer"])]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.customer_id}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class PlatformImport(models.Model):
    """One uploaded platform order export (Tmall/JD-style CSV), processed in chunks with visible progress."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    filename = models.CharField(max_length=200, blank=True)
    content = models.TextField(help_text="the CSV text as uploaded")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    created_customers = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.platform} import {self.pk}"


class RowOutcome(models.TextChoices):
    CREATED_CUSTOMER = "created_customer", _("New customer (full phone)")
    UNMATCHED = "unmatched", _("Unmatched (masked phone)")
    INVALID_PHONE = "invalid_phone", _("Unmatched (invalid phone)")
    ERROR = "error", _("Error")


# Imported without a customer: the buyer is reached by a package-insert card.
UNMATCHED_OUTCOMES = (RowOutcome.UNMATCHED, RowOutcome.INVALID_PHONE)


class PlatformImportRow(models.Model):
    """A row of an import that did not simply match a known customer: the report, and the invitation targets."""

    platform_import = models.ForeignKey(PlatformImport, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=RowOutcome.choices)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    order_no = models.CharField(max_length=64, blank=True)
    buyer_id = models.CharField(max_length=64, blank=True)
    buyer_nick = models.CharField(max_length=64, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    amount_fen = models.BigIntegerField(default=0)
    ordered_at = models.DateTimeField(null=True, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [models.Index(fields=["platform_import", "outcome"]), models.Index(fields=["outcome", "buyer_id"])]
        ordering = ["platform_import_id", "row_number"]

    def __str__(self) -> str:
        return f"{self.platform_import_id}:{self.row_number} {self.outcome}"


class HistoryImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class HistoryImport(models.Model):
    """One uploaded POS / offline order-history sheet (Excel or CSV, one row per line item, a receipt's rows
    adjacent). The file is kept on disk (`path`, under MEDIA_ROOT) and streamed by the dry run and the job;
    `checkpoint_row` is the last sheet row whose batch committed (batches end on a receipt's last row), so a restarted
    job continues after it; `file_hash` makes a re-upload of the same file return this import."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500)
    file_format = models.CharField(max_length=8, help_text="csv / xlsx")
    encoding = models.CharField(max_length=16, blank=True)
    file_hash = models.CharField(max_length=64)
    header = models.JSONField(default=list)
    mapping = models.JSONField(default=dict, help_text="field -> column header")
    status = models.CharField(max_length=10, choices=HistoryImportStatus.choices, default=HistoryImportStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    checkpoint_row = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    receipts = models.PositiveIntegerField(default=0, help_text="receipts read (dry run: receipts in the file)")
    orders_created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0, help_text="receipts imported before (this or another file)")
    matched = models.PositiveIntegerField(default=0)
    created_customers = models.PositiveIntegerField(default=0)
    without_customer = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "file_hash"], name="uniq_history_import_file"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"order history import {self.pk}"


class HistoryImportError(models.Model):
    """A sheet row the import refused, with the column and the reason: the validation report."""

    history_import = models.ForeignKey(HistoryImport, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    field = models.CharField(max_length=32, blank=True)
    value = models.CharField(max_length=128, blank=True)
    code = models.CharField(max_length=32)
    message = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["history_import", "row_number", "field"],
                                    name="uniq_history_import_error"),
        ]
        ordering = ["history_import_id", "row_number"]

    def __str__(self) -> str:
        return f"{self.history_import_id}:{self.row_number} {self.code}"
