"""Searchable, paged pickers (staff, stores, tags, products, SKUs): one console widget for lists that run to thousands.
Kinds whose rows belong to an app above the console (products and SKUs from the catalog, group codes from WeCom) are
registered by that app's forms module (`register`), so the console imports none of them.

A picker is a search box that loads a page of matches from `/pick/<kind>/` (htmx), the chosen items as removable
chips and, for each chip, a hidden input named after the form field. What a picker offers and what its field accepts
come from the same scoped query, so a posted id the acting staff may not see is refused like a bad choice."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.core.pagination import Page, paginate
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

PICK_PAGE_SIZE = 20


@dataclass(frozen=True)
class Source:
    """What one kind of picker lists: the scoped rows, how text narrows them and how one row reads."""

    rows: Callable[[Scope], QuerySet[Any]]
    search: Callable[[str], Q]
    label: Callable[[Any], str]
    placeholder: Any


def _staff_label(member: Any) -> str:
    return f"{member.name} · {member.store.name if member.store else _('HQ')}"


def _staff_rows(scope: Scope) -> QuerySet[Any]:
    return org_queries.staff(scope).filter(is_active=True).order_by("store__code", "name", "id")


SOURCES: dict[str, Source] = {
    "staff": Source(
        rows=_staff_rows,
        search=lambda text: Q(name__icontains=text) | Q(wecom_userid__icontains=text) | Q(store__name__icontains=text),
        label=_staff_label,
        placeholder=_("Search staff by name, WeCom id or store"),
    ),
    # Staff who can be put on a WeCom channel code or send: those with a WeCom account.
    "wecom_staff": Source(
        rows=lambda scope: _staff_rows(scope).exclude(wecom_userid=""),
        search=lambda text: Q(name__icontains=text) | Q(wecom_userid__icontains=text) | Q(store__name__icontains=text),
        label=_staff_label,
        placeholder=_("Search staff by name, WeCom id or store"),
    ),
    "stores": Source(
        rows=lambda scope: org_queries.stores(scope).order_by("code", "id"),
        search=lambda text: Q(name__icontains=text) | Q(code__icontains=text) | Q(region__name__icontains=text),
        label=lambda store: f"{store.name} · {store.code}",
        placeholder=_("Search stores by name, code or region"),
    ),
    "tags": Source(
        rows=customer_queries.tags,
        search=lambda text: Q(name__icontains=text) | Q(group__name__icontains=text),
        label=lambda tag: f"{tag.group.name} / {tag.name}",
        placeholder=_("Search tags or tag groups"),
    ),
}


def register(kind: str, src: Source) -> None:
    """An app whose rows the console cannot import (the console sits below the channel apps) adds its picker kind
    from its own console module; registering the same kind again replaces it (module reloads in tests)."""
    SOURCES[kind] = src


def source(kind: str) -> Source:
    if kind not in SOURCES:
        raise KeyError(kind)
    return SOURCES[kind]


def matches(scope: Scope, kind: str, text: str, *, page: int = 1) -> Page[Any]:
    """One page of the rows of `kind` this scope may see whose text matches."""
    src = source(kind)
    rows = src.rows(scope)
    text = text.strip()[:64]
    if text:
        rows = rows.filter(src.search(text))
    return paginate(rows, page=page, page_size=PICK_PAGE_SIZE)


def labelled(scope: Scope, kind: str, ids: Iterable[int]) -> list[tuple[int, str]]:
    """The (id, label) of the given ids this scope may see, in the order given (others are dropped)."""
    wanted = [int(i) for i in ids]
    if not wanted:
        return []
    src = source(kind)
    found = {row.pk: src.label(row) for row in src.rows(scope).filter(pk__in=wanted)}
    return [(pk, found[pk]) for pk in dict.fromkeys(wanted) if pk in found]


class PickerWidget(forms.Widget):
    template_name = "console/widgets/picker.html"

    def __init__(self, *, kind: str, multiple: bool, labeller: Callable[[Sequence[int]], list[tuple[int, str]]]):
        super().__init__()
        self.kind, self.multiple, self.labeller = kind, multiple, labeller

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if self.multiple:
            return data.getlist(name) if hasattr(data, "getlist") else data.get(name) or []
        return data.get(name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # an empty picker posts nothing, which means "none", not "unchanged"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        raw = value if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])
        ids = [int(v) for v in raw if str(v).isdigit()]
        context["picker"] = {
            "kind": self.kind,
            "multiple": self.multiple,
            "chosen": self.labeller(ids),
            "placeholder": source(self.kind).placeholder,
        }
        return context


class PickerField(forms.Field):
    """Ids chosen in a picker, checked against the scoped rows (one query, whatever the list's length)."""

    default_error_messages = {
        "invalid_choice": _("Some of the chosen items are not available to you: %(value)s."),
        "invalid": _("Choose from the list."),
    }

    def __init__(self, *, scope: Scope, kind: str, multiple: bool = True, **kwargs: Any) -> None:
        self.scope, self.kind, self.multiple = scope, kind, multiple
        kwargs.setdefault("widget", PickerWidget(kind=kind, multiple=multiple,
                                                 labeller=lambda ids: labelled(scope, kind, ids)))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[int] | int | None:
        raw = value if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])
        try:
            ids = list(dict.fromkeys(int(v) for v in raw if str(v).strip() != ""))
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not self.multiple:
            if len(ids) > 1:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            return ids[0] if ids else None
        return ids

    def validate(self, value: Any) -> None:
        super().validate(value)
        ids = value if isinstance(value, list) else ([] if value is None else [value])
        if not ids:
            return
        known = set(source(self.kind).rows(self.scope).filter(pk__in=ids).values_list("pk", flat=True))
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                        params={"value": ", ".join(missing)})
