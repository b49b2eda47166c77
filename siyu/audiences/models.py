"""Audiences: segments (人群包) with their membership history, RFM runs, per-customer scores (RFM and lifecycle
stage), lifecycle rules, super-user weights and rule tags.

Writes go through siyu.audiences.services; dynamic membership and scores are written by the analytics process
(siyu.audiences.membership, siyu.audiences.rfm), the copy's only writer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.customers.models import Customer, Tag
from siyu.org.models import Enterprise, Region, Store


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", _("Dynamic")
    STATIC = "static", _("Static snapshot")


class Segment(models.Model):
    """A saved audience. `region` / `store` say whose it is (neither: HQ's, the whole enterprise): its members are
    the rule's customers within that scope, and only that scope's managers (and HQ) may change it."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=255, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    rule = models.JSONField(default=dict)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField(default=1, help_text="grows when the rule changes")
    built_revision = models.PositiveIntegerField(default=0, help_text="the revision membership was last built for")
    built_at = models.DateTimeField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    snapshot_at = models.DateTimeField(null=True, blank=True, help_text="static: when membership was frozen")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "name"], name="uniq_segment_name"),
        ]
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """One stint of one customer in one segment: entered_at .. left_at (null while a member). Re-entry is a new row."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], condition=Q(left_at__isnull=True),
                                    name="uniq_live_segment_member"),
        ]
        indexes = [models.Index(fields=["segment", "left_at"]), models.Index(fields=["customer", "entered_at"])]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"


class RfmRun(models.Model):
    """One RFM + lifecycle computation: its parameters, quintile edges, distribution and the movement matrix against
    the run before (cell → cell counts)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateTimeField()
    window_days = models.PositiveIntegerField(default=365)
    customers = models.PositiveIntegerField(default=0)
    buyers = models.PositiveIntegerField(default=0)
    edges = models.JSONField(default=dict, blank=True)
    cells = models.JSONField(default=dict, blank=True)
    stages = models.JSONField(default=dict, blank=True)
    movement = models.JSONField(default=dict, blank=True)
    stage_movement = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(default=0)
    trigger = models.CharField(max_length=16, default="nightly")
    status = models.CharField(max_length=12, default="done")
    requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "-id"]
        indexes = [models.Index(fields=["enterprise", "status"])]

    def __str__(self) -> str:
        return f"RFM {self.enterprise_id} @ {self.as_of:%Y-%m-%d %H:%M}"


class CustomerScore(models.Model):
    """A customer's latest RFM scores and cell, lifecycle stage and super-user score (one row per customer)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="+", primary_key=False)
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(RfmRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recency_days = models.IntegerField(null=True, blank=True)
    frequency = models.IntegerField(default=0)
    monetary_fen = models.BigIntegerField(default=0)
    r = models.PositiveSmallIntegerField(default=0)
    f = models.PositiveSmallIntegerField(default=0)
    m = models.PositiveSmallIntegerField(default=0)
    cell = models.CharField(max_length=24, blank=True)
    stage = models.CharField(max_length=12, blank=True)
    stage_since = models.DateTimeField(null=True, blank=True)
    super_score = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "cell"]), models.Index(fields=["enterprise", "stage"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.cell}/{self.stage}"


class LifecycleRules(models.Model):
    """The operator's thresholds for lifecycle stages (days since the last purchase / activity)."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    new_days = models.PositiveIntegerField(_("new: joined within (days)"), default=30)
    active_days = models.PositiveIntegerField(_("active: bought or engaged within (days)"), default=30)
    silent_days = models.PositiveIntegerField(_("silent: last activity within (days)"), default=60)
    at_risk_days = models.PositiveIntegerField(_("at risk: last activity within (days); churned beyond"), default=120)
    rfm_window_days = models.PositiveIntegerField(_("RFM window (days)"), default=365)
    super_weights = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"lifecycle rules {self.enterprise_id}"


class TagRuleKind(models.TextChoices):
    SEGMENT = "segment", _("Members of a segment")
    EVENT = "event", _("When an event happens")


class TagRule(models.Model):
    """A rule tag: the tag's holders are a segment's members (kept current), or customers who did an event (the tag
    expires `expire_days` after the last matching event, 0 = never)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    tag = models.OneToOneField(Tag, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=TagRuleKind.choices)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event_name = models.CharField(max_length=64, blank=True)
    event_where = models.JSONField(default=list, blank=True)
    expire_days = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"tag rule {self.tag_id} ({self.kind})"
