"""Forms of the organisation pages. Choices come from scoped queries: a form names only what its user may see."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.forms import set_choices
from siyu.org import editing, queries
from siyu.org.scope import Scope


class RegionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.CharField(label=_("Code"), max_length=64, help_text=_("Letters, digits, _ or -"))

    def to_input(self) -> editing.RegionInput:
        return editing.RegionInput(name=self.cleaned_data["name"], code=self.cleaned_data["code"])


class StoreForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.CharField(label=_("Code"), max_length=64, help_text=_("Letters, digits, _ or -"))
    region_id = forms.TypedChoiceField(label=_("Region"), coerce=int)
    city = forms.CharField(label=_("City"), max_length=64, required=False)
    address = forms.CharField(label=_("Address"), max_length=255, required=False)
    opening_state = forms.ChoiceField(label=_("Opening state"), choices=queries.OpeningStates.choices)
    opened_on = forms.DateField(label=_("Opened on"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "region_id", [(r.pk, f"{r.name} ({r.code})") for r in queries.regions(scope)])

    def to_input(self) -> editing.StoreInput:
        return editing.StoreInput(**self.cleaned_data)


class StaffForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    role = forms.ChoiceField(label=_("Role"), choices=queries.Roles.choices)
    store_id = forms.TypedChoiceField(label=_("Store"), coerce=int, required=False, empty_value=None)
    region_id = forms.TypedChoiceField(label=_("Region"), coerce=int, required=False, empty_value=None,
                                       help_text=_("For region managers"))
    wecom_userid = forms.CharField(label=_("WeCom userid"), max_length=64, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        blank = [("", "—")]
        set_choices(self, "store_id", blank + [(s.pk, f"{s.name} ({s.code})") for s in queries.stores(scope)])
        set_choices(self, "region_id", blank + [(r.pk, r.name) for r in queries.regions(scope)])
        if not scope.is_hq:
            set_choices(self, "role", [(queries.Roles.STORE_STAFF, queries.Roles.STORE_STAFF.label)])

    def to_input(self) -> editing.StaffInput:
        return editing.StaffInput(**self.cleaned_data)


class StaffFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    role = forms.ChoiceField(label=_("Role"), required=False, choices=[("", _("All roles")), *queries.Roles.choices])
    active = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All")), ("1", _("Active")), ("0", _("Left"))])


class StoreFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    state = forms.ChoiceField(label=_("Opening state"), required=False,
                              choices=[("", _("All")), *queries.OpeningStates.choices])


class LeftForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class PasswordForm(forms.Form):
    username = forms.CharField(label=_("Sign-in name"), max_length=150)
    password = forms.CharField(label=_("New password"), max_length=256, widget=forms.PasswordInput)


class SheetForm(forms.Form):
    file = forms.FileField(label=_("Organisation sheet (.xlsx or .csv)"))
