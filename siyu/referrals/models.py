"""Referral data: invite campaigns (邀请有礼) and task fission (任务宝), their participants (each with a share token
that is also the `state` of their contact way), the invitations their tokens brought, and the rewards granted.

An invitation is one row per (campaign, invitee): the unique constraint is what makes "once per invitee" hold under
concurrent conversions. A reward row is written, keyed by its business fact, before the points or the coupon are
granted, and the grant carries the same key (docs/referrals.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.customers.models import Customer
from siyu.org.models import Enterprise


class CampaignKind(models.TextChoices):
    INVITE = "invite", _("Invite rewards")
    TASK = "task", _("Task fission")
    GROUP = "group", _("Group fission")
    ASSIST = "assist", _("Assistance")


class Conversion(models.TextChoices):
    ADD_STAFF = "add_staff", _("Adds a staff member")
    FIRST_ORDER = "first_order", _("Pays a first order")
    JOIN_GROUP = "join_group", _("Joins a customer group")
    HELP = "help", _("Taps help")


class RewardKind(models.TextChoices):
    POINTS = "points", _("Points")
    COUPON = "coupon", _("Coupon")


class Campaign(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=CampaignKind.choices)
    name = models.CharField(_("name"), max_length=64)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    conversion = models.CharField(_("what counts"), max_length=12, choices=Conversion.choices,
                                  default=Conversion.ADD_STAFF)
    reward_kind = models.CharField(_("reward"), max_length=10, choices=RewardKind.choices, default=RewardKind.POINTS)
    reward_points = models.PositiveIntegerField(_("reward points"), default=0)
    coupon_template_id = models.BigIntegerField(_("coupon template"), null=True, blank=True)
    per_inviter_cap = models.PositiveIntegerField(_("rewards per inviter"), default=0, help_text="0: no cap")
    target_count = models.PositiveIntegerField(_("people to bring"), default=0, help_text="task fission: N")
    window_days = models.PositiveIntegerField(_("within days"), default=0, help_text="task fission: T")
    channel_code_id = models.BigIntegerField(null=True, blank=True,
                                             help_text="the code whose staff each participant's contact way leads to")
    group_code_id = models.BigIntegerField(null=True, blank=True,
                                           help_text="group fission: the group code whose groups invitees join")
    window_hours = models.PositiveIntegerField(_("within hours"), default=0, help_text="assistance: T hours")
    helpers_must_be_new = models.BooleanField(_("helpers must be new"), default=True,
                                              help_text="assistance: a helper must be new to the pool")
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="referral_campaign_window")]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """A customer taking part: their share token (the contact way's `state`, the share link's path), who brought
    them (`invited_by`, None for a seed participant) and their generation in the invitation tree (seed = 0)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participants")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=30, unique=True)
    invited_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    generation = models.PositiveIntegerField(default=0)
    channel_code_id = models.BigIntegerField(null=True, blank=True)
    joined_at = models.DateTimeField()
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="task fission: joined + T days")
    completed_at = models.DateTimeField(null=True, blank=True, help_text="task fission: the target was reached")
    join_config_id = models.CharField(max_length=64, blank=True, help_text="group fission: their own join way")
    join_qr = models.CharField(max_length=500, blank=True, help_text="group fission: their join way's QR")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="uniq_referral_participant")]
        indexes = [models.Index(fields=["campaign", "generation"])]

    def __str__(self) -> str:
        return self.token


class InvitationStatus(models.TextChoices):
    CLAIMED = "claimed", _("Opened the link, no order yet")
    PENDING = "pending", _("Waiting 24 hours")
    COUNTED = "counted", _("Counted")
    REJECTED = "rejected", _("Not counted")
    REVERSED = "reversed", _("Reversed (refund)")


class Invitation(models.Model):
    """One invitee brought by one participant's token, once per campaign. `reason` names why it was not counted
    (`self_invite`, `invitee_not_new`, `deleted_within_24h`) or reversed (`refunded`)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    inviter = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=InvitationStatus.choices)
    reason = models.CharField(max_length=32, blank=True)
    staff_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(help_text="the add (or the link opened, for a first-order campaign)")
    converted_at = models.DateTimeField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    rewarded = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "invitee"], name="uniq_referral_invitee")]
        indexes = [models.Index(fields=["status", "occurred_at"]), models.Index(fields=["order_id"]),
                   models.Index(fields=["inviter", "status"])]

    def __str__(self) -> str:
        return f"{self.inviter_id}→{self.invitee_id}"


class RewardStatus(models.TextChoices):
    GRANTED = "granted", _("Granted")
    REVERSED = "reversed", _("Reversed")
    FAILED = "failed", _("Could not be granted")
    UNRECOVERABLE = "unrecoverable", _("Refunded, coupon already used: not recoverable")


class Reward(models.Model):
    """A reward owed to a participant, recorded (by its key) before the points or coupon are granted with that key:
    `referral:<campaign>:<invitee>` for an invite reward, `fission:<campaign>:<participant>` for a task's."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rewards")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="rewards")
    invitation = models.OneToOneField(Invitation, null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="reward")
    key = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=RewardKind.choices)
    points = models.PositiveIntegerField(default=0)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    cost_fen = models.BigIntegerField(default=0, help_text="what the reward is worth: points × value, or the coupon")
    status = models.CharField(max_length=16, choices=RewardStatus.choices, default=RewardStatus.GRANTED)
    error = models.CharField(max_length=64, blank=True)
    granted_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_referral_reward_key")]

    def __str__(self) -> str:
        return self.key


class ScanCursor(models.Model):
    """How far the conversion scan has read the event log (per enterprise); its row lock makes workers take turns."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.enterprise_id}@{self.last_event_id}"


class Help(models.Model):
    """One friend's help (助力) to one participant's assistance: once per (assistance, helper) by constraint."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="helps")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="helps")
    helper = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    helped_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["participant", "helper"], name="uniq_referral_help")]

    def __str__(self) -> str:
        return f"{self.helper_id}→{self.participant_id}"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class ProgressNotice(models.Model):
    """A progress message owed to a participant (someone they brought counted, or their task completed), recorded
    by its key `referral-progress:<campaign>:<participant>:<count>` before the worker sends it (outside any
    transaction) through the SMS sender with that key."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="notices")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=100)
    count = models.PositiveIntegerField()
    target = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_referral_notice_key")]
        indexes = [models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return self.key
