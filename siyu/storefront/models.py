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
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="sf_address_customer")]
        constraints = [
            models.UniqueConstraint(fields=["customer", "name", "phone", "region", "detail"], name="sf_address_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.detail}"
