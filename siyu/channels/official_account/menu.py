"""Custom-menu validation, before anything is pushed to the platform.

Limits (platform doc, `/cgi-bin/menu/create`): 1-3 top buttons, 1-5 sub-buttons each; names at most 16 bytes at the
top and 60 bytes in a sub-menu (UTF-8, so 5 and 20 Chinese characters); key at most 128 bytes; url at most 1024 bytes.
Siyu's editor offers the click, view and miniprogram types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import ValidationFailed

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
TYPES = ("click", "view", "miniprogram")


def _bytes(value: str) -> int:
    return len(value.encode("utf-8"))


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _check_url(value: str, where: str, index: int) -> None:
    if not value:
        raise ValidationFailed(_("url is required"), field=f"{where}.url", index=index, code="url_required")
    if _bytes(value) > URL_BYTES:
        raise ValidationFailed(
            _("url is at most %(URL_BYTES)s bytes") % {"URL_BYTES": URL_BYTES},
            field=f"{where}.url", index=index,
            code="url_length",
        )
    if not value.startswith(("http://", "https://")):
        raise ValidationFailed(_("url must start with http:// or https://"), field=f"{where}.url", index=index,
                               code="url_format")


def _leaf(item: Mapping[str, Any], where: str, index: int) -> dict[str, str]:
    kind = _text(item, "type")
    if kind not in TYPES:
        raise ValidationFailed(
            _("type must be one of %(join)s") % {"join": ', '.join(TYPES)},
            field=f"{where}.type", index=index,
            code="unknown_type",
        )
    clean = {"type": kind, "name": _text(item, "name")}
    if kind == "click":
        key = _text(item, "key")
        if not key:
            raise ValidationFailed(_("key is required for a click button"), field=f"{where}.key", index=index,
                                   code="key_required")
        if _bytes(key) > KEY_BYTES:
            raise ValidationFailed(
                _("key is at most %(KEY_BYTES)s bytes") % {"KEY_BYTES": KEY_BYTES},
                field=f"{where}.key", index=index,
                code="key_length",
            )
        clean["key"] = key
        return clean
    url = _text(item, "url")
    _check_url(url, where, index)
    clean["url"] = url
    if kind == "miniprogram":
        for name in ("appid", "pagepath"):
            value = _text(item, name)
            if not value or _bytes(value) > URL_BYTES:
                raise ValidationFailed(
                    _("%(name)s is required for a mini-program button") % {"name": name},
                    field=f"{where}.{name}", index=index,
                    code="miniprogram_field_required",
                )
            clean[name] = value
    return clean


def _name(item: Mapping[str, Any], where: str, index: int, limit: int) -> str:
    name = _text(item, "name")
    if not name:
        raise ValidationFailed(_("name is required"), field=f"{where}.name", index=index, code="name_required")
    if _bytes(name) > limit:
        raise ValidationFailed(
            _("name is %(bytes)s bytes; at most %(limit)s bytes here") % {"bytes": _bytes(name), "limit": limit},
            field=f"{where}.name", index=index,
            code="name_length",
        )
    return name


def _top(item: Any, index: int) -> dict[str, Any]:
    where = f"button[{index}]"
    if not isinstance(item, Mapping):
        raise ValidationFailed(_("each button is an object"), field=where, index=index, code="button_format")
    name = _name(item, where, index, TOP_NAME_BYTES)
    subs = item.get("sub_button")
    if subs is None or subs == []:
        if subs == [] and not item.get("type"):
            raise ValidationFailed(_("a sub-menu needs 1-5 sub-buttons"), field=f"{where}.sub_button", index=index,
                                   code="sub_menu_range")
        return {**_leaf(item, where, index), "name": name}
    if not isinstance(subs, Sequence) or isinstance(subs, str | bytes):
        raise ValidationFailed(_("sub_button is a list"), field=f"{where}.sub_button", index=index,
                               code="sub_buttons_not_list")
    if not 1 <= len(subs) <= MAX_SUB_BUTTONS:
        raise ValidationFailed(
            _("a sub-menu has 1-%(MAX_SUB_BUTTONS)s sub-buttons, not %(len)s")
            % {"MAX_SUB_BUTTONS": MAX_SUB_BUTTONS, "len": len(subs)},
            field=f"{where}.sub_button", index=index,
            code="sub_buttons_count",
        )
    clean_subs = []
    for sub_index, sub in enumerate(subs):
        sub_where = f"{where}.sub_button[{sub_index}]"
        if not isinstance(sub, Mapping):
            raise ValidationFailed(_("each sub-button is an object"), field=sub_where, index=index,
                                   code="sub_button_format")
        sub_name = _name(sub, sub_where, index, SUB_NAME_BYTES)
        clean_subs.append({**_leaf(sub, sub_where, index), "name": sub_name})
    return {"name": name, "sub_button": clean_subs}


def validate_menu(buttons: Any) -> list[dict[str, Any]]:
    """Return the menu as the platform expects it, or raise ValidationFailed naming the first bad field."""
    if not isinstance(buttons, Sequence) or isinstance(buttons, str | bytes):
        raise ValidationFailed(_("button is a list"), field="button", code="buttons_not_list")
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValidationFailed(
            _("a menu has 1-%(MAX_BUTTONS)s top buttons, not %(len)s")
            % {"MAX_BUTTONS": MAX_BUTTONS, "len": len(buttons)},
            field="button",
            code="buttons_count",
        )
    return [_top(item, index) for index, item in enumerate(buttons)]


def click_keys(buttons: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = []
    for top in buttons:
        for item in top.get("sub_button", [top]):
            if item.get("type") == "click":
                keys.append(str(item["key"]))
    return keys
