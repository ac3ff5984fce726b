"""QR codes shown to a checkpoint's visible camera → text and 4 corners.

Decoder: zxing-cpp (a runtime dependency). On the real zxing blackbox photos
(shared/data/qr, 126 images; bench/qr.py) it reads 116 correctly against 78 for
OpenCV's `QRCodeDetector` and 68 for `QRCodeDetectorAruco`, in well under a millisecond
at the median, and neither OpenCV detector reads any photo that zxing-cpp misses. zxing
corrects errors with Reed–Solomon and reports only symbols that pass it, so a result is
never a guess. Cascade, each pass only when the previous one found nothing:

1. grey, zxing's default local-average binarizer;
2. grey, global-histogram binarizer (uneven print/lighting: +2 on the T-shirt set);
3. 2× cubic upscale, small frames only (≤ 640 px a side): blurred modules under ~3 px
   (a 640×480 test frame with 2.5 px modules: passes 1–2 read 0 of 10, this one 7).

The remaining misses are codes printed on creased fabric (qrcode-4).
"""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

from dichte.models.results import QrCode

__all__ = ["UPSCALE_MAX_SIDE", "QrCode", "decode_qr"]

UPSCALE_MAX_SIDE = 640  # pass 3 only for frames this small: 4× the pixels stays cheap


def _read(grey: np.ndarray, binarizer: zxingcpp.Binarizer, scale: float) -> list[QrCode]:
    # Model 2 only: what every phone and segno write. In zxing-cpp 3 `QRCode` is the
    # whole family (Micro QR and rMQR too), which no declaration token fits in. Made
    # per call: a zxing object held by a module outlives the library at interpreter
    # exit, and nanobind then prints "leaked" warnings.
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCodeModel2)
    found = zxingcpp.read_barcodes(grey, formats=formats, binarizer=binarizer)
    codes = []
    for r in found:
        if not (r.valid and r.text) or r.error:  # only checksum-verified, non-empty texts
            continue
        p = r.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        codes.append(QrCode(r.text, [(c.x / scale, c.y / scale) for c in corners]))
    return codes


def decode_qr(image_bgr: np.ndarray) -> list[QrCode]:
    """Every QR code in a BGR (H, W, 3) or grey (H, W) uint8 frame; [] when none."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 BGR or grey image, got {image_bgr.dtype}")
    if image_bgr.size == 0:
        return []
    if image_bgr.ndim == 2:
        grey = image_bgr
    elif image_bgr.shape[2] == 3:
        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    else:
        raise ValueError(f"expected 3 channels (BGR), got {image_bgr.shape[2]}")
    grey = np.ascontiguousarray(grey)
    codes = _read(grey, zxingcpp.Binarizer.LocalAverage, 1.0)
    if not codes:
        codes = _read(grey, zxingcpp.Binarizer.GlobalHistogram, 1.0)
    if not codes and max(grey.shape) <= UPSCALE_MAX_SIDE:
        big = cv2.resize(grey, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
        codes = _read(big, zxingcpp.Binarizer.LocalAverage, 2.0)
    return codes
