"""The store-design document (店铺装修): a mall page is a list of components, validated against one schema (pydantic
models, exported as JSON Schema by `json_schema()`), so a broken page can be neither saved nor published.

    {"schema": 1, "title": "首页", "components": [
        {"type": "banner", "slides": [{"image_url": "https://…/a.jpg", "link": "/m/brand/products/7/", "alt": ""}]},
        {"type": "product_grid", "title": "热卖", "source": "products", "product_ids": [7, 9], "limit": 6},
        {"type": "coupon_strip", "title": "领券", "template_ids": [3]},
        {"type": "notice", "text": "满99包邮"}, {"type": "image_link", "image_url": "…", "link": "…"},
        {"type": "spacer", "height": 16}, {"type": "rich_text", "heading": "品牌故事", "text": "…"}]}

Errors come back with the JSON path of the value at fault (`components[2].product_ids[0]`). The ids a document names
(products, categories, coupon templates) are checked against the brand's rows by the design service, with the same
paths; this module knows nothing of the database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
MAX_COMPONENTS = 30
MAX_DOCUMENT_BYTES = 64 * 1024
COMPONENT_TYPES = ("banner", "product_grid", "coupon_strip", "notice", "image_link", "spacer", "rich_text",
                   "category_nav", "flash_sale", "group_buy", "hotzone", "store_selector")
MAX_ZONES = 8

# An image or a link is a path on this site or an https address: never javascript:, data: or a protocol-relative URL.
_URL = re.compile(r"^(?:/(?!/)[^\s\\]*|https://[^\s/\\]+(?:/[^\s\\]*)?)$")


def _check_url(value: str) -> str:
    value = value.strip()
    if value and not _URL.fullmatch(value):
        raise ValueError("bad_url")
    return value


# A hot-zone leads only to the mall's own pages (/m/<brand>/…; the design service checks the brand's code).
_MALL_PATH = re.compile(r"^/m/[A-Za-z0-9_-]+/[^\s\\]*$")


def _check_mall_path(value: str) -> str:
    value = value.strip()
    if not _MALL_PATH.fullmatch(value) or "//" in value or "/../" in value:
        raise ValueError("not_mall_path")
    return value


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Slide(_Part):
    image_url: str = Field(min_length=1, max_length=500)
    link: str = Field("", max_length=500)
    alt: str = Field("", max_length=60)

    _urls = field_validator("image_url", "link")(_check_url)


class Banner(_Part):
    type: Literal["banner"]
    slides: list[Slide] = Field(min_length=1, max_length=6)


class ProductGrid(_Part):
    type: Literal["product_grid"]
    title: str = Field("", max_length=40)
    source: Literal["products", "category", "best_sellers"] = "products"
    product_ids: list[int] = Field(default_factory=list, max_length=20)
    category_id: int | None = None
    limit: int = Field(6, ge=1, le=20)


class CouponStrip(_Part):
    type: Literal["coupon_strip"]
    title: str = Field("", max_length=40)
    template_ids: list[int] = Field(min_length=1, max_length=10)


class Notice(_Part):
    type: Literal["notice"]
    text: str = Field(min_length=1, max_length=120)
    link: str = Field("", max_length=500)

    _urls = field_validator("link")(_check_url)


class ImageLink(_Part):
    type: Literal["image_link"]
    image_url: str = Field(min_length=1, max_length=500)
    link: str = Field("", max_length=500)
    alt: str = Field("", max_length=60)

    _urls = field_validator("image_url", "link")(_check_url)


class Spacer(_Part):
    type: Literal["spacer"]
    height: int = Field(16, ge=4, le=80)


class RichText(_Part):
    """Paragraphs of plain text (rendered escaped, line breaks kept): no HTML is ever stored or served."""

    type: Literal["rich_text"]
    heading: str = Field("", max_length=40)
    text: str = Field(min_length=1, max_length=2000)


class CategoryNav(_Part):
    """Category shortcuts: the chosen categories in the chosen order, or (none chosen) the brand's top categories."""

    type: Literal["category_nav"]
    title: str = Field("", max_length=40)
    category_ids: list[int] = Field(default_factory=list, max_length=12)


class FlashSaleBlock(_Part):
    """A flash sale's items with a countdown to its end: the end is the sale's own, so the block names the sale."""

    type: Literal["flash_sale"]
    title: str = Field("", max_length=40)
    flash_sale_id: int
    limit: int = Field(4, ge=1, le=12)


class GroupBuyBlock(_Part):
    type: Literal["group_buy"]
    title: str = Field("", max_length=40)
    group_buy_ids: list[int] = Field(min_length=1, max_length=6)


class Zone(_Part):
    """A rectangle on the image in percent of its width and height (left, top, width, height), and where it leads."""

    x: float = Field(ge=0, le=100)
    y: float = Field(ge=0, le=100)
    w: float = Field(gt=0, le=100)
    h: float = Field(gt=0, le=100)
    link: str = Field(min_length=1, max_length=500)
    label: str = Field("", max_length=30)

    _link = field_validator("link")(_check_mall_path)

    @model_validator(mode="after")
    def _inside(self) -> Zone:
        if self.x + self.w > 100:
            raise PydanticCustomError("zone_outside", "zone_outside", {"field": "w"})
        if self.y + self.h > 100:
            raise PydanticCustomError("zone_outside", "zone_outside", {"field": "h"})
        return self


class HotZone(_Part):
    type: Literal["hotzone"]
    image_url: str = Field(min_length=1, max_length=500)
    alt: str = Field("", max_length=60)
    zones: list[Zone] = Field(min_length=1, max_length=MAX_ZONES)

    _urls = field_validator("image_url")(_check_url)


class StoreSelector(_Part):
    """A chooser of the brand's open stores: picking one shows that store's home page (?store=<code>)."""

    type: Literal["store_selector"]
    title: str = Field("", max_length=40)


Component = Annotated[Banner | ProductGrid | CouponStrip | Notice | ImageLink | Spacer | RichText | CategoryNav
                      | FlashSaleBlock | GroupBuyBlock | HotZone | StoreSelector, Field(discriminator="type")]


class PageDocument(_Part):
    schema_version: Literal[1] = Field(1, alias="schema")
    title: str = Field("", max_length=40)
    components: list[Component] = Field(max_length=MAX_COMPONENTS)

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    code: str = "invalid"


def json_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's location as a JSON path: ("components", 2, "product_grid", "product_ids", 0) →
    components[2].product_ids[0] (the union's tag, which pydantic puts in the location, is not part of the document)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "components" and isinstance(loc[i - 1], int) and part in COMPONENT_TYPES:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "document"


_PLAIN = {  # pydantic's error type → a message in the reader's language
    "missing": gettext_lazy("this field is required"),
    "extra_forbidden": gettext_lazy("this field is not part of the page schema"),
    "string_too_short": gettext_lazy("this must not be empty"),
    "too_short": gettext_lazy("this must not be empty"),
    "int_parsing": gettext_lazy("must be a whole number"),
    "int_type": gettext_lazy("must be a whole number"),
    "int_from_float": gettext_lazy("must be a whole number"),
    "literal_error": gettext_lazy("not one of the allowed values"),
}
_WITH_LIMIT = {
    "string_too_long": (gettext_lazy("at most %(n)s characters"), "max_length"),
    "too_long": (gettext_lazy("at most %(n)s items"), "max_length"),
    "greater_than_equal": (gettext_lazy("must be at least %(n)s"), "ge"),
    "greater_than": (gettext_lazy("must be more than %(n)s"), "gt"),
    "less_than_equal": (gettext_lazy("must be at most %(n)s"), "le"),
}


def _message(error: Any) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "value_error" and "bad_url" in str(error.get("msg", "")):
        return _("use a path on this site (/m/…) or an https:// address")
    if kind == "value_error" and "not_mall_path" in str(error.get("msg", "")):
        return _("a hot zone links only to this mall's own pages (/m/…)")
    if kind == "zone_outside":
        return _("the zone must stay inside the image (left + width and top + height at most 100)")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _("unknown component type; use one of: %(types)s") % {"types": ", ".join(COMPONENT_TYPES)}
    if kind in _PLAIN:
        return str(_PLAIN[kind])
    if kind in _WITH_LIMIT:
        message, key = _WITH_LIMIT[kind]
        return str(message) % {"n": ctx.get(key)}
    return str(error.get("msg", _("invalid value")))


def parse(document: Any) -> tuple[PageDocument | None, list[Problem]]:
    """The document, or the problems with it (each with its JSON path)."""
    if not isinstance(document, dict):
        return None, [Problem("document", _("a page is a JSON object"))]
    try:
        return PageDocument.model_validate(document), []
    except ValidationError as exc:
        return None, [Problem(_path_of(e), _message(e), _code(e)) for e in exc.errors()]


def _code(error: Any) -> str:
    """A name for the problem: the validator's own (bad_url, not_mall_path, zone_outside) or pydantic's type."""
    kind = str(error.get("type", "invalid"))
    if kind == "value_error":
        msg = str(error.get("msg", ""))
        return next((c for c in ("bad_url", "not_mall_path") if c in msg), "invalid")
    return {"missing": "required"}.get(kind, kind)


def _path_of(error: Any) -> str:
    """The JSON path; a zone outside its image names the field that overflows (…zones[0].w)."""
    loc = tuple(error["loc"])
    if error.get("type") == "zone_outside":
        loc = (*loc, (error.get("ctx") or {}).get("field", "w"))
    return json_path(loc)


def dump(page: PageDocument) -> dict[str, Any]:
    return page.model_dump(by_alias=True, mode="json")


def json_schema() -> dict[str, Any]:
    return PageDocument.model_json_schema(by_alias=True)


def empty() -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "title": "", "components": []}
