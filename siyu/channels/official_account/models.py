"""Official Account (公众号/服务号) data: followers, reply rules, the menu, QR scenes, template sends, token cache.

Every row names the ChannelAccount it belongs to: a brand may run several Official Accounts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount, InboundCallback


class Follower(models.Model):
    """One openid of one Official Account, and the customer it resolved to (customer_id follows merges)."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    openid = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    subscribed = models.BooleanField(default=False)
    subscribe_scene = models.CharField(max_length=40, blank=True)
    qr_scene = models.CharField(_("first QR scene"), max_length=64, blank=True)
    followed_at = models.DateTimeField(null=True, blank=True)
    unfollowed_at = models.DateTimeField(null=True, blank=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    follow_count = models.PositiveIntegerField(default=0)
    last_listed_run = models.BigIntegerField(null=True, blank=True, help_text="the last follower sync that listed it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "openid"], name="uniq_oa_follower")]
        indexes = [models.Index(fields=["account", "subscribed"])]

    def __str__(self) -> str:
        return self.openid


class ReplyKind(models.TextChoices):
    TEXT = "text", _("Text")
    NEWS = "news", _("Article card")


class FollowReply(models.Model):
    """What a new follower receives as the passive reply to the subscribe event."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=ReplyKind.choices, default=ReplyKind.TEXT)
    content = models.TextField(blank=True)
    articles = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"follow reply of {self.account_id}"


class MatchKind(models.TextChoices):
    EXACT = "exact", _("Exact match")
    CONTAINS = "contains", _("Contains")
    CLICK = "click", _("Menu click key")


class KeywordReply(models.Model):
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    keyword = models.CharField(_("keyword"), max_length=64)
    match = models.CharField(_("match"), max_length=10, choices=MatchKind.choices, default=MatchKind.EXACT)
    priority = models.IntegerField(_("priority"), default=0)
    kind = models.CharField(max_length=8, choices=ReplyKind.choices, default=ReplyKind.TEXT)
    content = models.TextField(blank=True)
    articles = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "match", "keyword"], name="uniq_oa_keyword"),
        ]
        indexes = [models.Index(fields=["account", "is_active"])]

    def __str__(self) -> str:
        return f"{self.match}:{self.keyword}"


class PushStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Pushing")
    PUSHED = "pushed", _("Live")
    FAILED = "failed", _("Push failed")


class Menu(models.Model):
    """The custom menu as validated; pushed to the platform by the worker (version makes a stale push a no-op)."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    buttons = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.DRAFT)
    error = models.CharField(max_length=255, blank=True)
    pushed_version = models.PositiveIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"menu v{self.version} of {self.account_id}"


class QrScene(models.Model):
    """A parametric QR code: `scene` is the scene_str or the decimal scene_id the platform echoes back."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    scene = models.CharField(_("scene"), max_length=64)
    numeric = models.BooleanField(default=False)
    permanent = models.BooleanField(default=False)
    expire_seconds = models.PositiveIntegerField(null=True, blank=True)
    tag_ids = models.JSONField(default=list, blank=True)
    reply_text = models.TextField(_("reply on scan"), blank=True)
    ticket = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "scene"], name="uniq_oa_scene")]

    def __str__(self) -> str:
        return f"{self.name} ({self.scene})"


class ScanKind(models.TextChoices):
    FOLLOW = "follow", _("Follow")
    SCAN = "scan", _("Scan while following")


class SceneHit(models.Model):
    """One follow or scan through a scene; one row per callback, so a replay cannot count twice."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    scene = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=ScanKind.choices)
    openid = models.CharField(max_length=64)
    day = models.DateField()
    occurred_at = models.DateTimeField()
    callback = models.OneToOneField(InboundCallback, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["account", "scene", "day"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.scene}:{self.openid}"


class SendStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class TemplateSend(models.Model):
    """The outbox row of one template message: written first, sent by the worker with retries."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=64)
    openid = models.CharField(max_length=64)
    customer_id = models.BigIntegerField(null=True, blank=True)
    template_id = models.CharField(max_length=64)
    url = models.CharField(max_length=1024, blank=True)
    miniprogram = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    msgid = models.CharField(max_length=32, blank=True, db_index=True)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    delivery = models.CharField(_("delivery report"), max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="uniq_oa_template_key"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.template_id} → {self.openid} ({self.status})"


class AccessToken(models.Model):
    """The cached base access_token of an account (sealed), shared by every process."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    sealed_token = models.TextField()
    expires_at = models.DateTimeField()
    fetched_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"token of {self.account_id}"


class OAuthState(models.Model):
    """The `state` of one web-authorisation round trip: single use, short-lived, remembers where to go next."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=20)
    next_url = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.state


class SyncStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class FollowerSync(models.Model):
    """A full import of an account's followers (user/get pages, user/info/batchget per 100), with its progress.

    `next_openid` is the cursor of the next user/get page, so a run picked up again after a crash resumes there;
    `heartbeat_at` moves with every batch, so a run nobody is working on can be told from a slow one.
    """

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    total = models.PositiveIntegerField(_("followers on the platform"), default=0)
    pages_done = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(_("followers listed"), default=0)
    imported = models.PositiveIntegerField(_("followers imported"), default=0)
    created = models.PositiveIntegerField(_("new customers"), default=0)
    merged = models.PositiveIntegerField(_("merged into existing customers"), default=0)
    failed = models.PositiveIntegerField(default=0)
    unfollowed = models.PositiveIntegerField(_("marked unfollowed"), default=0)
    next_openid = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=255, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(status="running"), name="uniq_oa_follower_sync_running"
            )
        ]

    def __str__(self) -> str:
        return f"follower sync {self.account_id} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == SyncStatus.DONE:
            return 100
        return min(99, self.seen * 100 // self.total) if self.total else 0
