"""Checking an uploaded file by what it is, not by what it is called, and storing it under a name we choose.

- The type comes from the content (libmagic through python-magic; images are then decoded by Pillow), never from the
  extension or the browser's Content-Type: a page named `photo.png` is refused as an image.
- Size limits per kind are checked before anything is read (WeCom's own media limits: 10 MB images and videos,
  20 MB files), and images above MAX_PIXELS are refused from their header, before any pixel is decoded (an image
  bomb is a few KB on disk and gigabytes in memory).
- The stored name is generated (`content/<enterprise>/<yyyy>/<mm>/<uuid>.<ext>`, the extension from the detected
  type); the uploaded name is cleaned to a label (no path, no control or bidi characters, bounded length).
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from typing import IO

import magic
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

from siyu.core.errors import ValidationFailed
from siyu.core.timeutil import now

MB = 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is the largest a phone takes; anything larger is refused unread
THUMB_SIZE = (320, 320)
SNIFF_BYTES = 8192

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
VIDEO_TYPES = {"video/mp4": "mp4"}
FILE_TYPES = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}
# Pillow's format names for the image types we accept: what Pillow decodes must agree with what libmagic saw.
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}


@dataclass(frozen=True)
class Rule:
    types: dict[str, str]
    max_bytes: int


RULES = {
    "image": Rule(IMAGE_TYPES, 10 * MB),
    "poster": Rule(IMAGE_TYPES, 10 * MB),
    "cover": Rule(IMAGE_TYPES, 2 * MB),
    "video": Rule(VIDEO_TYPES, 10 * MB),
    "file": Rule(FILE_TYPES, 20 * MB),
}
_BIDI_AND_CONTROL = {"Cc", "Cf", "Zl", "Zp"}


@dataclass(frozen=True)
class CheckedFile:
    content: bytes
    content_type: str
    extension: str
    label: str
    sha256: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class StoredFile:
    name: str
    thumbnail: str
    checked: CheckedFile


def clean_label(name: str, *, fallback: str = "file") -> str:
    """A display label from an uploaded file name: the last path part (either slash), without control, format
    (RTL override, zero-width) or separator characters, without leading dots, at most 100 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch) not in _BIDI_AND_CONTROL)
    text = text.strip().lstrip(".").strip()
    if len(text) > 100:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 100 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else text[:100]
    return text or fallback


def sniff(head: bytes) -> str:
    """The MIME type libmagic reads from the first bytes."""
    return str(magic.from_buffer(head, mime=True))


def _read_bounded(stream: IO[bytes], limit: int, field: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(
            _("the file is larger than %(value)s MB") % {"value": limit // MB},
            field=field, code="too_large",
        )
    return data


def _check_image(data: bytes, content_type: str, field: str) -> tuple[int, int]:
    """Dimensions from the header (refused above MAX_PIXELS before decoding), then a full decode to prove the file is
    the image it claims to be, with Pillow's own bomb check turned into a refusal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ValidationFailed(
                        _("the image is %(width)s×%(height)s pixels; at most %(MAX_PIXELS)s pixels are accepted")
                        % {"width": width, "height": height, "MAX_PIXELS": format(MAX_PIXELS, ',')},
                        field=field, code="image_too_large",
                    )
                if img.format != PIL_FORMATS.get(content_type):
                    raise ValidationFailed(_("the image's content does not match its type"), field=field,
                                           code="wrong_type")
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationFailed(_("the image is too large to decode"), field=field, code="image_too_large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationFailed(_("the image cannot be read (damaged or not an image)"), field=field,
                               code="bad_image") from exc
    return width, height


def check_upload(stream: IO[bytes], *, name: str, size: int | None, rule_name: str, field: str = "file") -> CheckedFile:
    """Validate one upload for a kind (image, poster, cover, video, file); ValidationFailed names the field."""
    rule = RULES[rule_name]
    if size is not None and size > rule.max_bytes:
        raise ValidationFailed(
            _("the file is larger than %(value)s MB") % {"value": rule.max_bytes // MB},
            field=field, code="too_large",
        )
    data = _read_bounded(stream, rule.max_bytes, field)
    if not data:
        raise ValidationFailed(_("the file is empty"), field=field, code="empty")
    content_type = sniff(data[:SNIFF_BYTES])
    extension = rule.types.get(content_type)
    if extension is None:
        accepted = ", ".join(sorted(set(rule.types.values())))
        raise ValidationFailed(
            _("this is a %(content_type)s file; a %(rule_name)s must be one of: %(accepted)s")
            % {"content_type": content_type, "rule_name": rule_name, "accepted": accepted},
            field=field, code="wrong_type",
        )
    width = height = None
    if content_type in IMAGE_TYPES:
        width, height = _check_image(data, content_type, field)
    return CheckedFile(content=data, content_type=content_type, extension=extension, label=clean_label(name),
                       sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)


def thumbnail_bytes(data: bytes) -> bytes:
    """A JPEG thumbnail (at most THUMB_SIZE) of a checked image; transparency flattened on white."""
    with Image.open(io.BytesIO(data)) as img:
        img.seek(0)
        frame = img.convert("RGBA")
        frame.thumbnail(THUMB_SIZE)
        flat = Image.new("RGB", frame.size, (255, 255, 255))
        flat.paste(frame, mask=frame.getchannel("A"))
        out = io.BytesIO()
        flat.save(out, "JPEG", quality=82)
        return out.getvalue()


def storage_name(enterprise_id: int, extension: str, *, suffix: str = "") -> str:
    moment = now()
    return f"content/{enterprise_id}/{moment:%Y/%m}/{uuid.uuid4().hex}{suffix}.{extension}"


def store(checked: CheckedFile, *, enterprise_id: int) -> StoredFile:
    """Write the file (and an image's thumbnail) to the default storage; returns the names it chose."""
    name = default_storage.save(storage_name(enterprise_id, checked.extension), ContentFile(checked.content))
    thumb = ""
    if checked.content_type in IMAGE_TYPES:
        thumb = default_storage.save(storage_name(enterprise_id, "jpg", suffix="-thumb"),
                                     ContentFile(thumbnail_bytes(checked.content)))
    return StoredFile(name=name, thumbnail=thumb, checked=checked)


def discard(*names: str) -> None:
    """Remove stored files whose row was not written (the transaction failed after the upload)."""
    for name in names:
        if name:
            default_storage.delete(name)
