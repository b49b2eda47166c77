"""The analytics engine's own rows in the OLTP database: the change log its capture triggers write, and the
acquisition costs operators enter for the traffic dashboard."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Change(models.Model):
    """One UPDATE or DELETE of a row in a table the columnar copy mirrors, written by a database trigger the engine
    installs (siyu/analytics/engine/capture.py). Inserts need no row here: they are read by id watermark. Only the
    engine's process reads and prunes this table."""

    id = models.BigAutoField(primary_key=True)
    tbl = models.CharField(max_length=64)
    row_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.tbl}#{self.row_id}"


class AcquisitionCost(models.Model):
    """What the brand spent on one source of customers on one Shanghai day (ads behind a channel code, a platform
    campaign, an import from a public platform...): the traffic dashboard divides it by the customers that source
    brought. A source is a channel (the customer's `created_source`) or a WeCom channel code's state; one of them is
    set. Entered by HQ in the console; each entry is audited."""

    enterprise = models.ForeignKey("org.Enterprise", on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    code_state = models.CharField(_("channel code state"), max_length=64, blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    note = models.CharField(_("note"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "day"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="acquisition_cost_not_negative"),
            models.CheckConstraint(condition=~Q(channel="") | ~Q(code_state=""), name="acquisition_cost_has_source"),
        ]
        ordering = ["-day", "-id"]

    def __str__(self) -> str:
        return f"{self.day} {self.channel or self.code_state} {self.amount_fen}"
