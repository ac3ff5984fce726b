"""Safe decoding of uploaded photos (JPEG, PNG, WebP, BMP, TIFF) → BGR uint8 (H, W, 3).

Only the header is read before the checks: empty input, unknown or unsupported format,
0×0 and oversized images (decompression bombs) are refused before a single pixel is
allocated; truncated or corrupt pixel data is refused when decoded, never padded with
grey (Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES` must stay False; we never set it).
Every refusal is an `ImageError` with a stable `code` and English/Vietnamese messages.
"""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dichte.models.errors import ImageError

__all__ = ["ALLOWED_FORMATS", "ImageError", "decode_image"]

# MPO: multi-picture JPEGs written by many phones; Pillow names them apart from JPEG.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF")
_OPEN_FORMATS = ["JPEG", "PNG", "WEBP", "BMP", "TIFF"]  # only these plugins parse input


def _sniff_format(prefix: bytes) -> str | None:
    """Name of the format Pillow recognises by its magic bytes alone (no parsing)."""
    Image.init()
    for name, (_, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix):
                return name
        except Exception:  # an accept() that chokes on a short prefix is not a match
            continue
    return None


def _open_header(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own limit: > 2 × MAX_IMAGE_PIXELS
        raise ImageError("too_large", f"> {2 * (Image.MAX_IMAGE_PIXELS or 0)} px") from None
    except UnidentifiedImageError:
        name = _sniff_format(data[:64])
        if name is None:
            raise ImageError("not_an_image") from None
        if name not in ALLOWED_FORMATS:
            raise ImageError("unsupported_format", name) from None
        # Pillow rejects a 0×0 PNG header outright; say so rather than "corrupt"
        if data[12:16] == b"IHDR" and 0 in struct.unpack(">II", data[16:24]):
            raise ImageError("empty_image", "PNG header 0 px") from None
        raise ImageError("truncated", f"{name} header") from None
    except Exception as err:  # recognised, but the header itself is cut short or broken
        raise ImageError("truncated", type(err).__name__) from None


def _to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode == "F":  # float TIFF: no defined display range
        raise ImageError("unsupported_format", "float pixels")
    if im.mode == "I" or im.mode.startswith("I;16"):
        # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them
        grey = (np.clip(np.asarray(im), 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        # transparent → white: a QR on a transparent screenshot is dark on light
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        rgb = im.convert("RGB")  # 1, L, P, CMYK, YCbCr, … (16-bit RGB is already 8-bit)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def decode_image(
    data: bytes, *, max_pixels: int = 40_000_000, max_side: int = 12_000
) -> np.ndarray:
    """Decode an uploaded photo to BGR uint8 (H, W, 3), EXIF orientation applied.

    Raises `ImageError` (codes: empty, not_an_image, unsupported_format, empty_image,
    too_large, truncated)."""
    if not data:
        raise ImageError("empty")
    with _open_header(data) as im:
        if im.format not in ALLOWED_FORMATS:
            raise ImageError("unsupported_format", str(im.format))
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageError("empty_image", f"{w}×{h}")
        if max(w, h) > max_side or w * h > max_pixels:
            raise ImageError("too_large", f"{w}×{h} > {max_side} px a side / {max_pixels} px")
        try:
            im.load()  # raises on truncated data while LOAD_TRUNCATED_IMAGES is False
        except Image.DecompressionBombError:
            raise ImageError("too_large", f"{w}×{h}") from None
        except Exception as err:
            raise ImageError("truncated", f"{type(err).__name__}: {err}") from None
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception:  # unreadable EXIF: keep the pixels as stored
            oriented = im
        return _to_bgr(oriented)


def stored_photo(data: bytes, *, max_pixels: int = 40_000_000, max_side: int = 1600) -> bytes:
    """An uploaded photo as kept: decoded with the same bounds as every upload, scaled
    to at most `max_side` pixels a side and written again as JPEG, so what is stored
    is a picture of known size without the upload's metadata (EXIF, GPS)."""
    image = decode_image(data, max_pixels=max_pixels)
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ImageError("unsupported_format", "could not be written as JPEG")
    return bytes(encoded)
