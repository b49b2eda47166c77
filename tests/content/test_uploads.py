"""Upload validation by content: the type comes from the bytes, not the name; sizes are limited per kind before
reading; image bombs are refused from their header; stored names are ours; labels are cleaned."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from siyu.content import uploads
from siyu.core.errors import ValidationFailed
from tests.content.helpers import HTML, MP4, PDF, jpeg, png, png_bomb


def _check(data: bytes, name: str = "x.png", rule: str = "image", size: int | None = None) -> uploads.CheckedFile:
    return uploads.check_upload(io.BytesIO(data), name=name, size=len(data) if size is None else size,
                                rule_name=rule)


def test_a_png_is_an_image_with_its_dimensions() -> None:
    checked = _check(png(64, 48))
    assert (checked.content_type, checked.extension, checked.width, checked.height) == ("image/png", "png", 64, 48)


def test_the_extension_comes_from_the_content_not_the_name() -> None:
    checked = _check(jpeg(), name="poster.png")
    assert (checked.content_type, checked.extension) == ("image/jpeg", "jpg")


@pytest.mark.parametrize(("data", "name", "rule", "seen"), [
    (HTML, "photo.png", "image", "text/html"),
    (PDF, "photo.jpg", "image", "application/pdf"),
    (b"#!/bin/sh\nrm -rf /\n", "clip.mp4", "video", "text/x-shellscript"),
    (png(), "brochure.pdf", "file", "image/png"),
    (MP4, "cover.jpg", "cover", "video/mp4"),
])
def test_a_wrong_type_behind_a_right_extension_is_refused(data: bytes, name: str, rule: str, seen: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _check(data, name=name, rule=rule)
    assert (refused.value.code, refused.value.field) == ("wrong_type", "file")
    assert seen in refused.value.message


def test_a_jpeg_header_in_front_of_garbage_is_not_an_image() -> None:
    with pytest.raises(ValidationFailed) as refused:
        _check(b"\xff\xd8\xff\xe0" + b"\x00JFIF garbage" * 40, name="x.jpg")
    assert refused.value.code == "bad_image"


def test_oversize_is_refused_from_the_declared_size_before_reading() -> None:
    class Unreadable(io.BytesIO):
        def read(self, *args: object) -> bytes:
            raise AssertionError("read before the size check")

    with pytest.raises(ValidationFailed) as refused:
        uploads.check_upload(Unreadable(), name="big.png", size=10 * uploads.MB + 1, rule_name="image")
    assert refused.value.code == "too_large"


def test_oversize_is_refused_when_the_declared_size_lies() -> None:
    data = png() + b"\x00" * (2 * uploads.MB)
    with pytest.raises(ValidationFailed) as refused:
        uploads.check_upload(io.BytesIO(data), name="c.png", size=100, rule_name="cover")
    assert refused.value.code == "too_large"


def test_limits_per_kind() -> None:
    assert {k: r.max_bytes // uploads.MB for k, r in uploads.RULES.items()} == {
        "image": 10, "poster": 10, "cover": 2, "video": 10, "file": 20}


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (7_000, 7_000), (40_001, 1_000)])
def test_an_image_bomb_is_refused_from_its_header(width: int, height: int) -> None:
    """10^10 pixels trips Pillow's own bomb check as the file is opened; 49 and 40.001 megapixels are under
    Pillow's threshold and are refused by ours, from the header, before a pixel is decoded."""
    bomb = png_bomb(width, height)
    assert len(bomb) < 100_000
    with pytest.raises(ValidationFailed) as refused:
        _check(bomb, name="bomb.png")
    assert refused.value.code == "image_too_large"


def test_the_pixel_limit_itself_is_accepted() -> None:
    checked = _check(png_bomb(40_000, 1_000), name="wide.png")
    assert (checked.width, checked.height) == (40_000, 1_000)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        _check(b"", name="x.png")
    assert refused.value.code == "empty"


def test_video_and_pdf_are_accepted_for_their_kinds() -> None:
    assert _check(MP4, name="a.mov", rule="video").extension == "mp4"
    assert _check(PDF, name="a", rule="file").extension == "pdf"


@pytest.mark.parametrize(("raw", "clean"), [
    ("../../etc/passwd.png", "passwd.png"),
    ("C:\\Users\\evil\\x.png", "x.png"),
    ("photo\u202egnp.exe", "photognp.exe"),
    ("a\x00b\r\n.png", "ab.png"),
    ("....png", "png"),
    ("", "file"),
    ("/", "file"),
    ("海报 2026.png", "海报 2026.png"),
])
def test_uploaded_names_become_clean_labels(raw: str, clean: str) -> None:
    assert uploads.clean_label(raw) == clean


def test_a_long_name_keeps_its_extension() -> None:
    label = uploads.clean_label("x" * 300 + ".jpeg")
    assert len(label) == 100 and label.endswith(".jpeg")


@pytest.mark.django_db
def test_stored_names_are_generated_and_a_thumbnail_is_made(settings: object, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    checked = _check(png(800, 400), name="../../evil.png")
    stored = uploads.store(checked, enterprise_id=7)
    assert re.fullmatch(r"content/7/\d{4}/\d{2}/[0-9a-f]{32}\.png", stored.name)
    assert re.fullmatch(r"content/7/\d{4}/\d{2}/[0-9a-f]{32}-thumb\.jpg", stored.thumbnail)
    with default_storage.open(stored.thumbnail) as fh, Image.open(fh) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (320, 160))
    with default_storage.open(stored.name) as fh:
        assert fh.read() == checked.content
    uploads.discard(stored.name, stored.thumbnail)
    assert not default_storage.exists(stored.name)
