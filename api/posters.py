"""A printable A4 poster for a venue's QR check-in point: SVG (vector), PNG and PDF
(150 dpi raster, fonts embedded as pixels so Vietnamese prints everywhere)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont

A4_MM = (210, 297)
DPI = 150
A4_PX = (round(A4_MM[0] / 25.4 * DPI), round(A4_MM[1] / 25.4 * DPI))  # 1240 × 1754
TITLE_VI = "QUÉT MÃ QR ĐỂ CHECK-IN"
TITLE_EN = "Scan to check in"
FOOTER = (
    "Quét bằng camera điện thoại khi vào và khi ra · "
    "Scan with your phone camera on the way in and out"
)


@cache
def _font_path(weight: str) -> str:
    import font_roboto  # Roboto (Apache-2.0) covers Vietnamese; shipped on PyPI

    return str(Path(font_roboto.__file__).parent / "files" / f"Roboto-{weight}.ttf")


def _font(size: int, weight: str = "Regular") -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(weight), size)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def poster_png(code: str, name: str, kind: str, address: str) -> Image.Image:
    w, h = A4_PX
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 190), fill="#0b6e4f")
    for text, size, y in ((TITLE_VI, 64, 30), (TITLE_EN, 40, 115)):
        font = _font(size, "Bold")
        draw.text(((w - font.getlength(text)) / 2, y), text, font=font, fill="white")
    y = 230
    for text, size, weight in ((name, 60, "Bold"), (kind, 36, "Regular"), (address, 34, "Regular")):
        font = _font(size, weight)
        for line in _wrap(text, font, w - 160):
            draw.text(((w - font.getlength(line)) / 2, y), line, font=font, fill="#111")
            y += int(size * 1.3)
    qr = segno.make_qr(code, error="m")
    side = min(w - 240, h - y - 220)
    modules = np.asarray(qr.matrix, dtype=np.uint8)
    # the page's white margin around the code is wider than the 4-module quiet zone
    matrix = Image.fromarray(255 - 255 * modules).resize((side, side), Image.Resampling.NEAREST)
    img.paste(matrix, ((w - side) // 2, y + 40))
    font = _font(26)
    for i, line in enumerate(_wrap(FOOTER, font, w - 160)):
        draw.text(((w - font.getlength(line)) / 2, h - 120 + i * 34), line, font=font, fill="#444")
    return img


def poster_bytes(code: str, name: str, kind: str, address: str, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "svg":
        return poster_svg(code, name, kind, address).encode()
    image = poster_png(code, name, kind, address)
    if fmt == "png":
        image.save(buf, "PNG", dpi=(DPI, DPI))
    else:
        image.save(buf, "PDF", resolution=DPI, title=f"QR check-in — {name}")
    return buf.getvalue()


def poster_svg(code: str, name: str, kind: str, address: str) -> str:
    qr = segno.make_qr(code, error="m")
    n = len(qr.matrix)
    side = 150.0  # mm
    module = side / n
    path = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(qr.matrix) for x, dark in enumerate(row) if dark
    )
    x0 = (A4_MM[0] - side) / 2
    text = [
        f'<text x="105" y="20" font-size="11" font-weight="700" fill="#fff">{TITLE_VI}</text>',
        f'<text x="105" y="30" font-size="7" fill="#fff">{TITLE_EN}</text>',
    ]
    y = 52.0
    for line, size, weight in ((name, 10, 700), (kind, 6, 400), (address, 5.5, 400)):
        text.append(
            f'<text x="105" y="{y}" font-size="{size}" font-weight="{weight}">{escape(line)}</text>'
        )
        y += size * 1.5
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{A4_MM[0]}mm" height="{A4_MM[1]}mm" '
        f'viewBox="0 0 {A4_MM[0]} {A4_MM[1]}" font-family="Roboto, Arial, sans-serif" '
        f'text-anchor="middle">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<rect width="{A4_MM[0]}" height="36" fill="#0b6e4f"/>'
        + "".join(text)
        + f'<g transform="translate({x0},{y + 8}) scale({module})"><path d="{path}"/></g>'
        f'<text x="105" y="285" font-size="4" fill="#444">{escape(FOOTER)}</text></svg>'
    )
