"""The console's campaign form; the service validates again (HQ, the window, the reward, the code)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.forms import set_choices
from siyu.referrals import services
from siyu.referrals.models import CampaignKind, Conversion, RewardKind


def _when(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                        format="%Y-%m-%dT%H:%M"))


class CampaignForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CampaignKind.choices)
    name = forms.CharField(label=_("Name"), max_length=64)
    starts_at = _when(_("Starts"))
    ends_at = _when(_("Ends"))
    conversion = forms.ChoiceField(label=_("What counts"), choices=Conversion.choices)
    reward_kind = forms.ChoiceField(label=_("Reward"), choices=RewardKind.choices)
    reward_points = forms.IntegerField(label=_("Reward points"), min_value=0, max_value=services.MAX_REWARD_POINTS,
                                       initial=0, required=False)
    coupon_template_id = forms.TypedChoiceField(label=_("Coupon"), coerce=int, required=False, empty_value=None)
    per_inviter_cap = forms.IntegerField(label=_("Rewards per inviter (0: no cap)"), min_value=0,
                                         max_value=services.MAX_CAP, initial=0, required=False)
    target_count = forms.IntegerField(label=_("Task: people to bring"), min_value=0, max_value=services.MAX_TARGET,
                                      initial=0, required=False)
    window_days = forms.IntegerField(label=_("Task: within days"), min_value=0, max_value=services.MAX_WINDOW_DAYS,
                                     initial=0, required=False)
    channel_code_id = forms.TypedChoiceField(label=_("Channel code the posters lead to"), coerce=int, required=False,
                                             empty_value=None)
    group_code_id = forms.TypedChoiceField(label=_("Group fission: group code whose groups people join"), coerce=int,
                                           required=False, empty_value=None)
    window_hours = forms.IntegerField(label=_("Assistance: within hours"), min_value=0,
                                      max_value=services.MAX_WINDOW_HOURS, initial=0, required=False)
    helpers_must_be_new = forms.BooleanField(label=_("Assistance: helpers must be new to the brand"),
                                             required=False, initial=True)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, templates: list[tuple[int, str]] | None = None,
                 codes: list[tuple[int, str]] | None = None, group_codes: list[tuple[int, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "group_code_id", [("", "—"), *(group_codes or [])])
        set_choices(self, "coupon_template_id", [("", "—"), *(templates or [])])
        set_choices(self, "channel_code_id", [("", "—"), *(codes or [])])

    def to_input(self) -> services.CampaignInput:
        data = self.cleaned_data
        return services.CampaignInput(
            kind=data["kind"], name=data["name"], starts_at=data["starts_at"], ends_at=data["ends_at"],
            conversion=data["conversion"], reward_kind=data["reward_kind"], reward_points=data["reward_points"] or 0,
            coupon_template_id=data.get("coupon_template_id"), per_inviter_cap=data["per_inviter_cap"] or 0,
            target_count=data["target_count"] or 0, window_days=data["window_days"] or 0,
            channel_code_id=data.get("channel_code_id"), group_code_id=data.get("group_code_id"),
            window_hours=data["window_hours"] or 0, helpers_must_be_new=bool(data.get("helpers_must_be_new")),
            is_active=bool(data.get("is_active")))
