"""QR codes as pictures: SVG for screens, PNG for printing and messaging apps. Error
correction M survives a scratched phone screen and keeps the code small enough to
scan fast."""

from __future__ import annotations

import io
from typing import Literal

import segno

QR_MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
_OPTIONS: dict[str, dict[str, object]] = {
    "svg": {"scale": 6, "border": 4, "xmldecl": False},
    "png": {"scale": 8, "border": 4},
}


def qr_image(text: str, image_format: Literal["svg", "png"]) -> bytes:
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind=image_format, **_OPTIONS[image_format])
    return buf.getvalue()
