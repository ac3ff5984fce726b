"""FLIR containers parsed in plain Python: radiometric JPEG (R-JPEG) and .seq video.

Both hold FFF records (layout from exiftool's FLIR.pm): a 64-byte header ("FFF\\0",
version 100–199 whose byte order gives the file's, directory offset and count), a
directory of 32-byte entries (type, subtype, version, index, offset, length), and the
records themselves. We read two: RawData (0x01: width/height, then the image at +0x20
as PNG, TIFF or plain uint16) and CameraInfo (0x20: object parameters and Planck
constants). An R-JPEG splits one FFF record over APP1 segments that start "FLIR\\0"
(8-byte chunk header: "FLIR\\0", 1, chunk index, last index); a .seq is FFF records
back to back, one per frame. Every offset and size is checked before use.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cv2
import numpy as np
from PIL import Image

from dichte.models.errors import ThermalFormatError
from dichte.models.thermal.radiometry import KELVIN, ObjectParams, Planck

MAX_DIM = 8192  # widest thermal sensors are ~1280 px; anything bigger is an attack or junk

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
FFF_MAGIC = b"FFF\x00"
JPEG_MAGIC = b"\xff\xd8"  # SOI; a cut file may end right after it

_REC_RAW = 0x01
_REC_CAMERA = 0x20
_HEADER = 0x40
_ENTRY = 0x20
_MAX_RECORDS = 4096


@dataclass(frozen=True)
class CameraInfo:
    planck: Planck
    obj: ObjectParams
    model: str = ""
    serial: str = ""
    lens: str = ""
    datetime_original: str | None = None  # ISO 8601 with the camera's UTC offset

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera_model": self.model,
            "camera_serial": self.serial,
            "lens_model": self.lens,
            "datetime_original": self.datetime_original,
        }


@dataclass(frozen=True)
class FlirFrame:
    raw: np.ndarray  # uint16 (rows, cols), native byte order
    camera: CameraInfo | None
    raw_type: str  # "png" | "tiff" | "dat"


@dataclass(frozen=True)
class _Fff:
    base: int  # offset of "FFF\0" in the buffer
    end: int  # one past the last byte any record uses
    records: dict[int, tuple[int, int]]  # type -> (absolute offset, length), first of each


def check_dims(width: int, height: int) -> None:
    if not (0 < width <= MAX_DIM and 0 < height <= MAX_DIM):
        raise ThermalFormatError("bad_dimensions", f"{width}x{height}, max {MAX_DIM}")


def decode_image16(data: bytes | memoryview) -> np.ndarray:
    """A single-channel 16-bit PNG/TIFF → uint16 (rows, cols), header checked first."""
    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
            size, mode = im.size, im.mode
    except Exception as e:  # Pillow raises many types on junk
        raise ThermalFormatError("corrupt", f"image header: {type(e).__name__}") from e
    check_dims(*size)
    # Refuse by header what we won't use, so the decoder never inflates more than
    # one 16-bit plane of at most MAX_DIM² pixels.
    if mode in ("1", "L", "LA", "P", "PA", "F"):
        raise ThermalFormatError("unsupported_dtype", f"image mode {mode}, need 16-bit")
    if not mode.startswith("I"):
        raise ThermalFormatError("unsupported_format", f"image mode {mode}, need one channel")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ThermalFormatError("corrupt", "image data") from e
    if img is None:
        raise ThermalFormatError("corrupt", "image data")
    if img.ndim != 2:
        raise ThermalFormatError("unsupported_format", f"{img.shape[2]} channels, need 1")
    if img.dtype != np.uint16:
        raise ThermalFormatError("unsupported_dtype", f"{img.dtype}, need 16-bit")
    return img


def _u16(buf: bytes | memoryview, off: int) -> int:
    return int(struct.unpack_from("<H", buf, off)[0])


def _parse_fff(buf: bytes | memoryview, base: int) -> _Fff:
    n = len(buf)
    if n - base < _HEADER:
        raise ThermalFormatError("truncated", f"FFF header at {base}")
    if bytes(buf[base : base + 4]) != FFF_MAGIC:
        raise ThermalFormatError("unsupported_format", f"no FFF record at {base}")
    for bo in "<>":  # the version number (100..199) tells the byte order
        version, dir_off, count = struct.unpack_from(bo + "III", buf, base + 0x14)
        if 100 <= version < 200:
            break
    else:
        raise ThermalFormatError("unsupported_format", "unknown FFF version")
    if count > _MAX_RECORDS:
        raise ThermalFormatError("corrupt", f"{count} FFF records")
    dir_start = base + dir_off
    if dir_start < base + _HEADER or dir_start + count * _ENTRY > n:
        raise ThermalFormatError("truncated", "FFF directory")
    end = dir_start + count * _ENTRY
    records: dict[int, tuple[int, int]] = {}
    for i in range(count):
        rtype, _sub, _ver, _idx, off, length = struct.unpack_from(
            bo + "HHIIII", buf, dir_start + i * _ENTRY
        )
        if rtype == 0:  # free slot
            continue
        if base + off + length > n:
            raise ThermalFormatError("truncated", f"FFF record 0x{rtype:02x}")
        end = max(end, base + off + length)
        records.setdefault(rtype, (base + off, length))
    return _Fff(base, end, records)


def _record_order(buf: bytes | memoryview, off: int) -> str:
    # Each record starts with the int16 2 in its own byte order (exiftool's test).
    return "<" if _u16(buf, off) < 0x100 else ">"


def _parse_raw(buf: bytes | memoryview, off: int, length: int) -> tuple[np.ndarray, str]:
    if length < 0x20:
        raise ThermalFormatError("truncated", "RawData record")
    bo = _record_order(buf, off)
    width, height = struct.unpack_from(bo + "HH", buf, off + 2)
    check_dims(width, height)
    payload = memoryview(buf)[off + 0x20 : off + length]
    head = bytes(payload[:8])
    if head == PNG_MAGIC:
        # FLIR writes PNG samples little-endian although PNG is big-endian: swap back
        img, kind = decode_image16(payload).byteswap(), "png"
    elif head[:4] in TIFF_MAGICS:
        img, kind = decode_image16(payload), "tiff"
    else:
        if len(payload) != width * height * 2:
            raise ThermalFormatError(
                "bad_size", f"{len(payload)} bytes for {width}x{height} uint16 pixels"
            )
        img = np.frombuffer(payload, dtype=bo + "u2").reshape(height, width)
        img, kind = img.astype(np.uint16), "dat"  # native order, owns its memory
    if img.shape != (height, width):
        raise ThermalFormatError(
            "bad_size", f"image {img.shape[::-1]} vs declared {width}x{height}"
        )
    return img, kind


def _f32(buf: bytes | memoryview, off: int, bo: str) -> float:
    # Shortest decimal that round-trips the stored float32 ("21106.77", not 21106.7695):
    # what exiftool prints and Thermimage computes with.
    return float(str(np.float32(struct.unpack_from(bo + "f", buf, off)[0])))


def _str(buf: bytes | memoryview, off: int, size: int) -> str:
    raw = bytes(buf[off : off + size]).split(b"\x00", 1)[0]
    return raw.decode("utf-8", "replace").strip()


def _datetime(buf: bytes | memoryview, off: int, bo: str) -> str | None:
    # exiftool: unix time, milliseconds (low 16 bits), minutes west of UTC (int16)
    secs, ms, tz_min = struct.unpack_from(bo + "IIh", buf, off)
    ms &= 0xFFFF
    if secs == 0 or ms >= 1000 or abs(tz_min) > 24 * 60:
        return None
    tz = timezone(timedelta(minutes=-tz_min))
    t = datetime.fromtimestamp(secs, UTC).astimezone(tz) + timedelta(milliseconds=ms)
    return t.isoformat(timespec="milliseconds")


def _parse_camera(buf: bytes | memoryview, off: int, length: int) -> CameraInfo:
    if length < 0x310:
        raise ThermalFormatError("truncated", "CameraInfo record")
    bo = _record_order(buf, off)

    def f(rel: int) -> float:
        return _f32(buf, off + rel, bo)

    def c(rel: int) -> float:  # stored in kelvin
        return round(f(rel) - KELVIN, 6)

    rh = f(0x3C)
    try:
        obj = ObjectParams(
            emissivity=f(0x20),
            distance_m=f(0x24),
            reflected_c=c(0x28),
            atmospheric_c=c(0x2C),
            window_c=c(0x30),
            window_transmission=f(0x34),
            humidity_pct=round(rh if rh > 2 else rh * 100, 6),  # seen as % and as fraction
        )
        planck = Planck(
            r1=f(0x58),
            b=f(0x5C),
            f=f(0x60),
            o=float(struct.unpack_from(bo + "i", buf, off + 0x308)[0]),
            r2=f(0x30C),
            alpha1=f(0x70),
            alpha2=f(0x74),
            beta1=f(0x78),
            beta2=f(0x7C),
            x=f(0x80),
        )
    except ValueError as e:
        raise ThermalFormatError("bad_metadata", str(e)) from e
    when = _datetime(buf, off + 0x384, bo) if length >= 0x38E else None
    return CameraInfo(
        planck,
        obj,
        model=_str(buf, off + 0xD4, 32),
        serial=_str(buf, off + 0x104, 16),
        lens=_str(buf, off + 0x170, 32),
        datetime_original=when,
    )


def _decode_fff(buf: bytes | memoryview, fff: _Fff) -> FlirFrame:
    if _REC_RAW not in fff.records:
        raise ThermalFormatError("no_thermal_data", "FFF without RawData")
    raw, kind = _parse_raw(buf, *fff.records[_REC_RAW])
    camera = _parse_camera(buf, *fff.records[_REC_CAMERA]) if _REC_CAMERA in fff.records else None
    return FlirFrame(raw, camera, kind)


def extract_fff(jpeg: bytes) -> bytes:
    """The FFF record an R-JPEG carries, chunks joined in order."""
    n = len(jpeg)
    if not jpeg.startswith(JPEG_MAGIC):
        raise ThermalFormatError("unsupported_format", "not a JPEG")
    chunks: dict[int, tuple[int, int]] = {}
    last: int | None = None
    pos = 2
    while True:  # walk the marker segments up to Start Of Scan
        if pos + 4 > n:
            raise ThermalFormatError("truncated", f"JPEG header at {pos}")
        if jpeg[pos] != 0xFF:
            raise ThermalFormatError("corrupt", f"JPEG marker expected at {pos}")
        marker = jpeg[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            raise ThermalFormatError("corrupt", "JPEG ends before its image")
        seg_end = pos + 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
        if seg_end > n:
            raise ThermalFormatError("truncated", f"JPEG segment at {pos}")
        if marker == 0xDA:
            break
        if marker == 0xE1 and jpeg.startswith(b"FLIR\x00", pos + 4) and seg_end >= pos + 12:
            index, seg_last = jpeg[pos + 10], jpeg[pos + 11]
            if (last is not None and seg_last != last) or index > seg_last or index in chunks:
                raise ThermalFormatError("corrupt", "inconsistent FLIR segment numbering")
            last = seg_last
            chunks[index] = (pos + 12, seg_end)
        pos = seg_end
    if last is None:
        raise ThermalFormatError("no_thermal_data", "JPEG without FLIR segments")
    if len(chunks) != last + 1:
        raise ThermalFormatError("truncated", f"{len(chunks)} of {last + 1} FLIR segments")
    # Entropy-coded data escapes 0xFF, so FF D9 after SOS is the End Of Image marker:
    # without it the file was cut, even if the thermal part survived.
    if jpeg.find(b"\xff\xd9", pos) < 0:
        raise ThermalFormatError("truncated", "JPEG without End Of Image")
    return b"".join(jpeg[a:b] for a, b in (chunks[i] for i in range(last + 1)))


def read_rjpeg(jpeg: bytes) -> FlirFrame:
    fff = extract_fff(jpeg)
    return _decode_fff(fff, _parse_fff(fff, 0))


def _seq_records(data: bytes) -> Iterator[_Fff]:
    """FFF headers of a .seq, one per frame, without touching pixel data."""
    pos = 0
    while True:
        fff = _parse_fff(data, pos)
        yield fff
        if fff.end >= len(data):
            return
        # frames follow back to back; tolerate padding, stop at trailing non-frames
        pos = data.find(FFF_MAGIC, fff.end)
        if pos < 0:
            return


def seq_frame_count(data: bytes) -> int:
    return sum(1 for _ in _seq_records(data))


def read_seq_frame(data: bytes, index: int) -> tuple[FlirFrame, int]:
    """Frame `index` of a .seq (and the offset of its FFF record)."""
    if index < 0:
        raise ThermalFormatError("frame_out_of_range", f"frame {index}")
    for i, fff in enumerate(_seq_records(data)):
        if i == index:
            return _decode_fff(data, fff), fff.base
    raise ThermalFormatError("frame_out_of_range", f"frame {index} of {i + 1}")


def iter_seq(data: bytes) -> Iterator[tuple[FlirFrame, int]]:
    """Every frame of a .seq in order, decoded lazily; a cut frame raises when reached."""
    for fff in _seq_records(data):
        yield _decode_fff(data, fff), fff.base
