"""The store-design editor's form: the component list as posted fields (`c<i>-<field>`, banner slides as
`c<i>-slide<j>-<field>`), turned into a page document and back, and the document's problems (JSON paths) put back
on the component and field that caused them. Products and coupons are chosen with the console's searchable pickers
(the coupon picker kind is registered here, by the app that shows coupons to customers)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.console import pickers
from siyu.promotions import queries as promotion_queries
from siyu.storefront.page_schema import Problem

pickers.register("coupon_templates", pickers.Source(
    rows=lambda scope: promotion_queries.coupon_templates(scope).filter(is_active=True).order_by("-id"),
    search=lambda text: Q(name__icontains=text),
    label=lambda template: template.name,
    placeholder=_("Search coupons by name"),
))

MAX_SLIDES = 6
TYPE_LABELS = {
    "banner": _("Banner carousel"),
    "product_grid": _("Product grid"),
    "coupon_strip": _("Coupon strip"),
    "notice": _("Notice bar"),
    "image_link": _("Image with link"),
    "spacer": _("Spacer"),
    "rich_text": _("Text"),
    "category_nav": _("Category navigation"),
    "flash_sale": _("Flash-sale countdown"),
    "group_buy": _("Group-buy block"),
    "hotzone": _("Image hot-zones"),
    "store_selector": _("Store selector"),
}
# The plain fields of each component type (pickers and slides are handled on their own).
TEXT_FIELDS = {
    "banner": (),
    "product_grid": ("title", "source", "category_id", "limit"),
    "coupon_strip": ("title",),
    "notice": ("text", "link"),
    "image_link": ("image_url", "link", "alt"),
    "spacer": ("height",),
    "rich_text": ("heading", "text"),
    "category_nav": ("title",),
    "flash_sale": ("title", "flash_sale_id", "limit"),
    "group_buy": ("title",),
    "hotzone": ("image_url", "alt"),
    "store_selector": ("title",),
}
NUMBER_FIELDS = {"category_id", "limit", "height", "flash_sale_id"}
LISTED = {"category_nav": "category_ids", "group_buy": "group_buy_ids"}  # plain multiple selects
MAX_ZONES = 8
ZONE_FIELDS = ("x", "y", "w", "h", "link", "label")
PICKED = {"product_grid": ("product_ids", "products"), "coupon_strip": ("template_ids", "coupon_templates")}
DEFAULTS: dict[str, dict[str, Any]] = {
    "banner": {"slides": []},
    "product_grid": {"title": "", "source": "products", "product_ids": [], "category_id": None, "limit": 6},
    "coupon_strip": {"title": "", "template_ids": []},
    "notice": {"text": "", "link": ""},
    "image_link": {"image_url": "", "link": "", "alt": ""},
    "spacer": {"height": 16},
    "rich_text": {"heading": "", "text": ""},
    "category_nav": {"title": "", "category_ids": []},
    "flash_sale": {"title": "", "flash_sale_id": None, "limit": 4},
    "group_buy": {"title": "", "group_buy_ids": []},
    "hotzone": {"image_url": "", "alt": "", "zones": []},
    "store_selector": {"title": ""},
}
_PATH = re.compile(r"^components\[(?P<i>\d+)\](?:\.(?P<field>\w+)(?:\[(?P<j>\d+)\](?:\.(?P<sub>\w+))?)?)?$")


def _number(text: str) -> int | str | None:
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 9 else text  # not a number: the schema names the field


def _ids(values: Sequence[str]) -> list[int | str]:
    return [int(v) if v.isdigit() and len(v) <= 12 else v for v in (s.strip() for s in values) if v]


def _slides(data: Any, i: int) -> list[dict[str, str]]:
    slides = []
    for j in range(MAX_SLIDES + 1):
        row = {name: data.get(f"c{i}-slide{j}-{name}", "") for name in ("image_url", "link", "alt")}
        if row["image_url"].strip() or row["link"].strip():
            slides.append(row)
    return slides


def _percent(text: str) -> float | str:
    text = text.strip()
    try:
        return float(text) if len(text) <= 8 else text
    except ValueError:
        return text  # not a number: the schema names the field


def _zones(data: Any, i: int) -> list[dict[str, Any]]:
    zones = []
    for j in range(MAX_ZONES + 1):
        row: dict[str, Any] = {name: data.get(f"c{i}-zone{j}-{name}", "") for name in ZONE_FIELDS}
        if any(str(v).strip() for v in row.values()):
            zones.append({k: (_percent(v) if k in ("x", "y", "w", "h") else v) for k, v in row.items()})
    return zones


def component_from_post(data: Any, i: int) -> dict[str, Any]:
    kind = data.get(f"c{i}-type", "")
    part: dict[str, Any] = {"type": kind}
    for name in TEXT_FIELDS.get(kind, ()):
        raw = data.get(f"c{i}-{name}", "")
        part[name] = _number(raw) if name in NUMBER_FIELDS else raw
        if part[name] is None and name != "category_id":
            part.pop(name)  # the schema's default
    if kind == "banner":
        part["slides"] = _slides(data, i)
    if kind == "hotzone":
        part["zones"] = _zones(data, i)
    if kind in LISTED:
        part[LISTED[kind]] = _ids(data.getlist(f"c{i}-{LISTED[kind]}"))
    if kind in PICKED:
        name = PICKED[kind][0]
        part[name] = _ids(data.getlist(f"c{i}-{name}"))
    return part


def document_from_post(data: Any) -> dict[str, Any]:
    count = int(data.get("count", "0")) if data.get("count", "0").isdigit() else 0
    return {"schema": 1, "title": data.get("title", ""),
            "components": [component_from_post(data, i) for i in range(min(count, 60))]}


def new_component(kind: str) -> dict[str, Any] | None:
    return {"type": kind, **DEFAULTS[kind]} if kind in DEFAULTS else None


def _labelled(scope: Any, kind: str, ids: Sequence[int]) -> list[tuple[int, str]]:
    return pickers.labelled(scope, kind, ids)


@dataclass
class Editor:
    """One component as the editor shows it: its values, its pickers, and its problems by field."""

    index: int
    part: dict[str, Any]
    label: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    slides: list[dict[str, Any]] = field(default_factory=list)
    zones: list[dict[str, Any]] = field(default_factory=list)
    picker: str = ""


def editors(scope: Any, document: dict[str, Any], problems: Sequence[Problem] = ()) -> tuple[list[Editor],
                                                                                            list[str]]:
    """The editor rows for a document, and the problems that belong to no one component."""
    parts = document.get("components", [])
    rows = [Editor(index=i, part=part, label=str(TYPE_LABELS.get(part.get("type", ""), part.get("type", ""))))
            for i, part in enumerate(parts)]
    general: list[str] = []
    for problem in problems:
        match = _PATH.match(problem.path)
        if match is None or int(match["i"]) >= len(rows):
            general.append(f"{problem.path}: {problem.message}")
            continue
        name = match["field"] or "type"
        if name in ("slides", "zones") and match["j"] is not None:
            name = f"{name[:-1]}{match['j']}-{match['sub'] or ('image_url' if name == 'slides' else 'link')}"
        rows[int(match["i"])].errors.setdefault(name, []).append(problem.message)
    for row in rows:
        kind = row.part.get("type")
        if kind == "banner":
            slides = list(row.part.get("slides", []))
            row.slides = [{"j": j, **s} for j, s in enumerate(slides + [{}] * (MAX_SLIDES - len(slides)))][
                :max(len(slides) + 1, 2)]
        if kind == "hotzone":
            zones = list(row.part.get("zones", []))
            row.zones = [{"j": j, **z} for j, z in enumerate(zones + [{}] * (MAX_ZONES - len(zones)))][
                :max(len(zones) + 1, 2)]
        if kind in PICKED:
            name, picker_kind = PICKED[kind]
            widget = pickers.PickerWidget(kind=picker_kind, multiple=True, labeller=functools.partial(
                _labelled, scope, picker_kind))
            chosen = [str(v) for v in row.part.get(name, [])]
            row.picker = widget.render(f"c{row.index}-{name}", chosen, attrs={"id": f"c{row.index}-{name}"})
    return rows, general
