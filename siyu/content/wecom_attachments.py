"""The material library as an attachment source for WeCom (siyu.channels.wecom.attachment_sources): group welcome
templates and group SOP messages pick a material instead of typing its fields.

An image or poster becomes an image kept by WeCom for good (media/uploadimg: `pic_url`), a link a link card (its cover
uploaded the same way), a mini-program card a card whose cover is temporary media (`pic_media_id`, the only form the
platform takes there, which lapses after 3 days). Text, video and file materials cannot be these attachments.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import jssdk
from siyu.content import queries
from siyu.content.models import Material, MaterialKind
from siyu.core.errors import ValidationFailed
from siyu.org.scope import Scope

KINDS = (MaterialKind.IMAGE, MaterialKind.POSTER, MaterialKind.LINK, MaterialKind.MINIPROGRAM)
IMAGE_TYPES = ("image/jpeg", "image/png")


def _cut(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8, never splitting a character."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def _content(material: Material) -> bytes:
    with default_storage.open(material.file, "rb") as fh:
        return fh.read()


def _image_url(material: Material, account: ChannelAccount) -> str:
    if not material.file or material.content_type not in IMAGE_TYPES:
        raise ValidationFailed(_("the material needs a JPG or PNG image"), field="material_id", code="material_file")
    return jssdk.permanent_image(account, digest=material.sha256, filename=material.file_name or "image",
                                 content=_content(material), content_type=material.content_type)


class MaterialSource:
    def choices(self, scope: Scope) -> list[tuple[int, str]]:
        rows = queries.materials(scope).filter(kind__in=KINDS).order_by("-id")[:500]
        return [(m.pk, f"{m.get_kind_display()} · {m.title}") for m in rows]

    def resolve(self, scope: Scope, item_id: int, *, account: ChannelAccount) -> dict[str, Any]:
        material = queries.get_material(scope, item_id)
        kind = MaterialKind(material.kind)
        if kind in (MaterialKind.IMAGE, MaterialKind.POSTER):
            return {"msgtype": "image", "image": {"pic_url": _image_url(material, account)}}
        if kind == MaterialKind.LINK and material.url:
            link = {"title": _cut(material.title, 128), "url": material.url, "desc": _cut(material.text, 512)}
            if material.file and material.content_type in IMAGE_TYPES:
                link["picurl"] = _image_url(material, account)
            return {"msgtype": "link", "link": link}
        if kind == MaterialKind.MINIPROGRAM and material.mp_appid and material.mp_page:
            if not material.file:
                raise ValidationFailed(_("a mini-program card material needs a cover image"), field="material_id",
                                       code="material_file")
            media = jssdk.temp_media(account, digest=material.sha256, kind="image",
                                     filename=material.file_name or "cover", content=_content(material),
                                     content_type=material.content_type)
            return {"msgtype": "miniprogram", "miniprogram": {
                "title": _cut(material.title, 64), "pic_media_id": media, "appid": material.mp_appid,
                "page": material.mp_page}}
        raise ValidationFailed(_("this material cannot be a WeCom attachment (an image, poster, link or card can)"),
                               field="material_id", code="material_kind")
