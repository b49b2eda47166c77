"""The console's campaign form (a phone-sized wizard in one page); the service validates again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.messaging import services

AUDIENCE = [("segment", _("Segment")), ("tags", _("Tags")), ("list", _("Customer list"))]
CHANNELS = [("", "—"), ("wecom", _("WeCom 1:1 (owning staff)")),
            ("official_account", _("Official Account template message")), ("sms", _("SMS"))]


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    audience_kind = forms.ChoiceField(label=_("Audience"), choices=AUDIENCE, initial="segment")
    segment_id = forms.TypedChoiceField(label=_("Segment"), coerce=int, required=False, empty_value=None)
    tag_ids = forms.TypedMultipleChoiceField(label=_("Tags"), coerce=int, required=False)
    tag_match = forms.ChoiceField(label=_("Tags to match"), choices=[("any", _("Any")), ("all", _("All"))],
                                  initial="any")
    customer_list = forms.CharField(label=_("Customer list: phones or customer numbers, one a line"),
                                    required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2_000_000)
    channel_1 = forms.ChoiceField(label=_("First channel"), choices=CHANNELS, initial="wecom")
    channel_2 = forms.ChoiceField(label=_("Then"), choices=CHANNELS, required=False, initial="official_account")
    channel_3 = forms.ChoiceField(label=_("Then"), choices=CHANNELS, required=False, initial="sms")
    text_wecom = forms.CharField(label=_("WeCom text"), required=False, max_length=services.MAX_TEXT,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    text_official_account = forms.CharField(label=_("Official Account text"), required=False,
                                            max_length=services.MAX_TEXT, widget=forms.Textarea(attrs={"rows": 2}))
    text_sms = forms.CharField(label=_("SMS text"), required=False, max_length=services.MAX_TEXT,
                               widget=forms.Textarea(attrs={"rows": 2}))
    wecom_account_id = forms.TypedChoiceField(label=_("WeCom account"), coerce=int, required=False, empty_value=None)
    oa_account_id = forms.TypedChoiceField(label=_("Official Account"), coerce=int, required=False,
                                           empty_value=None)
    oa_template_id = forms.CharField(label=_("Template ID"), max_length=64, required=False)
    sms_sign = forms.CharField(label=_("SMS signature"), max_length=20, required=False)
    scheduled_at = forms.DateTimeField(label=_("Send at (empty: now)"), required=False, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    best_hour = forms.BooleanField(label=_("At each customer's usual active hour (from their history)"),
                                   required=False)
    coupon_template_id = forms.TypedChoiceField(label=_("Attach a coupon (each recipient once; text: {coupon_code})"),
                                                coerce=int, required=False, empty_value=None)
    points = forms.IntegerField(label=_("Attach points (each recipient once; HQ)"), min_value=0,
                                max_value=services.MAX_POINTS, initial=0, required=False)
    variants = forms.CharField(label=_("Variants (names, comma separated; empty: one)"), required=False,
                               max_length=90)
    holdout_pct = forms.IntegerField(label=_("Holdout %"), min_value=0, max_value=50, initial=0)
    primary_metric = forms.ChoiceField(label=_("Primary metric"), initial="conversion", required=False, choices=[
        ("conversion", _("Conversion")), ("revenue", _("Revenue per recipient"))])
    test_pct = forms.IntegerField(label=_("Test share % (the variants go to it first, then the winner to the rest)"),
                                  min_value=0, max_value=90, initial=0, required=False)
    evaluate_at = forms.DateTimeField(label=_("Pick the winner at (empty: by hand)"), required=False,
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                 format="%Y-%m-%dT%H:%M"))
    attribution_days = forms.IntegerField(label=_("Attribution window (days)"), min_value=1, max_value=90, initial=7)
    cost_fen = forms.IntegerField(label=_("Cost (fen)"), min_value=0, initial=0, required=False)
    baseline_pct = forms.DecimalField(label=_("A/B: expected conversion %"), min_value=Decimal("0.01"),
                                      max_value=Decimal("99.98"), decimal_places=2, initial=Decimal("5"),
                                      required=False)
    mde_pct = forms.DecimalField(label=_("A/B: smallest lift to detect (percentage points)"),
                                 min_value=Decimal("0.01"), max_value=Decimal("99.98"), decimal_places=2,
                                 initial=Decimal("1"), required=False)

    def __init__(self, *args: Any, segments: list[tuple[int, str]], tags: list[tuple[int, str]],
                 wecom: list[tuple[int, str]], oa: list[tuple[int, str]],
                 coupons: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["coupon_template_id"].choices = [("", "—"), *(coupons or [])]  # type: ignore[attr-defined]
        self.fields["segment_id"].choices = [("", "—"), *segments]  # type: ignore[attr-defined]
        self.fields["tag_ids"].choices = tags  # type: ignore[attr-defined]
        self.fields["wecom_account_id"].choices = [("", "—"), *wecom]  # type: ignore[attr-defined]
        self.fields["oa_account_id"].choices = [("", "—"), *oa]  # type: ignore[attr-defined]

    def to_input(self, customer_ids: list[int]) -> services.CampaignInput:
        d = self.cleaned_data
        channels = [c for c in (d["channel_1"], d.get("channel_2"), d.get("channel_3")) if c]
        names = [n.strip() for n in (d.get("variants") or "").split(",") if n.strip()]
        return services.CampaignInput(
            name=d["name"], audience_kind=d["audience_kind"], segment_id=d.get("segment_id"),
            tag_ids=list(d.get("tag_ids") or []), tag_match=d["tag_match"], customer_ids=customer_ids,
            channels=channels, content={c: d.get(f"text_{c}") or "" for c in channels},
            variants=[{"name": n} for n in names], holdout_pct=d["holdout_pct"],
            primary_metric=d.get("primary_metric") or "conversion", test_pct=d.get("test_pct") or 0,
            evaluate_at=d.get("evaluate_at"), best_hour=bool(d.get("best_hour")),
            coupon_template_id=d.get("coupon_template_id"), points=d.get("points") or 0,
            attribution_days=d["attribution_days"], cost_fen=d.get("cost_fen") or 0,
            baseline_bp=int((d.get("baseline_pct") or Decimal(5)) * 100),
            mde_bp=int((d.get("mde_pct") or Decimal(1)) * 100),
            scheduled_at=d.get("scheduled_at"), wecom_account_id=d.get("wecom_account_id"),
            oa_account_id=d.get("oa_account_id"), oa_template_id=d.get("oa_template_id") or "",
            sms_sign=d.get("sms_sign") or "")


class PolicyForm(forms.Form):
    """The contact budget (a cap of 0 is no cap); the service validates again."""

    max_per_day = forms.IntegerField(label=_("At most per customer a day"), min_value=0, max_value=1000)
    max_per_week = forms.IntegerField(label=_("At most per customer in 7 days"), min_value=0, max_value=1000)
    cap_wecom = forms.IntegerField(label=_("WeCom: at most a day"), min_value=0, max_value=1000, required=False)
    cap_official_account = forms.IntegerField(label=_("Official Account: at most a day"), min_value=0,
                                              max_value=1000, required=False)
    cap_sms = forms.IntegerField(label=_("SMS: at most a day"), min_value=0, max_value=1000, required=False)
    wecom_monthly_limit = forms.IntegerField(label=_("WeCom mass messages per customer a month"), min_value=0,
                                             max_value=1000)
    quiet_start_hour = forms.IntegerField(label=_("Quiet hours from (hour, Beijing time)"), min_value=0, max_value=23)
    quiet_end_hour = forms.IntegerField(label=_("Quiet hours until (hour)"), min_value=0, max_value=23)
    recent_purchase_days = forms.IntegerField(label=_("Skip customers who bought in the last N days (0: never)"),
                                              min_value=0, max_value=1000)
    suppress_open_after_sale = forms.BooleanField(label=_("Skip customers with an open after-sale"), required=False)

    CHANNELS = ("wecom", "official_account", "sms")

    @classmethod
    def initial_from(cls, policy: Any) -> dict[str, Any]:
        caps = policy.channel_caps or {}
        return {**{name: getattr(policy, name) for name in (
            "max_per_day", "max_per_week", "wecom_monthly_limit", "quiet_start_hour", "quiet_end_hour",
            "recent_purchase_days", "suppress_open_after_sale")},
            **{f"cap_{c}": int(caps.get(c) or 0) for c in cls.CHANNELS}}

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        out = {k: v for k, v in d.items() if not k.startswith("cap_")}
        out["channel_caps"] = {c: int(d.get(f"cap_{c}") or 0) for c in self.CHANNELS if d.get(f"cap_{c}")}
        return out


class DndAddForm(forms.Form):
    customer = forms.CharField(label=_("Phone or customer number"), max_length=32)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
