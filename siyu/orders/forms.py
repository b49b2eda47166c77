"""Console forms for the orders pages. Choices come from queries (scoped), so a form names only what its user sees."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.forms import set_choices
from siyu.orders import queries
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

Choices = list[tuple[Any, Any]]


def _with_blank(blank: Any, choices: Choices) -> Choices:
    return [("", blank), *choices]


class OrderFilterForm(forms.Form):
    q = forms.CharField(label=_("Order number"), required=False, max_length=64,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Ours or the platform's")}))
    customer = forms.CharField(label=_("Customer"), required=False, max_length=64,
                               widget=forms.TextInput(attrs={"placeholder": _("ID, phone or name")}))
    status = forms.ChoiceField(label=_("Status"), required=False)
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    source = forms.ChoiceField(label=_("Source"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, scope: Scope, data: Any = None) -> None:
        super().__init__(data)
        self._choices("status", _("All statuses"), queries.status_choices())
        self._choices("store", _("All stores"), [(s.pk, s.name) for s in org_queries.stores(scope).order_by("code")])
        self._choices("source", _("All sources"), queries.source_choices())

    def _choices(self, name: str, blank: Any, choices: Choices) -> None:
        set_choices(self, name, _with_blank(blank, choices))

    def to_filter(self) -> queries.OrderFilter:
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        return queries.OrderFilter(
            status=data.get("status") or "", store_id=data.get("store"), date_from=data.get("date_from"),
            date_to=data.get("date_to"), customer=data.get("customer") or "", source=data.get("source") or "",
            q=data.get("q") or "",
        )


class ShipForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), required=False, max_length=32)
    tracking_no = forms.CharField(label=_("Tracking number"), required=False, max_length=64)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Why"), max_length=200)


class ImportForm(forms.Form):
    platform = forms.ChoiceField(label=_("Platform"))
    file = forms.FileField(label=_("Order export (CSV)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["platform"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = queries.platform_choices()
