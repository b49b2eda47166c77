from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who changed what: tags, tiers, points adjustments, refunds, merges, inheritance.

    `enterprise_id` is a plain column (the kernel does not import org): every row belongs to one enterprise and every
    read filters by it. Rows written before it existed and not attributable to one enterprise stay NULL and are shown
    to nobody.
    """

    enterprise_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=120, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=255, blank=True)  # in English; the reader's language comes from message
    # The summary as a msgid (and its plural) with its values, rendered in the reader's language (siyu.core.audit);
    # empty on rows written before, which show `summary`.
    message = models.CharField(max_length=255, blank=True, default="")
    message_plural = models.CharField(max_length=255, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    # The summary as each console language other than English reads it (one rendering a line), so the text search
    # finds a row by the words its reader sees ("打上标签"), not only by the stored English.
    search_text = models.TextField(blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"]),
            models.Index(fields=["enterprise_id", "-created_at"], name="audit_enterprise_created"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class IdempotencyRecord(models.Model):
    """The first result of a keyed side effect; a repeat with the same scope+key returns it."""

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=191)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="uniq_idempotency_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class PeriodicClaim(models.Model):
    """One scheduler's claim on one period of a periodic job: however many schedulers run, the unique pair lets
    exactly one of them enqueue the job for that period (siyu.core.periodic)."""

    name = models.CharField(max_length=100)
    period = models.BigIntegerField()  # whole intervals since the Unix epoch: the same number on every machine
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "period"], name="uniq_periodic_claim")]

    def __str__(self) -> str:
        return f"{self.name}@{self.period}"
