"""Set-up's own rows: the once-only marker of the first run, and the results of "check connection"."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Enterprise


class FirstRun(models.Model):
    """At most one row ever (the CHECK pins the key to 1): inserting it is how the first run claims the install, so
    two people on the wizard at once cannot both create an enterprise; the second insert fails on the primary key
    and its transaction, enterprise included, rolls back."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    enterprise = models.ForeignKey(Enterprise, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16)  # "command" or "wizard"
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="first_run_singleton")]

    def __str__(self) -> str:
        return f"first run by {self.source} at {self.done_at:%Y-%m-%d %H:%M}"


class CheckTarget(models.TextChoices):
    CHANNEL_ACCOUNT = "channel_account", _("Channel account")
    PAY_MERCHANT = "pay_merchant", _("WeChat Pay merchant")


class ConnectionCheck(models.Model):
    """One "check connection" run: what each probe found (a list of {key, ok, detail, code}), kept so the page can
    show the last result after the redirect and HQ can see when an account last worked."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=20, choices=CheckTarget.choices)
    target_id = models.BigIntegerField()
    ok = models.BooleanField()
    results = models.JSONField(default=list)
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "target", "target_id", "-checked_at"],
                                name="setup_check_latest")]
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.target}#{self.target_id} {'ok' if self.ok else 'failing'}"
