"""SMS sent through the provider, what the provider reported back (receipts), and what people answered (replies).

The phone number is personal data: it is exported with the customer's data and replaced on erasure
(siyu/ops/personal_data.py), by the customer reference and, for rows sent before the number was linked to a
customer, by the number itself.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.customers.models import Customer
from siyu.org.models import Enterprise


class SmsStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


# A status only ever moves up this ladder: a late "sent" never overwrites "delivered"; the first final report wins.
RANK = {SmsStatus.QUEUED: 0, SmsStatus.SENT: 1, SmsStatus.DELIVERED: 2, SmsStatus.FAILED: 2}


class SmsPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    NOTICE = "notice", _("Service notice")


class SmsMessage(models.Model):
    """One text to one phone, recorded (queued) before the provider is called; `key` is the caller's idempotency key
    (derived from the business fact, e.g. a campaign delivery), unique per enterprise."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    phone = models.CharField(_("phone"), max_length=20)
    text = models.TextField(_("text"), blank=True)
    purpose = models.CharField(_("purpose"), max_length=12, choices=SmsPurpose.choices)
    status = models.CharField(_("status"), max_length=12, choices=SmsStatus.choices, default=SmsStatus.QUEUED)
    provider_message_id = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.CharField(_("error"), max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_sms_key")]
        indexes = [models.Index(fields=["enterprise", "phone", "created_at"], name="sms_phone_recent")]

    def __str__(self) -> str:
        return f"sms {self.pk} to ...{self.phone[-4:]} ({self.status})"


class SmsReply(models.Model):
    """A text a person sent back to the brand's SMS number (上行短信), once per provider message id."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=64, unique=True)
    phone = models.CharField(_("phone"), max_length=20)
    text = models.CharField(_("text"), max_length=500)
    reply_to = models.ForeignKey(SmsMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opt_out = models.BooleanField(_("opt-out"), default=False)
    customers = models.PositiveIntegerField(default=0)  # how many customers with this phone it was applied to
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["enterprise", "received_at"], name="sms_reply_recent")]

    def __str__(self) -> str:
        return f"sms reply {self.provider_message_id}"


class SmsCallbackStatus(models.TextChoices):
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored")
    FAILED = "failed", _("Failed")


class SmsCallback(models.Model):
    """Every authentic callback, raw, with its replay key (timestamp:nonce, unique): the same signed request
    delivered twice is stored and applied once. Rows whose timestamp left the window lose their key (a periodic
    prune), so the unique index stays small."""

    enterprise = models.ForeignKey(Enterprise, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=12)
    body = models.TextField()
    replay_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    status = models.CharField(max_length=12, choices=SmsCallbackStatus.choices, default=SmsCallbackStatus.PROCESSED)
    note = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"sms callback {self.pk} ({self.kind}, {self.status})"
