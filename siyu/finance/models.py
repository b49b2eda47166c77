"""Finance data: the double-entry ledger and the WeChat Pay merchant accounts.

The ledger is a list of transfers. Each `LedgerTransfer` moves a positive integer amount of fen in one currency from
one account (credited) to another (debited), so every row is balanced by construction and the database enforces it
with CHECK constraints (amount > 0, the two accounts differ, both from the chart), on SQLite and PostgreSQL alike:
no entry anywhere can leave the books unbalanced, whatever code wrote it. A `JournalEntry` groups the transfers of
one business fact (a payment, a refund, a fee, a commission...) under an idempotency key from that fact, so posting
it twice posts once. Rows are never updated (a trigger refuses it on both databases); a correction is a reversing
entry, itself keyed by the entry it reverses, so an entry is reversed at most once. Balances are derived from the
transfers, never stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.core.secretbox import seal, unseal
from siyu.org.models import Enterprise


class AccountType(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    REVENUE = "revenue", _("Revenue")
    EXPENSE = "expense", _("Expense")


class Account(models.TextChoices):
    """The chart of accounts (the same for every enterprise; stores and staff are dimensions on the transfers)."""

    PLATFORM_CLEARING = "platform_clearing", _("Platform clearing (WeChat Pay)")
    BANK = "bank", _("Bank")
    CUSTOMER_PREPAID = "customer_prepaid", _("Customer prepaid")
    STORE_RECEIVABLE = "store_receivable", _("Store receivable")
    STAFF_COMMISSION_PAYABLE = "staff_commission_payable", _("Staff commission payable")
    POINTS_LIABILITY = "points_liability", _("Points liability")
    SALES_REVENUE = "sales_revenue", _("Sales revenue")
    FEES = "fees", _("Payment fees")
    PROMOTIONS_EXPENSE = "promotions_expense", _("Promotions expense")
    COMMISSION_EXPENSE = "commission_expense", _("Commission expense")
    POINTS_EXPENSE = "points_expense", _("Points expense")
    OFFLINE_RECEIPTS = "offline_receipts", _("Offline receipts")


ACCOUNT_TYPES: dict[str, str] = {
    Account.PLATFORM_CLEARING: AccountType.ASSET,
    Account.BANK: AccountType.ASSET,
    Account.OFFLINE_RECEIPTS: AccountType.ASSET,
    Account.CUSTOMER_PREPAID: AccountType.LIABILITY,
    Account.STORE_RECEIVABLE: AccountType.LIABILITY,
    Account.STAFF_COMMISSION_PAYABLE: AccountType.LIABILITY,
    Account.POINTS_LIABILITY: AccountType.LIABILITY,
    Account.SALES_REVENUE: AccountType.REVENUE,
    Account.FEES: AccountType.EXPENSE,
    Account.PROMOTIONS_EXPENSE: AccountType.EXPENSE,
    Account.COMMISSION_EXPENSE: AccountType.EXPENSE,
    Account.POINTS_EXPENSE: AccountType.EXPENSE,
}


class EntryKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    OFFLINE_PAYMENT = "offline_payment", _("Offline payment")
    REFUND = "refund", _("Refund")
    FEE = "fee", _("Platform fee")
    COUPON_SUBSIDY = "coupon_subsidy", _("Coupon subsidy")
    COMMISSION = "commission", _("Commission")
    SETTLEMENT = "settlement", _("Settlement")
    POINTS = "points", _("Points")
    REVERSAL = "reversal", _("Reversal")


class JournalEntry(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    idempotency_key = models.CharField(max_length=128)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    memo = models.CharField(max_length=200, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by")
    posted_at = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "idempotency_key"], name="uniq_journal_entry_key"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="journal_entry_currency"),
        ]
        indexes = [models.Index(fields=["enterprise", "posted_at"]), models.Index(fields=["order_id"])]
        ordering = ["-posted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class LedgerTransfer(models.Model):
    """One balanced movement: `amount_fen` debited to `debit_account` and credited to `credit_account`."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="transfers")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    debit_account = models.CharField(max_length=32, choices=Account.choices)
    credit_account = models.CharField(max_length=32, choices=Account.choices)
    amount_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    store_id = models.BigIntegerField(null=True, blank=True)
    staff_id = models.BigIntegerField(null=True, blank=True)
    posted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="ledger_transfer_amount_positive"),
            models.CheckConstraint(condition=~Q(debit_account=F("credit_account")), name="ledger_transfer_two_sides"),
            models.CheckConstraint(condition=Q(debit_account__in=Account.values), name="ledger_transfer_debit_known"),
            models.CheckConstraint(condition=Q(credit_account__in=Account.values),
                                   name="ledger_transfer_credit_known"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="ledger_transfer_currency"),
        ]
        indexes = [
            models.Index(fields=["enterprise", "debit_account", "posted_at"]),
            models.Index(fields=["enterprise", "credit_account", "posted_at"]),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.debit_account} <- {self.credit_account} {self.amount_fen} {self.currency}"


class PayMerchant(models.Model):
    """A WeChat Pay direct merchant (商户号) of an enterprise, APIv3. The APIv3 key and the merchant API private key
    are sealed like every channel credential (siyu.core.secretbox); the platform public key (or platform certificate)
    is public. `platform_key_id` is what responses and notifies name in `Wechatpay-Serial` (`PUB_KEY_ID_...` or a
    certificate serial)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    mch_id = models.CharField(_("merchant id"), max_length=32)
    app_id = models.CharField(_("paying appid (mini-program / OA)"), max_length=64)
    merchant_serial_no = models.CharField(_("merchant API certificate serial"), max_length=64)
    sealed_private_key = models.TextField(blank=True)
    sealed_apiv3_key = models.TextField(blank=True)
    platform_key_id = models.CharField(_("platform key id or certificate serial"), max_length=64)
    platform_public_key = models.TextField(_("platform public key or certificate (PEM)"))
    base_url = models.URLField(_("API base URL"), max_length=255, default="https://api.mch.weixin.qq.com")
    notify_url = models.URLField(_("notify URL"), max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mch_id"], name="uniq_pay_merchant_mch_id")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.mch_id})"

    @property
    def private_key(self) -> str:
        return unseal(self.sealed_private_key)

    @private_key.setter
    def private_key(self, value: str) -> None:
        self.sealed_private_key = seal(value)

    @property
    def apiv3_key(self) -> str:
        return unseal(self.sealed_apiv3_key)

    @apiv3_key.setter
    def apiv3_key(self, value: str) -> None:
        self.sealed_apiv3_key = seal(value)


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PREPAID = "prepaid", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CLOSED = "closed", _("Closed")
    FLAGGED = "flagged", _("Flagged for finance")


class PaymentStage(models.TextChoices):
    FULL = "full", _("Full")
    DEPOSIT = "deposit", _("Presale deposit")
    BALANCE = "balance", _("Presale balance")


class Payment(models.Model):
    """One WeChat Pay order (out_trade_no) for one stage of one order, written before the platform is called. The
    out_trade_no comes from the order and stage, so asking twice reuses the row and the platform's prepay_id.
    A notify or query that does not match it (amount, currency, merchant, a closed or cancelled order) flags it for
    finance and never marks the order paid."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(PayMerchant, on_delete=models.PROTECT, related_name="payments")
    order_id = models.BigIntegerField()
    stage = models.CharField(max_length=10, choices=PaymentStage.choices, default=PaymentStage.FULL)
    out_trade_no = models.CharField(max_length=32)
    amount_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    openid = models.CharField(max_length=128)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    prepay_id = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    paid_fen = models.BigIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    flag_code = models.CharField(max_length=32, blank=True)
    flag_detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "out_trade_no"], name="uniq_payment_out_trade_no"),
            models.UniqueConstraint(fields=["order_id", "stage"], name="uniq_payment_order_stage"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_positive"),
        ]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["enterprise", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.out_trade_no} ({self.status})"


class NotifyOutcome(models.TextChoices):
    APPLIED = "applied", _("Applied")
    DUPLICATE = "duplicate", _("Duplicate")
    FLAGGED = "flagged", _("Flagged")
    IGNORED = "ignored", _("Ignored")
    REJECTED = "rejected", _("Rejected")


class PayNotify(models.Model):
    """Every WeChat Pay notify received, accepted or refused (refused ones keep no body). `replay_key`
    (timestamp:merchant:nonce) makes the same request delivered twice one row."""

    merchant = models.ForeignKey(PayMerchant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mch_id = models.CharField(max_length=32, blank=True)
    event_type = models.CharField(max_length=40, blank=True)
    notify_id = models.CharField(max_length=64, blank=True)
    out_trade_no = models.CharField(max_length=64, blank=True)
    replay_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    outcome = models.CharField(max_length=10, choices=NotifyOutcome.choices)
    code = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_type or '?'} {self.outcome}"


class RefundStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Refund(models.Model):
    """Money going back through WeChat Pay for one after-sale, written before the platform is called
    (out_refund_no from the after-sale: asking again repeats the same refund, as the platform requires)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    after_sale_id = models.BigIntegerField(unique=True)
    out_refund_no = models.CharField(max_length=64)
    amount_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    status = models.CharField(max_length=12, choices=RefundStatus.choices, default=RefundStatus.CREATED)
    refund_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "out_refund_no"], name="uniq_refund_out_refund_no"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.out_refund_no} ({self.status})"


# ---------------------------------------------------------------------------------------------------------------
# Reconciliation against the WeChat Pay trade bill (siyu/finance/reconciliation/)


class ReconciliationStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Bill refused")
    FAILED = "failed", _("Failed")


class ReconciliationRun(models.Model):
    """One merchant's day (Asia/Shanghai): the trade bill downloaded, checked and matched. Running the day again
    reuses this row (unique per merchant and day) and replaces its differences; `generation` counts the runs that
    produced results. A refused bill (hash, format, summary) records why and leaves the previous results as they
    were."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey(PayMerchant, on_delete=models.PROTECT, related_name="reconciliation_runs")
    bill_date = models.DateField()
    status = models.CharField(max_length=10, choices=ReconciliationStatus.choices,
                              default=ReconciliationStatus.RUNNING)
    generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    hash_value = models.CharField(max_length=40, blank=True)
    bill_bytes = models.BigIntegerField(default=0)
    payment_rows = models.PositiveIntegerField(default=0)
    refund_rows = models.PositiveIntegerField(default=0)
    summary_count = models.PositiveIntegerField(default=0)
    settle_total_fen = models.BigIntegerField(default=0)
    refund_total_fen = models.BigIntegerField(default=0)
    fee_total_milli = models.BigIntegerField(default=0)
    order_total_fen = models.BigIntegerField(default=0)
    coupon_total_fen = models.BigIntegerField(default=0, help_text="the rows' 代金券金额 added up")
    fee_posted_fen = models.BigIntegerField(default=0, help_text="the rows' fees as posted to the ledger (net of "
                                                                 "fees given back on refunds), whole fen")
    voucher_posted_fen = models.BigIntegerField(default=0, help_text="the vouchers the platform did not settle, as "
                                                                     "posted to promotions expense (net of refunds)")
    matched_count = models.PositiveIntegerField(default=0)
    missing_ours_count = models.PositiveIntegerField(default=0)
    missing_theirs_count = models.PositiveIntegerField(default=0)
    amount_mismatch_count = models.PositiveIntegerField(default=0)
    status_mismatch_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error_detail = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "bill_date"], name="uniq_reconciliation_day")]
        indexes = [models.Index(fields=["enterprise", "bill_date"])]
        ordering = ["-bill_date", "-id"]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.bill_date} ({self.status})"


class DifferenceKind(models.TextChoices):
    MISSING_OURS = "missing_ours", _("Missing on our side")
    MISSING_THEIRS = "missing_theirs", _("Missing in the bill")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
    STATUS_MISMATCH = "status_mismatch", _("Status mismatch")


class ReconciliationBillRow(models.Model):
    """The staging table: a run's bill rows, bulk-loaded, matched with SQL against payments and refunds. A run's
    rows are replaced when it runs again. Amounts in fen, the fee in thousandths of a fen; `traded_at` is the bill's
    own text (China Standard Time)."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="+", db_constraint=False,
                            db_index=False)
    line = models.PositiveIntegerField()
    subject = models.CharField(max_length=1)  # P payment, R refund
    traded_at = models.CharField(max_length=19)
    out_trade_no = models.CharField(max_length=64)
    transaction_id = models.CharField(max_length=64)
    out_refund_no = models.CharField(max_length=64)
    refund_id = models.CharField(max_length=64)
    trade_state = models.CharField(max_length=16)
    refund_status = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    settle_fen = models.BigIntegerField()
    coupon_fen = models.BigIntegerField()
    refund_fen = models.BigIntegerField()
    coupon_refund_fen = models.BigIntegerField()
    order_fen = models.BigIntegerField()
    asked_fen = models.BigIntegerField()
    fee_milli = models.BigIntegerField()
    product = models.CharField(max_length=256)

    class Meta:
        indexes = [models.Index(fields=["run", "out_trade_no", "out_refund_no"], name="finance_billrow_key")]

    def __str__(self) -> str:
        return f"{self.subject} {self.out_trade_no} {self.out_refund_no}"


class ReconciliationDifference(models.Model):
    """One thing the bill and our books disagree on, for a run. Amounts in fen (null on the side that lacks the
    row). Resolving records who and why (audited); a resolution carries over to the same difference when the day
    runs again."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    generation = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=DifferenceKind.choices)
    subject = models.CharField(max_length=1)  # P payment, R refund
    out_trade_no = models.CharField(max_length=64)
    out_refund_no = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    bill_line = models.PositiveIntegerField(null=True, blank=True)
    bill_fen = models.BigIntegerField(null=True, blank=True)
    our_fen = models.BigIntegerField(null=True, blank=True)
    bill_currency = models.CharField(max_length=3, blank=True)
    our_currency = models.CharField(max_length=3, blank=True)
    bill_status = models.CharField(max_length=16, blank=True)
    our_status = models.CharField(max_length=16, blank=True)
    bill_time = models.CharField(max_length=19, blank=True)
    product = models.CharField(max_length=256, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "generation", "kind"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_trade_no} {self.out_refund_no}"


# Commissions and store settlement live in their own module (siyu.finance.commission_models); imported here so the
# app registry finds them.
from siyu.finance.commission_models import (  # noqa: E402
    CommissionRule,
    SaleAccrual,
    StoreSettlement,
)

__all__ = ["CommissionRule", "SaleAccrual", "StoreSettlement"]
