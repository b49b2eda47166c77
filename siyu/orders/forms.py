"""Console forms for the orders pages. Choices come from queries (scoped), so a form names only what its user sees."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.catalog.forms import YuanField
from siyu.console.once import OnceForm
from siyu.console.pickers import PickerField
from siyu.core.forms import set_choices
from siyu.orders import queries
from siyu.orders.services.presale import PresaleInput
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


def _when(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                       format="%Y-%m-%dT%H:%M"))


class PresaleForm(OnceForm):
    """A presale (预售) of one SKU: the deposit window, then the balance window; times are Beijing time. Submitting the
    same form twice creates one presale."""

    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    price = YuanField(label=_("Presale price (¥)"))
    deposit = YuanField(label=_("Deposit (¥)"))
    deposit_starts_at = _when(_("Deposits from"))
    deposit_ends_at = _when(_("Deposits until"))
    balance_starts_at = _when(_("Balance from"))
    balance_ends_at = _when(_("Balance until"))
    per_customer_limit = forms.IntegerField(label=_("Units per customer"), min_value=1, max_value=1000, initial=5)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, scope: Scope, data: Any = None) -> None:
        super().__init__(data, initial={"is_active": True})
        self.fields["sku"] = PickerField(scope=scope, kind="skus", multiple=False, label=_("SKU"))
        self.order_fields(["name", "sku"])

    def to_input(self) -> PresaleInput:
        d = self.cleaned_data
        return PresaleInput(
            name=d["name"], sku_id=d["sku"], price_fen=d["price"].fen, deposit_fen=d["deposit"].fen,
            deposit_starts_at=d["deposit_starts_at"], deposit_ends_at=d["deposit_ends_at"],
            balance_starts_at=d["balance_starts_at"], balance_ends_at=d["balance_ends_at"],
            per_customer_limit=d["per_customer_limit"], is_active=bool(d.get("is_active")))


# What the presale service names a field, and the form's field that shows it.
PRESALE_ALIASES = {"sku_id": "sku", "price_fen": "price", "deposit_fen": "deposit"}
