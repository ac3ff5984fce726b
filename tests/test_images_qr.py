"""Photo decoding refusals/conversions (models.images) and QR reading (models.qr)."""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from PIL import Image, ImageFile

from dichte.models.images import ImageError, decode_image
from dichte.models.qr import decode_qr
from tests.conftest import SHARED_DATA
from tests.live import missing

ROOT = Path(__file__).resolve().parents[1]
QR_SETS = ("qrcode-1", "qrcode-3", "qrcode-4", "qrcode-5", "qrcode-6")


# ---------------------------------------------------------------- helpers


def _png_1bit(width: int, height: int) -> bytes:
    """An all-black 1-bit PNG built by hand: 20000×20000 compresses to ~50 KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    blocks = [row * 1000] * (height // 1000) + [row * (height % 1000)]  # 50 MB never held
    idat = b"".join(z.compress(block) for block in blocks)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat + z.flush())
        + chunk(b"IEND", b"")
    )


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _refused(data: bytes, **kw: int) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(data, **kw)
    assert info.value.message_en and info.value.message_vi
    return info.value.code


# ---------------------------------------------------------------- decode_image refusals


def test_refusals_before_pixels() -> None:
    jpeg = _save(Image.new("RGB", (64, 48), (10, 20, 30)), "JPEG")
    assert _refused(b"") == "empty"
    assert _refused(np.random.default_rng(0).bytes(1000)) == "not_an_image"
    assert _refused(b"Declaration for checkpoint 12\nname: Nguyen Van A\n" * 20) == "not_an_image"
    assert _refused(_save(Image.new("RGB", (8, 8)), "GIF")) == "unsupported_format"
    assert _refused(jpeg[: len(jpeg) // 2]) == "truncated"  # pixel data cut short
    assert _refused(jpeg[:20]) == "truncated"  # header cut short
    assert _refused(_png_1bit(0, 0)) == "empty_image"
    assert _refused(_png_1bit(0, 5)) == "empty_image"
    assert _refused(_png_1bit(13_000, 8)) == "too_large"  # side
    assert _refused(jpeg, max_pixels=64 * 48 - 1) == "too_large"  # pixel count
    assert decode_image(jpeg).shape == (48, 64, 3)
    # truncated images are refused, not padded: nobody switched Pillow's switch on
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_corrupt_png_refused() -> None:
    png = bytearray(
        _save(
            Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)), "PNG"
        )
    )
    png[len(png) // 2 : len(png) // 2 + 64] = b"\0" * 64
    assert _refused(bytes(png)) == "truncated"
    assert _refused(bytes(png[: len(png) // 2])) == "truncated"


def test_error_pickles_with_both_languages() -> None:
    err = ImageError("too_large", "20000×20000")
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, back.detail, back.message_vi) == (err.code, err.detail, err.message_vi)
    assert isinstance(back, ValueError) and back.message_en != back.message_vi


_BOMB_PROBE = """
import io, json, sys, tracemalloc
from PIL import Image
from dichte.models.images import ImageError, decode_image

def status_kb(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key + ":"))
    return int(line.split()[1])

def measure(fn):  # peak resident growth in bytes: Linux resets VmHWM on "5" to clear_refs
    open("/proc/self/clear_refs", "w").write("5")
    base = status_kb("VmRSS")
    fn()
    return (status_kb("VmHWM") - base) * 1024

def guarded():
    global code
    try:
        decode_image(data)
    except ImageError as err:
        code = err.code

def unguarded():  # positive control: the same file decoded with no guard at all
    Image.MAX_IMAGE_PIXELS = None
    Image.open(io.BytesIO(data)).load()

data, code = open(sys.argv[1], "rb").read(), None
Image.init()  # plugin imports are not the image's cost
tracemalloc.start()
grown = measure(guarded)
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
control = measure(unguarded) if len(sys.argv) > 2 else 0
result = {"code": code, "traced_peak": traced, "rss_growth": grown, "control_growth": control}
print(json.dumps(result))
"""


# 20000²: past Pillow's own bomb limit (179 Mpx); 9000²: 81 Mpx, only our 40 Mpx limit
@pytest.mark.parametrize("side", [20_000, 9_000])
def test_bomb_refused_before_allocation(tmp_path: Path, side: int) -> None:
    """A 1-bit PNG of side² pixels (~50 KB on disk) would need side²×3 bytes as BGR.

    Measured in a fresh process as Linux's peak resident set (VmHWM, reset just before);
    tracemalloc alone cannot see Pillow's C allocations, only Python's and numpy's.
    For 9000² the probe then decodes the file unguarded, to show the measurement sees
    an allocation when there is one (Pillow's mode "1" keeps a byte per pixel)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_1bit(side, side))
    assert path.stat().st_size < 100_000
    out = subprocess.run(
        [sys.executable, "-c", _BOMB_PROBE, str(path), *(["control"] if side < 10_000 else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    print(f"{side}×{side}: {result}")
    assert result["code"] == "too_large"
    assert result["rss_growth"] < 32 * 2**20  # decoded as BGR: 243 MB (9000²), 1.2 GB
    assert result["traced_peak"] < 8 * 2**20
    if side < 10_000:
        assert result["control_growth"] > 0.9 * side * side  # ~81 MB: the method works


# ---------------------------------------------------------------- decode_image conversions


def test_rgba_grey_palette_and_16bit_converted() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0] = (255, 0, 0, 255)  # opaque red
    rgba[1] = (255, 0, 0, 0)  # transparent → white
    rgba[2] = (0, 0, 255, 128)  # half blue over white
    out = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[1, 0]) == (255, 255, 255)
    assert np.allclose(out[2, 0], (255, 127, 127), atol=2)

    grey = decode_image(_save(Image.new("L", (5, 3), 77), "PNG"))
    assert grey.shape == (3, 5, 3) and (grey == 77).all()
    la = decode_image(_save(Image.new("LA", (2, 2), (0, 255)), "PNG"))
    assert (la == 0).all()

    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 128, 255, 200, 10, 20])
    pal.putdata([0, 1])
    out = decode_image(_save(pal, "PNG"))
    assert tuple(out[0, 0]) == (255, 128, 0) and tuple(out[0, 1]) == (20, 10, 200)

    # 16-bit grey: scaled by 1/256, not clipped at 255 (what Pillow's convert("L") does)
    g16 = np.full((3, 3), 0xABCD, np.uint16)
    out = decode_image(_save(Image.fromarray(g16), "PNG"))
    assert (out == 0xAB).all()
    # 16-bit colour, written by OpenCV (Pillow cannot write 48-bit PNGs)
    c16 = np.zeros((2, 2, 3), np.uint16)
    c16[..., 2] = 0xFF00  # red in BGR order
    ok, enc = cv2.imencode(".png", c16)
    assert ok
    assert tuple(decode_image(enc.tobytes())[0, 0]) == (0, 0, 0xFF)


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF", "PNG"])
def test_allowed_formats_roundtrip(fmt: str) -> None:
    kw = {"lossless": True} if fmt == "WEBP" else {}
    img = np.zeros((6, 9, 3), np.uint8)
    img[:, :, 0] = 200  # red channel in RGB
    out = decode_image(_save(Image.fromarray(img), fmt, **kw))
    assert out.shape == (6, 9, 3) and tuple(out[0, 0]) == (0, 0, 200)


def test_exif_rotated_jpeg_is_oriented() -> None:
    """A phone held upright stores a landscape buffer with Orientation=6 (rotate 90° CW)."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red (RGB), right half black
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(_save(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    assert out.shape == (40, 20, 3)  # portrait as displayed
    assert out[5, 10, 2] > 200 and out[35, 10, 2] < 50  # stored left → displayed top


# ---------------------------------------------------------------- decode_qr on real photos


# Read correctly per set by decode_qr when the cascade was chosen (bench/qr.py run of
# 2026-11-26, bench/results/qr.json): the photos without a read are creased T-shirt
# prints. Pinned so a change that reads fewer real photos fails here.
QR_READ_BEFORE = {"qrcode-1": 20, "qrcode-3": 42, "qrcode-4": 40, "qrcode-5": 15, "qrcode-6": 1}


def test_real_photos_read_as_many_as_measured_and_never_wrong() -> None:
    """zxing's own blackbox photos (phones; T-shirt prints in qrcode-4), each with the
    text it holds. zxing-cpp's defaults read 116 of these 126 (the bench's peer)."""
    root = SHARED_DATA / "qr" / "zxing_blackbox"
    if not root.is_dir():
        missing(f"real QR photos missing: {root} (see shared/data/MANIFEST.md §4)")
    read: dict[str, int] = {}
    wrong: list[str] = []
    for name in QR_SETS:
        images = sorted((root / name).glob("*.png"))
        assert images, f"{root / name} is empty"
        read[name] = 0
        for path in images:
            expected = path.with_suffix(".txt").read_bytes().decode("utf-8")
            texts = [c.text for c in decode_qr(decode_image(path.read_bytes()))]
            read[name] += expected in texts
            wrong += [f"{name}/{path.name}: {t!r}" for t in texts if t != expected]
    assert wrong == []
    assert {n: read[n] >= QR_READ_BEFORE[n] for n in QR_SETS} == dict.fromkeys(QR_SETS, True), read


# ---------------------------------------------------------------- decode_qr on a camera-like frame


def _camera_frame(seed: int, module_px: float) -> tuple[str, bytes, np.ndarray]:
    """A DT1. token QR seen by a 640×480 camera: rotated 15°, perspective-tilted, on a
    shaded background, blurred, noisy and JPEG-compressed. Returns (token, jpeg, the
    symbol's 4 true corners TL, TR, BR, BL in frame pixels)."""
    rng = np.random.default_rng(seed)
    token = "DT1." + base64.urlsafe_b64encode(rng.bytes(150)).rstrip(b"=").decode()
    qr = segno.make_qr(token, error="m")
    border, scale = 4, 8
    code = np.array([[0 if dark else 255 for dark in row] for row in qr.matrix], np.uint8)
    code = cv2.copyMakeBorder(code, *[border] * 4, cv2.BORDER_CONSTANT, value=255)
    code = cv2.resize(code, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    side = code.shape[0]
    src = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    a = math.radians(15)
    rot = np.float32([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    tilt = np.float32([[12, -6], [-10, 8], [6, 10], [-8, -4]])
    dst = (src - side / 2) @ rot.T * (module_px / scale) + np.float32([330, 235]) + tilt
    h = cv2.getPerspectiveTransform(src, dst)
    yy, xx = np.mgrid[0:480, 0:640]
    background = 90 + 0.15 * xx + 0.1 * yy
    warped = cv2.warpPerspective(code.astype(np.float32), h, (640, 480), borderValue=-1)
    frame = np.where(warped >= 0, warped * 0.8 + 30, background)  # paper is never pure
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0) + rng.normal(0, 6, frame.shape)
    rgb = cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    n = len(qr.matrix)
    symbol = np.float32([[0, 0], [n, 0], [n, n], [0, n]]) + border
    corners = cv2.perspectiveTransform((symbol * scale)[None], h)[0]
    return token, _save(Image.fromarray(rgb), "JPEG", quality=85), corners


# 2.5 px modules: zxing-cpp reads none of 10 such frames at their size; the 2× upscale
# pass reads 7 (seed 1 among them)
@pytest.mark.parametrize(("seed", "module_px"), [(1, 3.8), (2, 3.0), (1, 2.5)])
def test_token_in_camera_frame(seed: int, module_px: float) -> None:
    token, jpeg, corners = _camera_frame(seed, module_px)
    assert len(token) > 200
    codes = decode_qr(decode_image(jpeg))
    assert [c.text for c in codes] == [token]
    points = np.float32(codes[0].points)
    assert points.shape == (4, 2)
    # same corners, same order (TL, TR, BR, BL), within one module
    assert np.linalg.norm(points - corners, axis=1).max() < module_px
    centre = corners.mean(axis=0)
    assert cv2.pointPolygonTest(points.reshape(-1, 1, 2), tuple(map(float, centre)), False) > 0


def test_two_codes_and_no_code() -> None:
    tiles = [
        np.array(segno.make_qr(t, error="m").matrix, np.uint8) for t in ("DT1.first", "DT1.second")
    ]
    tiles = [
        cv2.resize(
            np.pad(1 - t, 4, constant_values=1) * 255,
            None,
            fx=6,
            fy=6,
            interpolation=cv2.INTER_NEAREST,
        )
        for t in tiles
    ]
    frame = np.full((300, 640), 255, np.uint8)
    frame[10 : 10 + tiles[0].shape[0], 10 : 10 + tiles[0].shape[1]] = tiles[0]
    frame[10 : 10 + tiles[1].shape[0], 400 : 400 + tiles[1].shape[1]] = tiles[1]
    texts = sorted(c.text for c in decode_qr(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)))
    assert texts == ["DT1.first", "DT1.second"]
    assert decode_qr(np.full((480, 640, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError):
        decode_qr(np.zeros((4, 4), np.float32))
