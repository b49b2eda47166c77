"""Console forms for promotions. Amounts in yuan are text parsed with `parse_yuan` (YuanField); times are entered
in the console's time zone (Asia/Shanghai) and stored aware."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.catalog import queries as catalog_queries
from siyu.catalog.forms import YuanField, yuan_text
from siyu.console.pickers import PickerField
from siyu.core.money import parse_yuan
from siyu.org.scope import Scope
from siyu.promotions import queries, services


def _when(label: Any, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, required=required, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))


def _set(form: forms.Form, name: str, choices: list[tuple[Any, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _targets(form: forms.Form, scope: Scope) -> None:
    _set(form, "scope", queries.scope_choices())
    # a catalog runs to thousands of products: a searchable picker, checked against the same scoped rows
    form.fields["products"] = PickerField(scope=scope, kind="products", label=_("Products"), required=False)
    cats: list[tuple[Any, Any]] = []
    for root in catalog_queries.category_tree(scope):
        cats.append((root.category.pk, root.category.name))
        cats.extend((c.category.pk, f"{root.category.name} / {c.category.name}") for c in root.children)
    _set(form, "categories", cats)


def _target_fields() -> dict[str, forms.Field]:
    return {
        "scope": forms.ChoiceField(label=_("Applies to")),
        "categories": forms.TypedMultipleChoiceField(label=_("Categories"), required=False, coerce=int,
                                                     widget=forms.SelectMultiple(attrs={"size": 5})),
    }


# ---------------------------------------------------------------------------------------------------------------
# Coupon templates


_DISCOUNT = re.compile(r"^(\d{1,2}(?:\.\d+)?)\s*(%|％|折)?$")


class DiscountField(forms.CharField):
    """A percentage off, written as Chinese shoppers read it or as a percentage: "15", "15%" and "8.5折" (also the
    spoken "85折") are all 15% off. Cleans to the whole percent off (1-99)."""

    default_error_messages = {"invalid": _("Write a percentage off (15 or 15%) or a discount (8.5折).")}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "maxlength": "8", "placeholder": _("15% or 8.5折")})

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = str(super().to_python(value)).strip()
        if not text:
            return None
        found = _DISCOUNT.match(text)
        if not found:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        number, unit = Decimal(found.group(1)), found.group(2)
        if unit == "折":
            tenths = number * 10 if number <= 10 else number  # 8.5折 and the spoken 85折 (10折 is no discount)
            off = 100 - tenths
        else:
            off = number
        if off != off.to_integral_value() or not 1 <= off <= 99:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(off)


def percent_initial(percent_off: int | None) -> str | int | None:
    """The stored percent shown as 折 to a Chinese reader (15 -> 8.5折), as a number otherwise."""
    if not percent_off:
        return None
    return f"{queries.zhe(percent_off)}折" if (translation.get_language() or "").startswith("zh") else percent_off


class CouponTemplateForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    kind = forms.ChoiceField(label=_("Kind"))
    amount_off = YuanField(label=_("Amount off (¥)"), required=False)
    percent_off = DiscountField(label=_("Percent off (15 = 15% off)"), required=False)
    max_off = YuanField(label=_("Cap (¥, percent coupons)"), required=False)
    threshold = YuanField(label=_("Minimum spend (¥)"), required=False)
    validity_kind = forms.ChoiceField(label=_("Validity"))
    valid_days = forms.IntegerField(label=_("Days after issue"), required=False, min_value=1)
    valid_from = _when(_("Valid from"), required=False)
    valid_until = _when(_("Valid until"), required=False)
    per_customer_limit = forms.IntegerField(label=_("Per customer"), min_value=1, initial=1)
    total_stock = forms.IntegerField(label=_("Total stock (empty: unlimited)"), required=False, min_value=1)
    claimable = forms.BooleanField(label=_("Customers may claim it"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    description = forms.CharField(label=_("Description"), required=False, max_length=255)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_target_fields())
        _targets(self, scope)
        _set(self, "kind", queries.coupon_kind_choices())
        _set(self, "validity_kind", queries.validity_choices())

    def to_input(self) -> services.CouponTemplateInput:
        d = self.cleaned_data
        return services.CouponTemplateInput(
            name=d["name"], kind=d["kind"], amount_off=d.get("amount_off"), percent_off=d.get("percent_off") or 0,
            max_off=d.get("max_off"), threshold=d.get("threshold"), scope=d["scope"],
            product_ids=d.get("products") or [], category_ids=d.get("categories") or [],
            validity_kind=d["validity_kind"], valid_from=d.get("valid_from"), valid_until=d.get("valid_until"),
            valid_days=d.get("valid_days"), per_customer_limit=d["per_customer_limit"],
            total_stock=d.get("total_stock"), claimable=bool(d.get("claimable")), is_active=bool(d.get("is_active")),
            description=d.get("description") or "",
        )


def template_initial(t: Any) -> dict[str, Any]:
    return {
        "name": t.name, "kind": t.kind, "amount_off": yuan_text(t.amount_off_fen) if t.amount_off_fen else "",
        "percent_off": percent_initial(t.percent_off), "max_off": yuan_text(t.max_off_fen),
        "threshold": yuan_text(t.threshold_fen) if t.threshold_fen else "", "scope": t.scope,
        "products": [p.pk for p in t.products.all()], "categories": [c.pk for c in t.categories.all()],
        "validity_kind": t.validity_kind, "valid_days": t.valid_days, "valid_from": t.valid_from,
        "valid_until": t.valid_until, "per_customer_limit": t.per_customer_limit, "total_stock": t.total_stock,
        "claimable": t.claimable, "is_active": t.is_active, "description": t.description,
    }


class IssueForm(forms.Form):
    """The idempotency key is made when the form is shown: submitting twice issues one coupon."""

    customer_id = forms.IntegerField(label=_("Customer id"), min_value=1)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=128)

    @staticmethod
    def fresh_key() -> str:
        return f"console:{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------------------------------
# Full-reductions


class FullReductionForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    threshold_kind = forms.ChoiceField(label=_("Threshold"))
    benefit_kind = forms.ChoiceField(label=_("Benefit"))
    starts_at = _when(_("Starts"))
    ends_at = _when(_("Ends"))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_target_fields())
        _targets(self, scope)
        _set(self, "threshold_kind", queries.threshold_kind_choices())
        _set(self, "benefit_kind", queries.benefit_kind_choices())


class TierForm(forms.Form):
    threshold = forms.CharField(label=_("From (¥ or pieces)"), max_length=16)
    value = forms.CharField(label=_("Off (¥ or %)"), max_length=16)


TierFormSet = forms.formset_factory(TierForm, extra=3)


def _tier_number(text: str, as_money: bool) -> int:
    if as_money:
        return _yuan_fen(text)
    if not text.strip().isdigit():
        raise forms.ValidationError(_("Enter a whole number"))
    return int(text.strip())


def _yuan_fen(text: str) -> int:
    try:
        return parse_yuan(text).fen
    except ValueError as exc:
        raise forms.ValidationError(_("Enter an amount in yuan, e.g. 19.90")) from exc


def tiers_from(form: FullReductionForm, rows: list[TierForm]) -> list[tuple[int, int]] | None:
    """Read tier rows as fen or pieces / fen or percent, by the chosen kinds; row errors go on the row."""
    money_threshold = form.cleaned_data.get("threshold_kind") == "amount"
    money_value = form.cleaned_data.get("benefit_kind") == "amount"
    tiers = []
    ok = True
    for row in rows:
        try:
            tiers.append((_tier_number(row.cleaned_data["threshold"], money_threshold),
                          _tier_number(row.cleaned_data["value"], money_value)))
        except forms.ValidationError as exc:
            row.add_error(None, exc)
            ok = False
    return tiers if ok else None


def reduction_input(form: FullReductionForm, tiers: list[tuple[int, int]]) -> services.FullReductionInput:
    d = form.cleaned_data
    return services.FullReductionInput(
        name=d["name"], tiers=tiers, threshold_kind=d["threshold_kind"], benefit_kind=d["benefit_kind"],
        scope=d["scope"], product_ids=d.get("products") or [], category_ids=d.get("categories") or [],
        starts_at=d["starts_at"], ends_at=d["ends_at"], is_active=bool(d.get("is_active")),
    )


def reduction_initial(r: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    initial = {"name": r.name, "threshold_kind": r.threshold_kind, "benefit_kind": r.benefit_kind, "scope": r.scope,
               "products": [p.pk for p in r.products.all()], "categories": [c.pk for c in r.categories.all()],
               "starts_at": r.starts_at, "ends_at": r.ends_at, "is_active": r.is_active}
    rows = [{"threshold": yuan_text(t) if r.threshold_kind == "amount" else str(t),
             "value": yuan_text(v) if r.benefit_kind == "amount" else str(v)} for t, v in r.tiers]
    return initial, rows


# ---------------------------------------------------------------------------------------------------------------
# Flash sales and group buys


class FlashSaleForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    starts_at = _when(_("Starts"))
    ends_at = _when(_("Ends"))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    allow_oversell = forms.BooleanField(
        label=_("Allow flash stock above the SKU's stock (oversell)"), required=False,
        help_text=_("Leave it off unless more stock is on its way: a flash item may promise at most what is in stock."))


class FlashItemForm(forms.Form):
    flash_price = YuanField(label=_("Flash price (¥)"))
    flash_stock = forms.IntegerField(label=_("Flash stock"), min_value=1)
    per_customer_limit = forms.IntegerField(label=_("Per customer"), min_value=1, initial=1)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"] = PickerField(scope=scope, kind="skus", multiple=False, label=_("SKU"))
        self.order_fields(["sku", "flash_price", "flash_stock", "per_customer_limit"])


def flash_input(form: FlashSaleForm, rows: list[FlashItemForm]) -> services.FlashSaleInput:
    d = form.cleaned_data
    return services.FlashSaleInput(
        name=d["name"], starts_at=d["starts_at"], ends_at=d["ends_at"], is_active=bool(d.get("is_active")),
        allow_oversell=bool(d.get("allow_oversell")),
        items=[services.FlashItemInput(sku_id=r.cleaned_data["sku"], flash_price=r.cleaned_data["flash_price"],
                                       flash_stock=r.cleaned_data["flash_stock"],
                                       per_customer_limit=r.cleaned_data["per_customer_limit"]) for r in rows],
    )


class GroupBuyForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    group_price = YuanField(label=_("Group price (¥)"))
    group_size = forms.IntegerField(label=_("People per team"), min_value=2, max_value=100, initial=2)
    hours = forms.IntegerField(label=_("Hours to fill a team"), min_value=1, max_value=720, initial=24)
    starts_at = _when(_("Starts"))
    ends_at = _when(_("Ends"))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"] = PickerField(scope=scope, kind="skus", multiple=False, label=_("SKU"))
        self.order_fields(["name", "sku"])

    def to_input(self) -> services.GroupBuyInput:
        d = self.cleaned_data
        return services.GroupBuyInput(name=d["name"], sku_id=d["sku"], group_price=d["group_price"],
                                      group_size=d["group_size"], hours=d["hours"], starts_at=d["starts_at"],
                                      ends_at=d["ends_at"], is_active=bool(d.get("is_active")))


class ShippingForm(forms.Form):
    free_over = YuanField(label=_("Free shipping from (¥, empty: never)"), required=False)
    fee = YuanField(label=_("Otherwise a fee of (¥)"))


class TagIssueForm(forms.Form):
    """Issue a coupon to every customer with these tags; the batch key is made when the form is shown."""

    match = forms.ChoiceField(label=_("Customers with"), initial="all", choices=(
        ("all", _("All of these tags")), ("any", _("Any of these tags"))))
    batch_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, scope: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tags"] = PickerField(scope=scope, kind="tags", label=_("Tags"))
        self.order_fields(["tags", "match", "batch_key"])
