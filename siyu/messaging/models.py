"""Campaigns (issue 28): one targeted push that reaches each customer once, on the first reachable channel of an
ordered preference, inside the enterprise's contact budget.

A journey's send step is a hidden campaign per (journey version, node) whose rows are keyed by the step
(`journey:<enrollment>:<node>`): the same sender, caps and guarantees.

A campaign is planned into one Delivery row per (campaign, customer): the unique constraint is what makes "each
person once" hold, and the row's key (`campaign:<id>:customer:<id>`) is the idempotency key every send carries, so a
worker that dies between the provider's answer and our write sends nothing twice when the row is retaken. Excluded
customers keep a row too (status excluded, with the reason): the plan's waterfall is a GROUP BY over the rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.customers.models import Customer
from siyu.org.models import Enterprise, Staff


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PLANNED = "planned", _("Planned")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class AudienceKind(models.TextChoices):
    SEGMENT = "segment", _("Segment")
    TAGS = "tags", _("Tags")
    LIST = "list", _("Customer list")


class SendChannel(models.TextChoices):
    WECOM = "wecom", _("WeCom 1:1 (owning staff)")
    OFFICIAL_ACCOUNT = "official_account", _("Official Account template message")
    SMS = "sms", _("SMS")


class DeliveryStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    EXCLUDED = "excluded", _("Excluded")
    HOLDOUT = "holdout", _("Holdout")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CONFIRMED = "confirmed", _("Confirmed by staff")
    CANCELLED = "cancelled", _("Cancelled")
    WAITING = "waiting", _("Waiting for the winner")


class ExclusionReason(models.TextChoices):
    NO_CHANNEL = "no_channel", _("No reachable channel")
    OPTED_OUT = "opted_out", _("Opted out")
    DND = "dnd", _("Do not disturb")
    DAILY_CAP = "daily_cap", _("Daily cap reached")
    WEEKLY_CAP = "weekly_cap", _("Weekly cap reached")
    CHANNEL_CAP = "channel_cap", _("Channel cap reached")
    WECOM_MONTHLY = "wecom_monthly_limit", _("WeCom monthly limit reached")
    RECENT_PURCHASE = "recent_purchase", _("Purchased recently")
    OPEN_AFTER_SALE = "open_after_sale", _("Open after-sale")


class Campaign(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    audience_kind = models.CharField(max_length=10, choices=AudienceKind.choices)
    segment_id = models.BigIntegerField(null=True, blank=True)
    tag_ids = models.JSONField(default=list, blank=True)
    tag_match = models.CharField(max_length=3, default="any", help_text="any / all")
    customer_ids = models.JSONField(default=list, blank=True, help_text="static list (from an uploaded sheet)")
    channels = models.JSONField(default=list, help_text="ordered preference, e.g. [wecom, official_account, sms]")
    content = models.JSONField(default=dict, help_text="channel -> text with {name} {staff_name} {store}")
    variants = models.JSONField(default=list, blank=True,
                                help_text="[{name, content: {channel: text}}]; empty: one variant A")
    holdout_pct = models.PositiveSmallIntegerField(default=0)
    primary_metric = models.CharField(max_length=12, default="conversion", help_text="conversion / revenue")
    attribution_days = models.PositiveSmallIntegerField(default=7)
    # The A/B test's declared design, before launch: the control's expected conversion and the smallest absolute
    # lift worth detecting, in basis points (1 bp = 0.01 %); the plan shows the sample each arm needs for them.
    baseline_bp = models.PositiveIntegerField(default=500, help_text="expected conversion, 1/10000 (500: 5 %)")
    mde_bp = models.PositiveIntegerField(default=100, help_text="minimum detectable absolute lift, 1/10000")
    cost_fen = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    wecom_account_id = models.BigIntegerField(null=True, blank=True)
    oa_account_id = models.BigIntegerField(null=True, blank=True)
    oa_template_id = models.CharField(max_length=64, blank=True)
    sms_sign = models.CharField(max_length=20, blank=True)
    journey_version_id = models.BigIntegerField(null=True, blank=True,
                                                help_text="a journey's send step (hidden from campaign lists)")
    journey_node = models.CharField(max_length=24, blank=True, help_text="the send step's node id")
    owner_store_id = models.BigIntegerField(null=True, blank=True, help_text="a store's own campaign; null: HQ")
    owner_staff_id = models.BigIntegerField(null=True, blank=True, help_text="the manager who made it; null: HQ")
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="null: now")
    best_hour = models.BooleanField(default=False, help_text="each delivery at its customer's usual active hour")
    coupon_template_id = models.BigIntegerField(null=True, blank=True, help_text="a coupon each recipient gets once")
    points = models.PositiveIntegerField(default=0, help_text="points each recipient gets once; 0: none")
    test_pct = models.PositiveSmallIntegerField(default=0, help_text="send the variants to this share first; 0: all")
    evaluate_at = models.DateTimeField(null=True, blank=True, help_text="pick the winner by itself at this time")
    winner = models.CharField(max_length=16, blank=True)
    promotion = models.JSONField(default=dict, blank=True, help_text="the winner decision: who, when, p, forced")
    planned_at = models.DateTimeField(null=True, blank=True)
    plan = models.JSONField(default=dict, blank=True, help_text="the waterfall as planned")
    launched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_pct__lte=50), name="campaign_holdout_pct"),
            models.CheckConstraint(condition=Q(test_pct__lte=90), name="campaign_test_pct"),
            models.CheckConstraint(condition=Q(baseline_bp__gte=1, baseline_bp__lte=9999, mde_bp__gte=1)
                                   & Q(baseline_bp__lt=10000 - F("mde_bp")), name="campaign_ab_design"),
            models.UniqueConstraint(fields=["journey_version_id", "journey_node"],
                                    condition=Q(journey_version_id__isnull=False),
                                    name="uniq_campaign_journey_node"),
        ]

    def __str__(self) -> str:
        return self.name


# Sends per minute per channel when the enterprise set none: the platforms' published limits (../shared/protocol:
# SMS 5,000 QPS per account; WeCom 10,000 calls a minute per corp and API; the Official Account publishes no number
# for template messages, so WeCom's figure is used).
DEFAULT_SEND_RATES: dict[str, int] = {"sms": 300_000, "wecom": 10_000, "official_account": 10_000}


class ContactPolicy(models.Model):
    """The enterprise's contact budget; absent, the defaults below apply. A cap of 0 means no cap."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    max_per_day = models.PositiveSmallIntegerField(default=1)
    max_per_week = models.PositiveSmallIntegerField(default=2, help_text="rolling 7 days")
    channel_caps = models.JSONField(default=dict, blank=True, help_text="channel -> max per customer per day")
    quiet_start_hour = models.PositiveSmallIntegerField(default=21, help_text="Asia/Shanghai")
    quiet_end_hour = models.PositiveSmallIntegerField(default=9, help_text="Asia/Shanghai")
    recent_purchase_days = models.PositiveSmallIntegerField(default=0, help_text="0: no suppression")
    suppress_open_after_sale = models.BooleanField(default=True)
    wecom_monthly_limit = models.PositiveSmallIntegerField(default=4, help_text="WeCom: per calendar month")
    send_rates = models.JSONField(default=dict, blank=True,
                                  help_text="channel -> sends per minute; absent: the platform's limit")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"policy {self.enterprise_id}"

    def send_rate(self, channel: str) -> int:
        """Sends a minute on the channel: the enterprise's own rate, else the platform's."""
        return int((self.send_rates or {}).get(channel) or DEFAULT_SEND_RATES.get(channel, 10_000))


class DoNotDisturb(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "customer"], name="uniq_dnd_customer")]

    def __str__(self) -> str:
        return f"dnd {self.customer_id}"


class Delivery(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=64, unique=True, help_text="campaign:<id>:customer:<id>")
    channel = models.CharField(max_length=20, choices=SendChannel.choices, blank=True)
    variant = models.CharField(max_length=16, blank=True)
    holdout = models.BooleanField(default=False)
    bucket = models.PositiveSmallIntegerField(default=0, help_text="0-99, stable per customer and campaign")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=24, choices=ExclusionReason.choices, blank=True)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False, help_text="WeCom: the owning staff who sends")
    target = models.CharField(max_length=128, blank=True, help_text="phone / openid / external_userid")
    due_at = models.DateTimeField(help_text="when it may be sent (after quiet hours); counts toward caps")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="the last claim (the send rate's window)")
    coupon_code = models.CharField(max_length=32, blank=True, help_text="the attached coupon, issued before the send")
    rewarded_at = models.DateTimeField(null=True, blank=True, help_text="coupon / points issued (before the send)")
    claim = models.CharField(max_length=32, blank=True, help_text="the claiming worker's batch token")
    provider_ref = models.CharField(max_length=64, blank=True)
    mass_send_id = models.BigIntegerField(null=True, blank=True, help_text="WeCom: the staff's mass send")
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="SMS: the provider's delivery receipt")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # each person once per campaign; a journey's send step once per enrollment (its key, `journey:<e>:<node>`)
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"],
                                               condition=Q(key__startswith="campaign:"),
                                               name="uniq_delivery_per_customer")]
        indexes = [
            models.Index(fields=["customer", "due_at"], name="delivery_customer_due"),
            models.Index(fields=["status", "due_at"], name="delivery_status_due"),
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status"),
            models.Index(fields=["enterprise", "channel", "claimed_at"], name="delivery_rate_window"),
        ]

    def __str__(self) -> str:
        return self.key


class CampaignLink(models.Model):
    """A link in a delivery's text, replaced at send by `/c/<token>`: unguessable, one per delivery and link. The
    first click's time and a count (at most one per CLICK_GAP_S, so a refreshing page does not write each time)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="links", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="the link's place in the text, from 0")
    url = models.CharField(max_length=500)
    token = models.CharField(max_length=24, unique=True)
    clicks = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "position"], name="uniq_campaign_link_position")]
        indexes = [models.Index(fields=["campaign", "first_clicked_at"], name="campaign_link_clicked")]

    def __str__(self) -> str:
        return self.token


class Touch(models.TextChoices):
    FIRST = "first", _("First touch")
    LAST = "last", _("Last touch")


class Conversion(models.Model):
    """An order paid within a delivery's attribution window, credited first-touch and last-touch (one row each)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="conversions")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    order_id = models.BigIntegerField()
    touch = models.CharField(max_length=5, choices=Touch.choices)
    revenue_fen = models.BigIntegerField()
    paid_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order_id", "touch"], name="uniq_conversion_order_touch")]
        indexes = [models.Index(fields=["campaign", "touch"], name="conversion_campaign_touch")]

    def __str__(self) -> str:
        return f"{self.touch}:{self.order_id}"
