"""What every channel shares: the accounts (rows, not settings) and the raw log of inbound callbacks."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.core.secretbox import seal, unseal
from siyu.org.models import Enterprise


class AccountKind(models.TextChoices):
    WECOM = "wecom", _("WeCom app")
    OFFICIAL_ACCOUNT = "official_account", _("Official Account")
    MINIPROGRAM = "miniprogram", _("Mini-program")


class CallbackMode(models.TextChoices):
    """How the platform delivers callbacks to this account (the Official Account's 消息加解密方式; a WeCom app is
    always `safe`). The account's configured mode decides what is accepted, never the request."""

    PLAIN = "plain", _("Plaintext")
    COMPATIBLE = "compatible", _("Compatible (plaintext and encrypted)")
    SAFE = "safe", _("Safe (encrypted only)")


class AccountType(models.TextChoices):
    """An Official Account's type (服务号 / 订阅号): a subscription account has no web OAuth and no template
    messages, so the console says so instead of letting a send fail. Blank for other kinds."""

    SERVICE = "service", _("Service account")
    SUBSCRIPTION = "subscription", _("Subscription account")


class ChannelAccount(models.Model):
    """One WeCom corp app, Official Account or mini-program. Secrets are sealed (encrypted) at rest."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="channel_accounts")
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    name = models.CharField(_("name"), max_length=64)
    app_id = models.CharField(_("corp id / appid"), max_length=64)
    agent_id = models.CharField(_("agent id"), max_length=32, blank=True)
    callback_token = models.CharField(max_length=64)
    sealed_aes_key = models.TextField(blank=True)
    sealed_secret = models.TextField(blank=True)
    base_url = models.URLField(_("API base URL"), max_length=255)
    callback_mode = models.CharField(
        _("callback mode"), max_length=12, choices=CallbackMode.choices, default=CallbackMode.SAFE
    )
    account_type = models.CharField(_("account type"), max_length=12, choices=AccountType.choices, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "app_id", "agent_id"], name="uniq_channel_account")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def encoding_aes_key(self) -> str:
        return unseal(self.sealed_aes_key)

    @encoding_aes_key.setter
    def encoding_aes_key(self, value: str) -> None:
        self.sealed_aes_key = seal(value)

    @property
    def secret(self) -> str:
        return unseal(self.sealed_secret)

    @secret.setter
    def secret(self, value: str) -> None:
        self.sealed_secret = seal(value)


class CallbackStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    REJECTED = "rejected", _("Rejected")
    DUPLICATE = "duplicate", _("Duplicate")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    IGNORED = "ignored", _("Ignored")


class InboundCallback(models.Model):
    """Every accepted inbound callback, stored raw before it is processed, and a sample of the refused ones.

    dedupe_key makes a second delivery of the same event a no-op (set by the worker); replay_key (account, timestamp,
    nonce) makes the same request delivered twice one row (set at receipt; cleared once the timestamp has left the
    window). Signatures and echostr are redacted from `query`.
    """

    account = models.ForeignKey(ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    query = models.JSONField(default=dict)
    body = models.TextField(blank=True)
    plaintext = models.TextField(blank=True)
    signature_ok = models.BooleanField(default=False)
    event = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=191, null=True, blank=True, unique=True)
    replay_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    source = models.CharField(_("source address"), max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=CallbackStatus.choices, default=CallbackStatus.RECEIVED)
    error = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.event or '?'}#{self.pk}"


class RefusalTally(models.Model):
    """Refused callback requests per account, source address and minute. Only the first few of each are stored in
    full (InboundCallback); the rest are only counted here, so a flood of forged requests cannot fill the database.
    `account_key` is 0 for requests naming no known account, whatever id they named."""

    account_key = models.BigIntegerField()
    source = models.CharField(max_length=64)
    minute = models.DateTimeField()
    refused = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account_key", "source", "minute"], name="uniq_refusal_tally")
        ]
        indexes = [models.Index(fields=["minute"], name="refusal_tally_minute")]

    def __str__(self) -> str:
        return f"{self.account_key}/{self.source}@{self.minute:%Y-%m-%d %H:%M}: {self.refused}"
