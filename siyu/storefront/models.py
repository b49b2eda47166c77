"""The H5 mall's own rows: SMS login codes (only a keyed hash of the code is kept) and the customer's address book.
Mall sessions are the orders app's StorefrontSession rows, the same as the mini-program's."""

from __future__ import annotations

from django.db import models

from siyu.customers.models import Customer
from siyu.org.models import Enterprise


class SmsCode(models.Model):
    """One login code sent to a phone. The code itself is never stored: `code_hash` is an HMAC of (phone, code)
    under the site key. A code is good for a few minutes, a few wrong guesses and one sign-in."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=16)
    code_hash = models.CharField(max_length=64)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["enterprise", "phone", "created_at"], name="sf_smscode_phone"),
            models.Index(fields=["ip", "created_at"], name="sf_smscode_ip"),
        ]

    def __str__(self) -> str:
        return f"sms code {self.pk} for {self.phone[-4:]}"


class MallAddress(models.Model):
    """A delivery address in a customer's address book (地址簿)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    phone = models.CharField(max_length=16)
    region = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="sf_address_customer")]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name", "phone", "region", "detail"], name="sf_address_once"),
            models.UniqueConstraint(fields=["customer"], condition=models.Q(is_default=True),
                                    name="sf_address_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.detail}"


class StorePage(models.Model):
    """A designed mall page (店铺装修): HQ's (store empty) or one store's own variant, which the mall serves in that
    store's links and falls back to HQ's when it has none. It holds the working draft; what customers see is its
    latest `StorePageVersion` (a rollback publishes an older document again as a new version)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey("org.Store", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    key = models.CharField(max_length=32, default="home")
    draft = models.JSONField(default=dict)
    draft_revision = models.PositiveIntegerField(default=0)  # bumped by every save: a stale editor's save is refused
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    published_version = models.PositiveIntegerField(null=True, blank=True)  # the number customers see, if any
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "key"], condition=models.Q(store__isnull=True),
                                    name="sf_page_hq_once"),
            models.UniqueConstraint(fields=["enterprise", "store", "key"], condition=models.Q(store__isnull=False),
                                    name="sf_page_store_once"),
        ]

    def __str__(self) -> str:
        return f"page {self.key} ({self.store_id or 'HQ'})"


class StorePageVersion(models.Model):
    """One published document of a page, never changed: the history a rollback picks from."""

    page = models.ForeignKey(StorePage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    published_at = models.DateTimeField()
    published_by = models.CharField(max_length=150, blank=True)
    rolled_back_from = models.PositiveIntegerField(null=True, blank=True)  # the version this one re-published

    class Meta:
        constraints = [models.UniqueConstraint(fields=["page", "number"], name="sf_page_version_once")]

    def __str__(self) -> str:
        return f"page {self.page_id} v{self.number}"
