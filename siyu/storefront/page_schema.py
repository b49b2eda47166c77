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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1
MAX_COMPONENTS = 30
MAX_DOCUMENT_BYTES = 64 * 1024
COMPONENT_TYPES = ("banner", "product_grid", "coupon_strip", "notice", "image_link", "spacer", "rich_text")

# An image or a link is a path on this site or an https address: never javascript:, data: or a protocol-relative URL.
_URL = re.compile(r"^(?:/(?!/)[^\s\\]*|https://[^\s/\\]+(?:/[^\s\\]*)?)$")


def _check_url(value: str) -> str:
    value = value.strip()
    if value and not _URL.fullmatch(value):
        raise ValueError("bad_url")
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
    source: Literal["products", "category"] = "products"
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


Component = Annotated[Banner | ProductGrid | CouponStrip | Notice | ImageLink | Spacer | RichText,
                      Field(discriminator="type")]


class PageDocument(_Part):
    schema_version: Literal[1] = Field(1, alias="schema")
    title: str = Field("", max_length=40)
    components: list[Component] = Field(max_length=MAX_COMPONENTS)

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


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
    "less_than_equal": (gettext_lazy("must be at most %(n)s"), "le"),
}


def _message(error: Any) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "value_error" and "bad_url" in str(error.get("msg", "")):
        return _("use a path on this site (/m/…) or an https:// address")
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
        return None, [Problem(json_path(tuple(e["loc"])), _message(e)) for e in exc.errors()]


def dump(page: PageDocument) -> dict[str, Any]:
    return page.model_dump(by_alias=True, mode="json")


def json_schema() -> dict[str, Any]:
    return PageDocument.model_json_schema(by_alias=True)


def empty() -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "title": "", "components": []}
