"""What a calendar moment may carry, and the files that go to WeCom for it.

WeCom's moments take ≤9 images, or one video, or one link (title ≤64 bytes, url, a cover image), never mixed
(add_moment_task); the media are uploaded first with media/upload_attachment (attachment_type 1), whose own limits
are images JPG/PNG ≤10 MB and ≤1,555,200 pixels, videos MP4 ≤10 MB and ≤30 s. So a material is checked when the
plan is saved (each refusal names the attachment's index and a stable code), and an image that is too big or in
another format (GIF, WebP) is sent as a scaled JPEG copy made once per content digest; the material itself is never
changed. Mini-program cards, texts and files cannot go into a moment.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise
from PIL import Image

from siyu.content import links
from siyu.content.models import Material, MaterialKind
from siyu.core.errors import ValidationFailed

MOMENT_KINDS: dict[str, str] = {MaterialKind.IMAGE: "image", MaterialKind.POSTER: "image",
                                MaterialKind.VIDEO: "video", MaterialKind.LINK: "link"}
IMAGES_MAX = 9
IMAGE_PIXELS_MAX = 1_555_200
IMAGE_TYPES = ("image/jpeg", "image/png")
VIDEO_SECONDS_MAX = 30
LINK_TITLE_MAX_BYTES = 64
FIELD = "attachments"


def _refuse(message: str | StrPromise, index: int | None, code: str) -> ValidationFailed:
    return ValidationFailed(message, field=FIELD, index=index, code=code)


def check(enterprise_id: int, material_ids: Sequence[int]) -> list[Material]:
    """The materials, in order, when WeCom would take them together in one moment; a field error otherwise."""
    ids = list(material_ids)
    if len(ids) > IMAGES_MAX:
        raise _refuse(_("a moment carries at most 9 images"), None, "too_many_images")
    for index, material_id in enumerate(ids):
        if material_id in ids[:index]:
            raise _refuse(_("this material is attached twice"), index, "duplicate_attachment")
    found = {m.pk: m for m in Material.objects.filter(enterprise_id=enterprise_id, pk__in=ids)}
    materials = []
    for index, material_id in enumerate(ids):
        material = found.get(material_id)
        if material is None:  # another enterprise's material reads exactly like one that never existed
            raise _refuse(_("no material %(id)s") % {"id": material_id}, index, "unknown_material")
        _check_one(material, index)
        materials.append(material)
    kinds = [MOMENT_KINDS[m.kind] for m in materials]
    if len(set(kinds)) > 1:
        raise _refuse(_("images, a video and a link cannot be mixed in one moment"), None, "mixed_attachments")
    if kinds and kinds[0] != "image" and len(kinds) > 1:
        raise _refuse(_("a moment carries one video or one link"), None, "too_many_attachments")
    return materials


def _check_one(material: Material, index: int) -> None:
    if material.archived:
        raise _refuse(_("this material was deleted"), index, "material_deleted")
    kind = MOMENT_KINDS.get(material.kind)
    if kind is None:
        raise _refuse(_("a moment takes images, posters, a video or a link, not this kind"), index,
                      "kind_not_allowed")
    if kind == "link" and not (material.url and material.file):
        raise _refuse(_("a link in a moment needs a cover image"), index, "link_needs_cover")
    if kind != "link" and not material.file:
        raise _refuse(_("this material has no file"), index, "no_file")
    if kind == "video":
        seconds = mp4_seconds(_read(material.file))
        if seconds is not None and seconds > VIDEO_SECONDS_MAX:
            raise _refuse(_("a video in a moment is at most 30 seconds"), index, "video_too_long")


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def mp4_seconds(data: bytes) -> float | None:
    """The duration in an MP4's movie header (mvhd), or None when there is none to read."""
    at = data.find(b"mvhd")
    if at < 4:
        return None
    body = data[at + 4:]
    if body[:1] == b"\x01":  # version 1: 64-bit times
        timescale, duration = int.from_bytes(body[20:24], "big"), int.from_bytes(body[24:32], "big")
    else:
        timescale, duration = int.from_bytes(body[12:16], "big"), int.from_bytes(body[16:20], "big")
    return duration / timescale if timescale else None


@dataclass(frozen=True)
class MomentFile:
    """A stored file to upload as a moment attachment (the material's own, or its scaled copy)."""

    storage_name: str
    media_type: str  # image | video
    filename: str
    content_type: str


def file_for(material: Material) -> MomentFile:
    """Storage I/O (call it outside any transaction): images within WeCom's limits go as they are; others as a JPEG
    scaled to ≤1,555,200 pixels, stored once under a name from the content digest."""
    label = material.file_name or "file"
    if MOMENT_KINDS[material.kind] == "video":
        return MomentFile(material.file, "video", label, material.content_type)
    pixels = (material.width or 0) * (material.height or 0)
    if material.content_type in IMAGE_TYPES and 0 < pixels <= IMAGE_PIXELS_MAX:
        return MomentFile(material.file, "image", label, material.content_type)
    name = f"content/{material.enterprise_id}/moments/{material.sha256 or material.pk}.jpg"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(scaled_jpeg(_read(material.file))))
    return MomentFile(name, "image", label.rsplit(".", 1)[0][:100] + ".jpg", "image/jpeg")


def scaled_jpeg(data: bytes) -> bytes:
    """A JPEG of at most IMAGE_PIXELS_MAX pixels (the aspect kept); transparency on white."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        factor = min(1.0, math.sqrt(IMAGE_PIXELS_MAX / (width * height)))
        size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
        image.draft("RGB", size)
        frame = image.convert("RGBA")
        frame = frame.resize(size, Image.Resampling.LANCZOS) if frame.size != size else frame
        canvas = Image.new("RGB", size, (255, 255, 255))
        canvas.paste(frame, mask=frame.getchannel("A"))
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=88)
    return out.getvalue()


def link_title(title: str) -> str:
    """The title cut to WeCom's 64 bytes at a character boundary."""
    raw = title.encode()[:LINK_TITLE_MAX_BYTES]
    return raw.decode(errors="ignore")


def link_url(material: Material) -> str:
    """The tracked redirect (no customer: a moment is for everyone) when Siyu's public address is known, so clicks
    and conversions count for the material; else the target itself."""
    base = str(getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    if not base:
        return material.url
    return base + links.path(enterprise_id=material.enterprise_id, material_id=material.pk, customer_id=None)


def attachment(material: Material, media_id: str) -> dict[str, object]:
    """The add_moment_task attachment for a material whose file (a link's cover) WeCom knows as media_id."""
    kind = MOMENT_KINDS[material.kind]
    if kind == "link":
        return {"msgtype": "link", "link": {"title": link_title(material.title), "url": link_url(material),
                                            "media_id": media_id}}
    return {"msgtype": kind, kind: {"media_id": media_id}}
