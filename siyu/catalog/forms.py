"""Console forms for the catalog. Prices are typed in yuan as text and parsed with `parse_yuan` (never float);
the services do the business validation, and their field errors (e.g. `skus[1].member_price`) are put back on the
form row that caused them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.catalog import queries, services
from siyu.console import pickers
from siyu.console.pickers import PickerField
from siyu.core.errors import DomainError
from siyu.core.forms import set_choices
from siyu.core.money import Money, parse_yuan
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

# The catalog's picker kinds (product and SKU fields in the catalog and promotions editors): registered here, by the
# app that owns the rows, so the console never imports the catalog (the catalog's forms use the console's picker).
pickers.register("products", pickers.Source(
    rows=lambda scope: queries.products(scope).order_by("sort", "id"),
    search=lambda text: Q(name__icontains=text),
    label=lambda product: product.name,
    placeholder=_("Search products by name"),
))
pickers.register("skus", pickers.Source(
    rows=lambda scope: queries.skus(scope).filter(is_active=True).select_related("product").order_by(
        "product__sort", "product_id", "sort", "id"),
    search=lambda text: Q(code__icontains=text) | Q(product__name__icontains=text) | Q(spec_key__icontains=text),
    label=lambda sku: " · ".join(p for p in (sku.code, sku.product.name, " ".join(sku.specs.values())) if p),
    placeholder=_("Search products or SKU codes"),
))

_FIELD = re.compile(r"^(?P<group>\w+)\[(?P<index>\d+)\](?:\.(?P<name>\w+))?$")


class YuanField(forms.CharField):
    """An amount in yuan, typed as text ("12.5", "¥1,299.00"): cleaned to Money without going through float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.00",
                                                           "class": "money"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Money | None:
        text = super().clean(value)
        if not text:
            return None
        try:
            return parse_yuan(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Enter an amount in yuan, e.g. 19.90")) from exc


def yuan_text(fen: int | None) -> str:
    """Fen as the yuan text the editor shows ("19.90"); empty for None."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def parse_specs(text: str) -> dict[str, str]:
    """"颜色:红; 尺码:M" (full-width ：and ；also accepted) → {"颜色": "红", "尺码": "M"}."""
    specs: dict[str, str] = {}
    for part in re.split(r"[;；,，\n]", text or ""):
        if not part.strip():
            continue
        name, sep, value = part.replace("：", ":").partition(":")
        if not sep or not name.strip() or not value.strip():
            raise forms.ValidationError(_("Write specs as name:value; name:value (e.g. 颜色:红; 尺码:M)"))
        specs[name.strip()] = value.strip()
    return specs


def specs_text(specs: dict[str, str]) -> str:
    return "; ".join(f"{k}:{v}" for k, v in specs.items())


def apply_domain_error(form: forms.Form, exc: DomainError, groups: dict[str, Sequence[forms.Form]] | None = None,
                       aliases: dict[str, str] | None = None) -> None:
    """Put a service error on the field (or row field) it names; otherwise on the form as a whole."""
    where = exc.field or ""
    match = _FIELD.match(where)
    if match and groups and match["group"] in groups:
        rows = groups[match["group"]]
        index = int(match["index"])
        name = (aliases or {}).get(match["name"] or "", match["name"] or "")
        if index < len(rows):
            row = rows[index]
            row.add_error(name if name in row.fields else None, exc.message)
            return
    name = (aliases or {}).get(where, where)
    form.add_error(name if name in form.fields else None, exc.message)


# ---------------------------------------------------------------------------------------------------------------
# Products


class ProductFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=120,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name or SKU code")}))
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    role = forms.ChoiceField(label=_("Role"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)

    def __init__(self, scope: Scope, data: Any = None) -> None:
        super().__init__(data)
        cats: list[tuple[Any, Any]] = [("", _("All categories"))]
        for root in queries.category_tree(scope):
            cats.append((root.category.pk, root.category.name))
            cats.extend((c.category.pk, f"— {c.category.name}") for c in root.children)
        self._choices("category", cats)
        self._choices("role", [("", _("All roles")), *queries.role_choices()])
        self._choices("status", [("", _("Any status")), *queries.status_choices()])

    def _choices(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        set_choices(self, name, choices)

    def to_filter(self) -> queries.ProductFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return queries.ProductFilter(q=data.get("q") or "", category_id=data.get("category"),
                                     role=data.get("role") or "", status=data.get("status") or "")


class ProductForm(forms.Form):
    name = forms.CharField(label=_("Product name"), max_length=120)
    category = forms.TypedChoiceField(label=_("Category"), coerce=int)
    role = forms.ChoiceField(label=_("Role"))
    status = forms.ChoiceField(label=_("Status"))
    subtitle = forms.CharField(label=_("Subtitle"), max_length=200, required=False)
    selling_points = forms.CharField(label=_("Selling points"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 3}))
    images = forms.CharField(label=_("Images (one URL or /path per line)"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))
    all_stores = forms.BooleanField(label=_("Sold in all stores"), required=False, initial=True)
    stores = forms.TypedMultipleChoiceField(label=_("Stores"), required=False, coerce=int,
                                            widget=forms.SelectMultiple(attrs={"size": 4}))

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set("category", queries.leaf_choices(scope))
        self._set("role", queries.role_choices())
        self._set("status", queries.status_choices())
        self._set("stores", [(s.pk, s.name) for s in org_queries.stores(scope).order_by("code")])

    def _set(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        set_choices(self, name, choices)


class SkuRowForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    stock_seen = forms.IntegerField(required=False, widget=forms.HiddenInput)
    code = forms.CharField(label=_("SKU code"), max_length=64)
    specs = forms.CharField(label=_("Specs"), required=False, max_length=255,
                            widget=forms.TextInput(attrs={"placeholder": "颜色:红; 尺码:M"}))
    price = YuanField(label=_("Price (¥)"))
    member_price = YuanField(label=_("Member price (¥)"), required=False)
    stock = forms.IntegerField(label=_("Stock"), min_value=0, initial=0)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def clean_specs(self) -> dict[str, str]:
        return parse_specs(self.cleaned_data.get("specs") or "")

    def to_input(self) -> services.SkuInput:
        data = self.cleaned_data
        return services.SkuInput(
            id=data.get("id"), code=data["code"], specs=data["specs"], price=data["price"],
            member_price=data.get("member_price"), stock=data.get("stock") or 0, stock_seen=data.get("stock_seen"),
            is_active=bool(data.get("is_active")),
        )


SkuFormSet = forms.formset_factory(SkuRowForm, extra=0, can_delete=False)


def sku_initial(product: Any) -> list[dict[str, Any]]:
    return [
        {"id": sku.pk, "stock_seen": sku.stock, "code": sku.code, "specs": specs_text(sku.specs),
         "price": yuan_text(sku.price_fen), "member_price": yuan_text(sku.member_price_fen), "stock": sku.stock,
         "is_active": sku.is_active}
        for sku in product.skus.all()
    ]


def product_initial(product: Any) -> dict[str, Any]:
    return {
        "name": product.name, "category": product.category_id, "role": product.role, "status": product.status,
        "subtitle": product.subtitle, "selling_points": product.selling_points, "images": "\n".join(product.images),
        "all_stores": product.all_stores, "stores": queries.store_ids_of(product),
    }


def filled_rows(formset: Any) -> list[SkuRowForm]:
    """The rows the operator filled in (untouched blank rows are skipped)."""
    return [f for f in formset.forms if f.has_changed() or f.initial]


def product_input(form: ProductForm, rows: list[SkuRowForm]) -> services.ProductInput:
    data = form.cleaned_data
    images = [line.strip() for line in (data.get("images") or "").splitlines() if line.strip()]
    return services.ProductInput(
        name=data["name"], category_id=data["category"], role=data["role"], status=data["status"],
        subtitle=data.get("subtitle") or "", selling_points=data.get("selling_points") or "", images=images,
        all_stores=bool(data.get("all_stores")), store_ids=data.get("stores") or [],
        skus=[row.to_input() for row in rows],
    )


# ---------------------------------------------------------------------------------------------------------------
# Categories and bundles


class CategoryForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=64)
    parent = forms.TypedChoiceField(label=_("Under"), required=False, coerce=int, empty_value=None)

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["parent"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("(top level)"))] + [(n.category.pk, n.category.name)
                                                    for n in queries.category_tree(scope)]


class BundleForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("thing", "Name"), max_length=120)
    price = YuanField(label=_("Bundle price (¥)"))
    status = forms.ChoiceField(label=_("Status"))
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, scope: Scope, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["status"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = queries.status_choices()


class BundleItemForm(forms.Form):
    """One part of a bundle: a SKU picked from a search (the console's scoped picker; a catalog runs to thousands of
    SKUs), and how many pieces."""

    quantity = forms.IntegerField(label=_("Pieces"), min_value=1, max_value=99, initial=1)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"] = PickerField(scope=scope, kind="skus", multiple=False, label=_("SKU"), required=False)
        self.order_fields(["sku", "quantity"])


BundleItemFormSet = forms.formset_factory(BundleItemForm, extra=0)


def bundle_input(form: BundleForm, rows: list[BundleItemForm]) -> services.BundleInput:
    data = form.cleaned_data
    return services.BundleInput(
        name=data["name"], price=data["price"], status=data["status"], description=data.get("description") or "",
        items=[services.BundleItemInput(sku_id=r.cleaned_data["sku"], quantity=r.cleaned_data["quantity"])
               for r in rows],
    )
