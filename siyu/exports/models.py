"""Background exports (customers, orders) of a filter, as CSV or Excel, for the one staff member who asked."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Enterprise


class ExportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")


class ExportFormat(models.TextChoices):
    XLSX = "xlsx", _("Excel")
    CSV = "csv", _("CSV")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


def new_token() -> str:
    return secrets.token_urlsafe(24)


class ExportJob(models.Model):
    """One export. The file lives under the export directory named by `token` (not guessable); only the requester
    may read it, and what it holds is decided by the requester's scope when it runs."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    file_format = models.CharField(max_length=8, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=16, default="zh-hans")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)
    token = models.CharField(max_length=40, unique=True, default=new_token)
    file_name = models.CharField(max_length=80, blank=True)
    file_size = models.BigIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # the lease (siyu.core.leases): which worker runs it and when its progress last said it was alive
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="export_by_requester"),
                   models.Index(fields=["status", "heartbeat_at"], name="export_lease")]
        constraints = [
            models.UniqueConstraint(fields=["requested_by", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="uniq_export_key_per_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.file_format} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return min(99, self.done_rows * 100 // self.total_rows) if self.total_rows else 0

    @property
    def retrying(self) -> bool:
        """Queued again after its worker was lost (siyu.core.leases): the console says so."""
        return self.status == ExportStatus.QUEUED and self.attempts > 0
