"""A participant's share poster: a PNG drawn server-side with Pillow, the campaign's name and a QR (segno) of their
share link. No network: fonts come from the machine (Noto CJK when installed, else Pillow's own font, which has
no Chinese glyphs; the QR is what matters and is always drawn)."""

from __future__ import annotations

import io
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 750, 1100
QR_SIZE = 420
FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
         "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
         "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def qr_image(data: str, size: int = QR_SIZE) -> Image.Image:
    """The QR of `data` (error correction M, a 4-module quiet zone), scaled to about `size` pixels."""
    code = segno.make(data, error="m", micro=False)
    rows = [list(row) for row in code.matrix_iter(scale=1, border=4)]
    modules = len(rows)
    scale = max(1, size // modules)
    img = Image.new("1", (modules, modules), 1)
    img.putdata([0 if dark else 1 for row in rows for dark in row])
    return img.resize((modules * scale, modules * scale), Image.Resampling.NEAREST).convert("RGB")


def render_poster(*, title: str, subtitle: str, url: str) -> bytes:
    poster = Image.new("RGB", (WIDTH, HEIGHT), (255, 244, 230))
    draw = ImageDraw.Draw(poster)
    draw.rectangle((0, 0, WIDTH, 260), fill=(230, 80, 60))
    draw.text((WIDTH // 2, 110), title[:16], font=_font(56), fill="white", anchor="mm")
    draw.text((WIDTH // 2, 200), subtitle[:30], font=_font(30), fill="white", anchor="mm")
    qr = qr_image(url)
    left = (WIDTH - qr.width) // 2
    poster.paste(qr, (left, 340))
    draw.text((WIDTH // 2, 340 + qr.height + 60), url[-60:], font=_font(20), fill=(90, 90, 90), anchor="mm")
    out = io.BytesIO()
    poster.save(out, format="PNG", optimize=True)
    return out.getvalue()
