"""One entry point for every thermal format a checkpoint camera produces → °C.

Detection is by content (magic bytes); every supported format has its own, so `name`
only labels the metadata. Rules:

1. FLIR R-JPEG: raw counts + embedded Planck/object parameters. A `calibration`
   replaces the object parameters (and the Planck constants, if it has them).
2. FLIR .seq (FFF records back to back): the same, per frame.
3. Raw counts: a uint16 PNG/TIFF/.npy given WITH a calibration (Planck required), or
   a self-contained .npz: `raw` (uint16) plus calibration keys (flat, as in
   `load_calibration`) and optional `width`/`height` that must match `raw`.
4. Linear centi-kelvin (FLIR Lepton TLinear, K × 100): uint16 PNG/TIFF/.npy WITHOUT
   a calibration.
5. Float °C: a 2-D float32/float64 .npy (a calibration, if given, is ignored).

Every result is 2-D, at most 8192 px a side, finite and within -100..1000 °C.
Declared sizes are checked before anything is allocated.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import IO, Any

import numpy as np
import numpy.lib.format as npformat

from dichte.models.errors import ThermalFormatError
from dichte.models.thermal import flir
from dichte.models.thermal.flir import MAX_DIM
from dichte.models.thermal.radiometry import KELVIN, ObjectParams, Planck, raw_to_celsius

__all__ = [
    "MAX_DIM",
    "Calibration",
    "ThermalFormatError",
    "ThermalImage",
    "load_calibration",
    "read_frames",
    "read_thermal",
]

MIN_C, MAX_C = -100.0, 1000.0  # physical range a checkpoint scene can show
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_PLANCK_KEYS = frozenset(f.name for f in fields(Planck))
_OBJECT_KEYS = frozenset(f.name for f in fields(ObjectParams))
_PLANCK_REQUIRED = ("r1", "r2", "b", "f", "o")
_NPZ_MAX_MEMBERS = 64


@dataclass(frozen=True)
class Calibration:
    """Planck constants (None: keep the file's own) and the scene's object parameters."""

    planck: Planck | None = None
    obj: ObjectParams = field(default_factory=ObjectParams)

    def as_dict(self) -> dict[str, Any]:
        return {"planck": asdict(self.planck) if self.planck else None, "object": asdict(self.obj)}


@dataclass
class ThermalImage:
    celsius: np.ndarray  # float32 (rows, cols), as the sensor reads them
    metadata: dict[str, Any]  # JSON-serialisable
    raw: np.ndarray | None = None  # uint16 counts when the source had them


def _numbers(section: object, allowed: frozenset[str], what: str) -> dict[str, float]:
    if not isinstance(section, Mapping):
        raise ThermalFormatError("bad_calibration", f"{what} must be an object")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ThermalFormatError("bad_calibration", f"unknown {what} keys {unknown}")
    out: dict[str, float] = {}
    for k, v in section.items():
        # bool is an int subclass; "true" as an emissivity is a bug, not 1.0
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ThermalFormatError("bad_calibration", f"{what}.{k} must be a finite number")
        out[k] = float(v)
    return out


def load_calibration(obj: Mapping[str, Any]) -> Calibration:
    """JSON → Calibration. Either nested {"planck": {...}, "object": {...}} or flat keys
    (r1, r2, b, f, o, alpha1…x; emissivity, distance_m, reflected_c, atmospheric_c,
    window_c, window_transmission, humidity_pct). Planck may be omitted (R-JPEG/.seq
    keep their own); if present, r1, r2, b, f, o are all required."""
    if not isinstance(obj, Mapping):
        raise ThermalFormatError("bad_calibration", "calibration must be an object")
    if "planck" in obj or "object" in obj:
        extra = sorted(set(obj) - {"planck", "object"})
        if extra:
            raise ThermalFormatError("bad_calibration", f"unknown keys {extra}")
        p_in = obj.get("planck")
        p = None if p_in is None else _numbers(p_in, _PLANCK_KEYS, "planck")
        o = _numbers(obj.get("object", {}), _OBJECT_KEYS, "object")
    else:
        flat = _numbers(obj, _PLANCK_KEYS | _OBJECT_KEYS, "calibration")
        p = {k: v for k, v in flat.items() if k in _PLANCK_KEYS} or None
        o = {k: v for k, v in flat.items() if k in _OBJECT_KEYS}
    if p is not None and (missing := [k for k in _PLANCK_REQUIRED if k not in p]):
        raise ThermalFormatError("bad_calibration", f"planck lacks {missing}")
    try:
        return Calibration(Planck(**p) if p is not None else None, ObjectParams(**o))
    except ValueError as e:
        raise ThermalFormatError("bad_calibration", str(e)) from e


# -- validation --------------------------------------------------------------------


def _check_array(a: np.ndarray) -> None:
    if a.ndim != 2:
        raise ThermalFormatError("bad_dimensions", f"{a.ndim}-D array, need 2-D")
    flir.check_dims(a.shape[1], a.shape[0])


def _check_range(c: np.ndarray) -> None:
    lo, hi = float(c.min()), float(c.max())  # NaN propagates through min/max
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < MIN_C or hi > MAX_C:
        raise ThermalFormatError("out_of_range", f"{lo:.2f}..{hi:.2f} °C")


@lru_cache(maxsize=1)
def _centikelvin_lut() -> np.ndarray:
    lut = (np.arange(65536, dtype=np.float64) / 100 - KELVIN).astype(np.float32)
    lut.flags.writeable = False
    return lut


# -- .npy / .npz -------------------------------------------------------------------


def _npy_header(fp: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npformat.read_array_header_2_0(fp)
        else:
            raise ThermalFormatError("unsupported_format", f".npy version {version}")
    except ThermalFormatError:
        raise
    except (ValueError, SyntaxError, EOFError) as e:
        raise ThermalFormatError("corrupt", ".npy header") from e
    if dtype.hasobject or dtype.fields is not None:
        raise ThermalFormatError("unsupported_dtype", f"{dtype}; no pickled or structured data")
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        raise ThermalFormatError("unsupported_dtype", f"{dtype}, need numbers")
    # Bound the allocation by the declared shape before reading any data.
    if any(s < 0 for s in shape) or math.prod(shape) > MAX_DIM * MAX_DIM:
        raise ThermalFormatError("bad_dimensions", f"shape {shape}")
    return shape, fortran, dtype


def _npy_array(
    data: bytes, shape: tuple[int, ...], fortran: bool, dtype: np.dtype[Any]
) -> np.ndarray:
    need = math.prod(shape) * dtype.itemsize
    if len(data) < need:
        raise ThermalFormatError("truncated", f"{len(data)} of {need} data bytes")
    if len(data) > need:
        raise ThermalFormatError("bad_size", f"{len(data)} data bytes, shape {shape} needs {need}")
    a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return a.astype(dtype.newbyteorder("="))  # native order, contiguous, writable copy


def _read_npy(data: bytes) -> np.ndarray:
    fp = io.BytesIO(data)
    shape, fortran, dtype = _npy_header(fp)
    if dtype.str[1:] not in ("u2", "f4", "f8"):
        raise ThermalFormatError("unsupported_dtype", f"{dtype}, need uint16 or float32/64")
    return _npy_array(data[fp.tell() :], shape, fortran, dtype)


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        # no end-of-central-directory record: the tail of the file is missing
        code = "corrupt" if b"PK\x05\x06" in data[-65_600:] else "truncated"
        raise ThermalFormatError(code, ".npz archive") from e
    out: dict[str, np.ndarray] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > _NPZ_MAX_MEMBERS:
            raise ThermalFormatError("unsupported_format", f".npz with {len(infos)} members")
        if "raw.npy" not in {i.filename for i in infos}:
            raise ThermalFormatError("no_thermal_data", ".npz without 'raw'")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ThermalFormatError("unsupported_format", f".npz member {info.filename!r}")
            key = info.filename[:-4]
            try:
                with zf.open(info) as fp:
                    shape, fortran, dtype = _npy_header(fp)
                    # refuse before reading: raw is one uint16 image, the rest scalars
                    if key == "raw" and dtype.str[1:] != "u2":
                        raise ThermalFormatError("unsupported_dtype", f".npz raw is {dtype}")
                    if key != "raw" and math.prod(shape) != 1:
                        raise ThermalFormatError("bad_calibration", f".npz {key!r} not a scalar")
                    need = math.prod(shape) * dtype.itemsize
                    # the archive's declared size must agree with the array header
                    if info.file_size != fp.tell() + need:
                        raise ThermalFormatError("bad_size", f".npz member {info.filename!r}")
                    body = fp.read(need)
            except ThermalFormatError:
                raise
            except (
                zipfile.BadZipFile,
                EOFError,
                OSError,
                RuntimeError,
                ValueError,
                zlib.error,
            ) as e:
                raise ThermalFormatError("corrupt", f".npz member {info.filename!r}") from e
            out[key] = _npy_array(body, shape, fortran, dtype)
    return out


def _npz_raw(members: dict[str, np.ndarray]) -> tuple[np.ndarray, Calibration | None]:
    raw = members.pop("raw")
    scalars = {k: float(v.reshape(())) for k, v in members.items()}
    width, height = scalars.pop("width", None), scalars.pop("height", None)
    if width is not None or height is not None:
        if width is None or height is None or not (width.is_integer() and height.is_integer()):
            raise ThermalFormatError("bad_dimensions", "width and height go together, as integers")
        w, h = int(width), int(height)
        flir.check_dims(w, h)
        if raw.ndim == 1 and raw.size == w * h:  # a flat pixel buffer plus its size
            raw = raw.reshape(h, w)
        elif raw.shape != (h, w):
            raise ThermalFormatError("bad_size", f"raw {raw.shape} vs declared {w}x{h}")
    return raw, (load_calibration(scalars) if scalars else None)


# -- building results ----------------------------------------------------------------


def _from_counts(
    raw: np.ndarray,
    planck: Planck | None,
    obj: ObjectParams,
    meta: dict[str, Any],
) -> ThermalImage:
    if planck is None:
        raise ThermalFormatError("missing_calibration")
    _check_array(raw)
    celsius = raw_to_celsius(raw, planck, obj)
    _check_range(celsius)
    meta.update(planck=asdict(planck), object_params=asdict(obj))
    return ThermalImage(celsius, meta, raw)


def _from_flir(
    frame: flir.FlirFrame, meta: dict[str, Any], calibration: Calibration | None
) -> ThermalImage:
    cam = frame.camera
    meta["raw_type"] = frame.raw_type
    if cam is not None:
        meta.update(cam.as_dict())
    planck = (calibration.planck if calibration else None) or (cam.planck if cam else None)
    obj = calibration.obj if calibration else cam.obj if cam else ObjectParams()
    meta["params_source"] = "calibration" if calibration else "embedded"
    if calibration and cam:
        meta["embedded_object_params"] = asdict(cam.obj)
    return _from_counts(frame.raw, planck, obj, meta)


def _from_uint16(
    a: np.ndarray, meta: dict[str, Any], calibration: Calibration | None
) -> ThermalImage:
    if calibration is not None:
        meta.update(format="raw_counts", params_source="calibration")
        return _from_counts(a, calibration.planck, calibration.obj, meta)
    _check_array(a)
    celsius = _centikelvin_lut()[a]
    _check_range(celsius)
    meta["format"] = "centikelvin"
    return ThermalImage(celsius, meta, None)


def _from_float(a: np.ndarray, meta: dict[str, Any]) -> ThermalImage:
    _check_array(a)
    if not np.isfinite(a).all():
        raise ThermalFormatError("not_finite")
    celsius = a.astype(np.float32)
    _check_range(celsius)
    meta["format"] = "celsius"
    return ThermalImage(celsius, meta, None)


def _finish(img: ThermalImage) -> ThermalImage:
    img.metadata.update(height=int(img.celsius.shape[0]), width=int(img.celsius.shape[1]))
    return img


def _no_frame(frame: int) -> None:
    if frame != 0:
        raise ThermalFormatError("frame_out_of_range", f"frame {frame} of a single image")


def read_thermal(
    data: bytes,
    *,
    name: str = "",
    calibration: Calibration | None = None,
    frame: int = 0,
) -> ThermalImage:
    """Decode one thermal frame (frame index counts in .seq only) to °C."""
    data = bytes(data)  # accept bytearray/memoryview; bytes slicing below
    meta: dict[str, Any] = {"source_name": name, "frame": frame}
    if not data:
        raise ThermalFormatError("empty")
    head = data[:8]
    if head.startswith(flir.JPEG_MAGIC):
        _no_frame(frame)
        meta["format"] = "flir_rjpeg"
        return _finish(_from_flir(flir.read_rjpeg(data), meta, calibration))
    if head.startswith(flir.FFF_MAGIC):
        decoded, offset = flir.read_seq_frame(data, frame)
        meta.update(format="flir_seq", frame_offset=offset)
        return _finish(_from_flir(decoded, meta, calibration))
    _no_frame(frame)
    if head.startswith(_NPY_MAGIC):
        a = _read_npy(data)
        meta["container"] = "npy"
        if a.dtype == np.uint16:
            return _finish(_from_uint16(a, meta, calibration))
        if calibration is not None:
            meta["calibration_ignored"] = True  # already °C
        return _finish(_from_float(a, meta))
    if head.startswith(_ZIP_MAGIC):
        raw, own = _npz_raw(_read_npz(data))
        meta.update(container="npz", format="raw_counts")
        if calibration is None and own is None:
            raise ThermalFormatError("missing_calibration", ".npz without Planck keys")
        planck = (calibration.planck if calibration else None) or (own.planck if own else None)
        obj = calibration.obj if calibration else own.obj if own else ObjectParams()
        meta["params_source"] = "calibration" if calibration else "embedded"
        return _finish(_from_counts(raw, planck, obj, meta))
    if head == flir.PNG_MAGIC or head[:4] in flir.TIFF_MAGICS:
        meta["container"] = "png" if head == flir.PNG_MAGIC else "tiff"
        return _finish(_from_uint16(flir.decode_image16(data), meta, calibration))
    raise ThermalFormatError("unsupported_format", f"unknown magic {head[:4].hex()}")


def read_frames(
    data: bytes, *, name: str = "", calibration: Calibration | None = None
) -> Iterator[ThermalImage]:
    """Every frame of a .seq in order (decoded lazily); the single frame otherwise."""
    data = bytes(data)
    if not data.startswith(flir.FFF_MAGIC):
        yield read_thermal(data, name=name, calibration=calibration)
        return
    for index, (decoded, offset) in enumerate(flir.iter_seq(data)):
        meta: dict[str, Any] = {
            "source_name": name,
            "frame": index,
            "format": "flir_seq",
            "frame_offset": offset,
        }
        yield _finish(_from_flir(decoded, meta, calibration))
