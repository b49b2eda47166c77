"""The loyalty rules page's forms: the points program (with per-category rates) and the tiers. The forms check the
shape (whole numbers, lengths); the services check the rules and their refusals land beside the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.forms import set_choices
from siyu.loyalty import services
from siyu.loyalty.models import TierBasis


class ProgramForm(forms.Form):
    is_active = forms.BooleanField(label=_("Points are earned"), required=False)
    points_per_yuan = forms.IntegerField(label=_("Points per yuan paid"), min_value=0, max_value=services.MAX_RATE)
    fen_per_point = forms.IntegerField(label=_("Value of one point (fen)"), min_value=1, max_value=10_000)
    return_window_days = forms.IntegerField(label=_("Return window (days)"), min_value=0, max_value=365)
    expiry_days = forms.IntegerField(label=_("Points expire after (days)"), min_value=1, max_value=services.MAX_DAYS)
    ugc_points = forms.IntegerField(label=_("Points for an approved review or photo"), min_value=0,
                                    max_value=100_000)
    follow_oa_points = forms.IntegerField(label=_("Points for following the Official Account (once)"),
                                          min_value=0, max_value=100_000)
    add_staff_points = forms.IntegerField(label=_("Points for adding a staff member (once)"), min_value=0,
                                          max_value=100_000)
    profile_points = forms.IntegerField(label=_("Points for completing the profile (once)"), min_value=0,
                                        max_value=100_000)
    checkout_points_per_yuan = forms.IntegerField(label=_("Points that pay one yuan at checkout (0: off)"),
                                                  min_value=0, max_value=100_000)
    checkout_max_percent = forms.IntegerField(label=_("Most of an order points may pay (%)"), min_value=1,
                                              max_value=99)


class CategoryRateForm(forms.Form):
    category_id = forms.TypedChoiceField(label=_("Category"), coerce=int, required=False, empty_value=None)
    points_per_yuan = forms.IntegerField(label=_("Points per yuan"), min_value=0, max_value=services.MAX_RATE,
                                         required=False)

    def __init__(self, *args: Any, categories: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "category_id", [("", "—"), *(categories or [])])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("category_id") is None) != (data.get("points_per_yuan") is None):
            raise forms.ValidationError(_("Pick a category and enter its rate, or leave both empty."))
        return data


CategoryRateFormSet = forms.formset_factory(CategoryRateForm, extra=2, max_num=500)


class TierPolicyForm(forms.Form):
    basis = forms.ChoiceField(label=_("Qualifies by"), choices=TierBasis.choices)
    window_days = forms.IntegerField(label=_("Rolling window (days)"), min_value=1, max_value=services.MAX_DAYS)
    grace_days = forms.IntegerField(label=_("Grace before a downgrade (days)"), min_value=0, max_value=365)


class TierForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=32, required=False)
    name = forms.CharField(label=_("Name"), max_length=40, required=False)
    threshold = forms.IntegerField(label=_("Threshold"), min_value=1, max_value=services.MAX_THRESHOLD,
                                   required=False)
    multiplier_percent = forms.IntegerField(label=_("Points multiplier (100 = ×1)"), min_value=100, max_value=1000,
                                            required=False)
    benefits = forms.CharField(label=_("Benefits"), max_length=500, required=False)

    def filled(self) -> bool:
        return any(self.cleaned_data.get(name) not in (None, "") for name in ("code", "name", "threshold"))

    def to_input(self) -> services.TierInput:
        data = self.cleaned_data
        return services.TierInput(code=(data.get("code") or "").strip(), name=data.get("name") or "",
                                  threshold=data.get("threshold") or 0,
                                  multiplier_percent=data.get("multiplier_percent") or 100,
                                  benefits=data.get("benefits") or "")


TierFormSet = forms.formset_factory(TierForm, extra=2, max_num=services.MAX_TIERS)


class RewardForm(forms.Form):
    """A gift (a SKU) or a coupon (a template) in the points catalogue; the choices are set by the view."""

    kind = forms.ChoiceField(label=_("Kind"), choices=[("gift", _("Gift (shipped as an order)")),
                                                       ("coupon", _("Coupon"))])
    name = forms.CharField(label=_("Name"), max_length=100)
    points = forms.IntegerField(label=_("Points"), min_value=1, max_value=services.MAX_REWARD_POINTS)
    sku_id = forms.TypedChoiceField(label=_("SKU given (gift)"), coerce=int, required=False, empty_value=None)
    coupon_template_id = forms.TypedChoiceField(label=_("Coupon given"), coerce=int, required=False,
                                                empty_value=None)
    is_active = forms.BooleanField(label=_("On offer"), required=False, initial=True)

    def __init__(self, *args: Any, skus: list[tuple[int, str]] | None = None,
                 templates: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "sku_id", [("", "—"), *(skus or [])])
        set_choices(self, "coupon_template_id", [("", "—"), *(templates or [])])

    def to_input(self) -> services.RewardInput:
        data = self.cleaned_data
        return services.RewardInput(kind=data["kind"], name=data["name"], points=data["points"],
                                    sku_id=data.get("sku_id"), coupon_template_id=data.get("coupon_template_id"),
                                    is_active=bool(data.get("is_active")))


class PlanForm(forms.Form):
    """A paid membership plan; the coupon choices are set by the view."""

    code = forms.RegexField(label=_("Code"), regex=r"^[a-z0-9_-]{1,32}$", max_length=32)
    name = forms.CharField(label=_("Name"), max_length=100)
    price_fen = forms.IntegerField(label=_("Price (fen)"), min_value=1, max_value=services.MAX_PLAN_PRICE_FEN)
    period_days = forms.IntegerField(label=_("Period (days)"), min_value=1, max_value=services.MAX_PERIOD_DAYS)
    points_multiplier_percent = forms.IntegerField(label=_("Points multiplier (100 = ×1)"), min_value=100,
                                                   max_value=1000, initial=100)
    member_price_percent = forms.IntegerField(label=_("Member price (% of list)"), min_value=1, max_value=100,
                                              initial=100)
    free_shipping = forms.BooleanField(label=_("Free shipping"), required=False)
    coupon_template_id = forms.TypedChoiceField(label=_("Coupon given each month"), coerce=int, required=False,
                                                empty_value=None)
    coupons_per_month = forms.IntegerField(label=_("Coupons per month"), min_value=0,
                                           max_value=services.MAX_MONTHLY_COUPONS, initial=0)
    refund_policy = forms.ChoiceField(label=_("Refund policy"), choices=[("pro_rata", _("Pro rata (the unused days)")),
                                                                         ("none", _("No refund"))])
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def __init__(self, *args: Any, templates: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "coupon_template_id", [("", "—"), *(templates or [])])

    def to_input(self) -> services.PlanInput:
        data = self.cleaned_data
        return services.PlanInput(
            code=data["code"], name=data["name"], price_fen=data["price_fen"], period_days=data["period_days"],
            points_multiplier_percent=data["points_multiplier_percent"],
            member_price_percent=data["member_price_percent"], free_shipping=bool(data.get("free_shipping")),
            coupon_template_id=data.get("coupon_template_id"), coupons_per_month=data["coupons_per_month"],
            refund_policy=data["refund_policy"], is_active=bool(data.get("is_active")))
