"""Radiometric decoding against published ground truth (Thermimage, exiftool dumps) and
hostile inputs. Expected numbers come from /work/shared/data/MANIFEST.md section 2, the
Thermimage README and the exiftool dumps — never from the code under test."""

from __future__ import annotations

import io
import json
import pickle
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from dichte.models.thermal.formats import (
    Calibration,
    ThermalFormatError,
    ThermalImage,
    load_calibration,
    read_frames,
    read_thermal,
)
from dichte.models.thermal.radiometry import ObjectParams, Planck, celsius_to_raw, raw_to_celsius
from tests.live import missing

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
THERMAL = SHARED_DATA / "thermal"

# MANIFEST.md §2: IR_2412.jpg / SampleSEQ.seq (FLIR SC660) embedded constants
SC660_PLANCK = {"r1": 21106.77, "b": 1501.0, "f": 1.0, "o": -7340.0, "r2": 0.012545258}
SC660_ATMOSPHERE = {
    "alpha1": 0.006569,
    "alpha2": 0.012620,
    "beta1": -0.002276,
    "beta2": -0.006670,
    "x": 1.9,
}
IR_2412_OBJECT = {
    "emissivity": 0.95,
    "distance_m": 1.0,
    "reflected_c": 20.0,
    "atmospheric_c": 20.0,
    "window_c": 20.0,
    "window_transmission": 1.0,
    "humidity_pct": 50.0,
}


@pytest.fixture(scope="module")
def thermal_dir() -> Path:
    if not THERMAL.is_dir():
        missing(f"shared data not present: {THERMAL} (see MANIFEST.md §2)")
    return THERMAL


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _code(data: bytes, **kw: object) -> str:
    with pytest.raises(ThermalFormatError) as e:
        read_thermal(data, **kw)  # type: ignore[arg-type]
    return e.value.code


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _png(a: np.ndarray) -> bytes:
    ok, enc = cv2.imencode(".png", a)
    assert ok
    return enc.tobytes()


def _scene(h: int = 120, w: int = 160) -> np.ndarray:
    """A face-like field: 22 °C background, a 34–37.5 °C warm blob."""
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2))
    return (22.0 + 15.5 * blob + 0.01 * xx).astype(np.float64)


# -- Thermimage README single values (no files needed) ---------------------------------


def test_raw2temp_readme_value() -> None:
    obj = ObjectParams(emissivity=0.95, distance_m=1, window_transmission=0.96, humidity_pct=50)
    t = raw_to_celsius(17994.06, Planck(), obj)
    assert float(t) == pytest.approx(23.31223, abs=5e-6)


def test_temp2raw_readme_value() -> None:
    # temp2raw(23, E=1, OD=0, RTemp=20, ATemp=20, IRWTemp=20, IRT=1, RH=50, SC660 constants)
    raw = celsius_to_raw(23.0, Planck(**SC660_PLANCK), ObjectParams(distance_m=0))
    assert float(raw) == pytest.approx(17994.06, abs=0.005)


def test_raw_and_temp_are_inverse_for_any_scene() -> None:
    planck = Planck(r1=14866.514, r2=0.011086479, b=1395.7, f=1.0, o=-5859.0)
    obj = ObjectParams(0.98, 2.5, 24.0, 29.0, 22.0, 0.9, 75.0)
    t = np.linspace(-20, 120, 200)
    back = raw_to_celsius(celsius_to_raw(t, planck, obj), planck, obj)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, t, atol=1e-3)


def test_object_params_validate() -> None:
    for bad in (
        {"emissivity": 0.0},
        {"emissivity": 1.2},
        {"window_transmission": 0.0},
        {"humidity_pct": 101.0},
        {"distance_m": -1.0},
        {"reflected_c": float("nan")},
    ):
        with pytest.raises(ValueError):
            ObjectParams(**bad)
    with pytest.raises(ValueError):
        Planck(r1=-1.0)


# -- FLIR R-JPEG: IR_2412.jpg and the published temperature map ------------------------


def test_ir2412_matches_published_map(thermal_dir: Path) -> None:
    img = read_thermal(_bytes(thermal_dir / "thermimage/IR_2412.jpg"), name="IR_2412.jpg")
    published = np.fromfile(thermal_dir / "thermimage/FLIRjpg_W640_H480_F1_I.raw", dtype="<f4")
    published = published.reshape(480, 640)
    assert img.celsius.shape == (480, 640) and img.celsius.dtype == np.float32
    assert float(np.abs(img.celsius - published).max()) <= 0.01
    # README `str(img)`: R prints column-major, so these are rows 0-5 of column 0
    assert img.raw is not None and img.raw.dtype == np.uint16
    assert img.raw[0:6, 0].tolist() == [18090, 18074, 18064, 18061, 18081, 18057]
    np.testing.assert_allclose(img.celsius[0:5, 0], [23.73, 23.64, 23.59, 23.57, 23.68], atol=6e-3)

    meta = img.metadata
    json.dumps(meta)  # JSON-serialisable
    assert meta["format"] == "flir_rjpeg" and meta["params_source"] == "embedded"
    assert "SC660" in meta["camera_model"]
    for k, v in {**SC660_PLANCK, **SC660_ATMOSPHERE}.items():
        assert meta["planck"][k] == pytest.approx(v, rel=1e-6), k
    for k, v in IR_2412_OBJECT.items():
        assert meta["object_params"][k] == pytest.approx(v, abs=1e-4), k


def test_rjpeg_calibration_overrides_object_params(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/IR_2412.jpg")
    embedded = read_thermal(data)
    same = read_thermal(data, calibration=Calibration(obj=ObjectParams(**IR_2412_OBJECT)))
    np.testing.assert_array_equal(same.celsius, embedded.celsius)

    black = read_thermal(data, calibration=load_calibration({"object": {"emissivity": 1.0}}))
    assert black.metadata["params_source"] == "calibration"
    assert black.metadata["embedded_object_params"]["emissivity"] == pytest.approx(0.95)
    assert black.metadata["object_params"]["emissivity"] == 1.0
    # a warm object at emissivity 0.95 reads cooler if assumed a perfect blackbody
    assert float((embedded.celsius - black.celsius).mean()) > 0.1


# -- FLIR .seq -------------------------------------------------------------------------


def test_seq_frames_match_thermimage_readme(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/SampleSEQ.seq")
    frames = list(read_frames(data, name="SampleSEQ.seq"))
    assert len(frames) == 2
    for i, f in enumerate(frames):
        assert f.celsius.shape == (480, 640) and f.metadata["frame"] == i
        assert f.metadata["format"] == "flir_seq"
        json.dumps(f.metadata)
    first = frames[0]
    # getFrames reads each frame's pixels in file order: these are row 0, columns 0-5
    assert first.raw is not None
    assert first.raw[0, :6].tolist() == [17870, 17833, 17808, 17829, 17829, 17861]
    np.testing.assert_allclose(
        first.celsius[0, :6],
        [22.46279, 22.24723, 22.10131, 22.22390, 22.22390, 22.41040],
        atol=5e-4,
    )
    for k, v in SC660_PLANCK.items():
        assert first.metadata["planck"][k] == pytest.approx(v, rel=1e-6)

    # Thermimage templookup with the SEQ's parameters (README indexes from 1)
    planck = Planck(**first.metadata["planck"])
    obj = ObjectParams(**first.metadata["object_params"])
    lookup = raw_to_celsius(np.array([17171, 18272, 24931], dtype=np.uint16), planck, obj)
    np.testing.assert_allclose(lookup, [18.30355, 24.77367, 57.07398], atol=5e-4)

    # Random access gives the same frame as iteration.
    second = read_thermal(data, frame=1)
    np.testing.assert_array_equal(second.celsius, frames[1].celsius)
    assert _code(data, frame=2) == "frame_out_of_range"
    assert _code(data, frame=-1) == "frame_out_of_range"


def test_seq_frame_times(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/SampleSEQ.seq")
    t0, t1 = (datetime.fromisoformat(f.metadata["datetime_original"]) for f in read_frames(data))
    # README: 2012-06-13 15:52:08.698-0500 and 15:52:12.665-0500. Thermimage's getTimes
    # prints the clock in the R session's own zone and appends the file's offset, so
    # only date, minutes, seconds (to R's truncated millisecond) and offset carry over.
    readme = [datetime(2012, 6, 13, 15, 52, 8, 698000), datetime(2012, 6, 13, 15, 52, 12, 665000)]
    for ours, theirs in zip((t0, t1), readme, strict=True):
        assert ours.utcoffset() == timedelta(hours=-5)
        assert ours.date() == theirs.date()
        assert (ours.minute, ours.second) == (theirs.minute, theirs.second)
        assert 0 <= ours.microsecond - theirs.microsecond <= 1000
    assert (t1 - t0).total_seconds() == pytest.approx(3.967, abs=2e-3)


# -- other real R-JPEGs ----------------------------------------------------------------


def _exiftool_dump(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-16").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _num(text: str) -> float:
    return float(text.split()[0])


# MANIFEST.md §2: size, raw type, and the reference min/max it computed (±0.05 °C).
OTHER_RJPEGS = [
    ("read_thermal_py/ax8.jpg", 80, 60, "PNG", 24.36, 25.47),
    ("read_thermal_py/flir_example.jpg", 240, 320, "PNG", 25.95, 62.32),
    ("read_thermal_py/zenmuse_xtr.jpg", 640, 512, "TIFF", 15.93, 59.73),
    ("thermal_parser/FLIR_E40.jpg", 160, 120, "TIFF", 17.88, 24.70),
    ("thermal_parser/FLIR_B60.jpg", 180, 180, "PNG", -68.1, -0.2),
    ("thermal_parser/FLIR_T640.jpg", 640, 480, "PNG", 25.46, 97.85),
]


@pytest.mark.parametrize(("rel", "width", "height", "kind", "t_min", "t_max"), OTHER_RJPEGS)
def test_other_rjpegs(
    thermal_dir: Path, rel: str, width: int, height: int, kind: str, t_min: float, t_max: float
) -> None:
    img = read_thermal(_bytes(thermal_dir / rel), name=rel)
    assert img.celsius.shape == (height, width)
    # exiftool calls plain little-endian pixels "TIFF" (it adds the TIFF header itself)
    assert img.metadata["raw_type"] in ({"png"} if kind == "PNG" else {"tiff", "dat"})
    # byte order right: a wrongly swapped PNG gives nonsense, not a scene's range
    assert float(img.celsius.min()) == pytest.approx(t_min, abs=0.05)
    assert float(img.celsius.max()) == pytest.approx(t_max, abs=0.05)

    dump_path = thermal_dir / rel.replace(".jpg", ".exiftool.txt")
    if not dump_path.exists():
        return
    dump = _exiftool_dump(dump_path)
    meta = img.metadata
    assert (int(dump["Raw Thermal Image Width"]), int(dump["Raw Thermal Image Height"])) == (
        width,
        height,
    )
    assert dump["Raw Thermal Image Type"] == kind
    for key, tag in [
        ("r1", "Planck R1"),
        ("r2", "Planck R2"),
        ("b", "Planck B"),
        ("f", "Planck F"),
        ("o", "Planck O"),
        ("alpha1", "Atmospheric Trans Alpha 1"),
        ("alpha2", "Atmospheric Trans Alpha 2"),
        ("beta1", "Atmospheric Trans Beta 1"),
        ("beta2", "Atmospheric Trans Beta 2"),
        ("x", "Atmospheric Trans X"),
    ]:
        assert meta["planck"][key] == pytest.approx(_num(dump[tag]), rel=1e-6), tag
    obj = meta["object_params"]
    # exiftool prints these rounded to 0.01 / 0.1
    assert obj["emissivity"] == pytest.approx(_num(dump["Emissivity"]), abs=0.006)
    assert obj["distance_m"] == pytest.approx(_num(dump["Object Distance"]), abs=0.006)
    assert obj["window_transmission"] == pytest.approx(
        _num(dump["IR Window Transmission"]), abs=0.006
    )
    assert obj["humidity_pct"] == pytest.approx(_num(dump["Relative Humidity"]), abs=0.06)
    for key, tag in [
        ("reflected_c", "Reflected Apparent Temperature"),
        ("atmospheric_c", "Atmospheric Temperature"),
        ("window_c", "IR Window Temperature"),
    ]:
        assert obj[key] == pytest.approx(_num(dump[tag]), abs=0.06), tag
    assert meta["camera_model"] == dump["Camera Model"]
    when = dump["Date/Time Original"].replace(":", "-", 2).replace(" ", "T", 1)
    assert datetime.fromisoformat(meta["datetime_original"]) == datetime.fromisoformat(when)


# -- round trips through every non-FLIR format -----------------------------------------


def _centikelvin(t: np.ndarray) -> np.ndarray:
    return np.round((t + 273.15) * 100).astype(np.uint16)


def test_centikelvin_npy_png_tiff_round_trip() -> None:
    t = _scene()
    ck = _centikelvin(t)
    ok, tiff = cv2.imencode(".tiff", ck)
    assert ok
    for data, container in [(_npy(ck), "npy"), (_png(ck), "png"), (tiff.tobytes(), "tiff")]:
        img = read_thermal(data, name=f"frame.{container}")
        assert img.metadata["format"] == "centikelvin"
        assert img.metadata["container"] == container
        assert img.raw is None and img.celsius.dtype == np.float32
        assert float(np.abs(img.celsius - t).max()) <= 0.0051


def test_float_celsius_npy_round_trip() -> None:
    t = _scene()
    for dtype in (np.float32, np.float64):
        img = read_thermal(_npy(t.astype(dtype)))
        assert img.metadata["format"] == "celsius"
        np.testing.assert_allclose(img.celsius, t, atol=1e-5)
    # Fortran-ordered and big-endian arrays read the same
    img = read_thermal(_npy(np.asfortranarray(t.astype(">f8"))))
    np.testing.assert_allclose(img.celsius, t, atol=1e-5)


CALIBRATION_JSON = {
    "planck": {"r1": 15848.854, "r2": 0.014533112, "b": 1414.9, "f": 1.0, "o": -4405.0},
    "object": {
        "emissivity": 0.98,
        "distance_m": 1.5,
        "reflected_c": 26.0,
        "atmospheric_c": 31.0,
        "window_c": 27.0,
        "window_transmission": 0.95,
        "humidity_pct": 80.0,
    },
}


def _counts(t: np.ndarray, cal: Calibration) -> np.ndarray:
    assert cal.planck is not None
    return np.round(celsius_to_raw(t, cal.planck, cal.obj)).astype(np.uint16)


def test_raw_counts_npz_round_trip() -> None:
    t = _scene()
    cal = load_calibration(CALIBRATION_JSON)
    flat: dict[str, Any] = {**CALIBRATION_JSON["planck"], **CALIBRATION_JSON["object"]}
    buf = io.BytesIO()
    np.savez_compressed(buf, raw=_counts(t, cal), width=160, height=120, **flat)
    img = read_thermal(buf.getvalue(), name="frame.npz")
    assert img.metadata["format"] == "raw_counts" and img.metadata["container"] == "npz"
    assert img.raw is not None and img.raw.dtype == np.uint16
    assert float(np.abs(img.celsius - t).max()) <= 0.01
    assert img.metadata["object_params"]["humidity_pct"] == 80.0
    json.dumps(img.metadata)

    # a flat pixel buffer with its declared size is accepted too
    buf = io.BytesIO()
    np.savez(buf, raw=_counts(t, cal).ravel(), width=160, height=120, **flat)
    assert float(np.abs(read_thermal(buf.getvalue()).celsius - t).max()) <= 0.01


def test_raw_counts_png_and_npy_with_calibration_round_trip() -> None:
    t = _scene()
    cal = load_calibration(json.loads(json.dumps(CALIBRATION_JSON)))
    counts = _counts(t, cal)
    for data in (_png(counts), _npy(counts)):
        img = read_thermal(data, calibration=cal)
        assert img.metadata["format"] == "raw_counts"
        assert img.raw is not None
        np.testing.assert_array_equal(img.raw, counts)
        assert float(np.abs(img.celsius - t).max()) <= 0.01
    # without a calibration a uint16 PNG is centi-kelvin; these counts then read as
    # about -137 °C, which the physical-range check refuses instead of passing on
    assert _code(_png(counts), name="x.png") == "out_of_range"
    # raw counts need Planck constants
    assert _code(_png(counts), calibration=Calibration()) == "missing_calibration"


def test_load_calibration_forms_and_errors() -> None:
    nested = load_calibration(CALIBRATION_JSON)
    flat = load_calibration({**CALIBRATION_JSON["planck"], **CALIBRATION_JSON["object"]})
    assert nested == flat
    assert load_calibration({"object": {"emissivity": 0.98}}).planck is None
    for bad in (
        {"planck": {"r1": 1.0}},  # incomplete Planck
        {"emissivty": 0.98},  # typo
        {"emissivity": True},
        {"emissivity": "0.98"},
        {"emissivity": 0.0},
        {"object": {"humidity_pct": 150}},
        {"planck": [1, 2]},
    ):
        with pytest.raises(ThermalFormatError) as e:
            load_calibration(bad)
        assert e.value.code == "bad_calibration", bad


# -- hostile and broken input ----------------------------------------------------------


def test_truncated_rjpeg(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/IR_2412.jpg")
    first, last = data.find(b"FLIR\x00"), data.rfind(b"FLIR\x00")
    for n in (2, 3, 100, first + 100, (first + last) // 2, last + 20, len(data) - 2):
        assert _code(data[:n]) == "truncated", n


def test_rjpeg_missing_flir_segment(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/IR_2412.jpg")
    # drop the second FLIR APP1 segment: the FFF record can't be reassembled
    start = data.find(b"FLIR\x00", data.find(b"FLIR\x00") + 1) - 4
    (length,) = struct.unpack(">H", data[start + 2 : start + 4])
    assert _code(data[:start] + data[start + 2 + length :]) == "truncated"


def test_plain_jpeg_has_no_thermal_data() -> None:
    ok, jpg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    assert _code(jpg.tobytes(), name="photo.jpg") == "no_thermal_data"


def test_seq_cut_mid_frame(thermal_dir: Path) -> None:
    data = _bytes(thermal_dir / "thermimage/SampleSEQ.seq")
    cut = data[: len(data) - 1000]  # inside frame 1's pixels
    assert read_thermal(cut, frame=0).celsius.shape == (480, 640)
    assert _code(cut, frame=1) == "truncated"
    frames = read_frames(cut)
    next(frames)
    with pytest.raises(ThermalFormatError) as e:
        next(frames)
    assert e.value.code == "truncated"
    assert _code(data[:100_000]) == "truncated"  # inside frame 0
    assert _code(data[:40]) == "truncated"  # inside the first header


def test_seq_bad_declared_sizes(thermal_dir: Path) -> None:
    data = bytearray(_bytes(thermal_dir / "thermimage/SampleSEQ.seq"))
    # README: frame 0's pixel record starts at byte 2748; width is its second int16
    assert struct.unpack_from("<HH", data, 2748 + 2) == (640, 480)
    struct.pack_into("<H", data, 2748 + 2, 641)
    assert _code(bytes(data)) == "bad_size"
    struct.pack_into("<H", data, 2748 + 2, 9000)
    assert _code(bytes(data)) == "bad_dimensions"
    struct.pack_into("<H", data, 2748 + 2, 0)
    assert _code(bytes(data)) == "bad_dimensions"


def test_npz_declared_size_mismatch() -> None:
    cal = load_calibration(CALIBRATION_JSON)
    counts = _counts(_scene(), cal)
    flat: dict[str, Any] = {**CALIBRATION_JSON["planck"], **CALIBRATION_JSON["object"]}
    for raw, w, h in [(counts, 120, 160), (counts.ravel()[:-1], 160, 120)]:
        buf = io.BytesIO()
        np.savez(buf, raw=raw, width=w, height=h, **flat)
        assert _code(buf.getvalue()) == "bad_size"
    buf = io.BytesIO()
    np.savez(buf, raw=counts)  # no calibration anywhere
    assert _code(buf.getvalue()) == "missing_calibration"
    buf = io.BytesIO()
    np.savez(buf, raw=counts, **flat)
    assert _code(buf.getvalue()[:-200]) == "truncated"
    buf = io.BytesIO()
    np.savez(buf, raw=counts.astype(np.float32), **flat)
    assert _code(buf.getvalue()) == "unsupported_dtype"
    buf = io.BytesIO()
    np.savez(buf, raw=counts, **{**flat, "emissivity": np.ones(3)})
    assert _code(buf.getvalue()) == "bad_calibration"
    buf = io.BytesIO()
    np.savez(buf, celsius=_scene())
    assert _code(buf.getvalue()) == "no_thermal_data"


def test_float_arrays_rejected() -> None:
    t = _scene()
    nan, inf = t.copy(), t.copy()
    nan[3, 4], inf[5, 6] = np.nan, np.inf
    assert _code(_npy(nan)) == "not_finite"
    assert _code(_npy(inf)) == "not_finite"
    assert _code(_npy(np.full((10, 10), 1500.0))) == "out_of_range"
    assert _code(_npy(np.full((10, 10), -150.0))) == "out_of_range"
    assert _code(_npy(np.zeros((10, 10), np.uint16))) == "out_of_range"  # 0 K


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((2, 10, 10), np.float32),  # 3-D
        np.zeros((3, 10, 10), np.uint16),
        np.zeros(100, np.float32),  # 1-D
        np.zeros((0, 10), np.float32),  # empty
        np.zeros((8193, 1), np.float32),  # too big a side
    ],
)
def test_bad_array_shapes(array: np.ndarray) -> None:
    assert _code(_npy(array)) == "bad_dimensions"


def test_unsupported_dtypes_and_pickles() -> None:
    pickled = _npy(np.array([[object(), 1]], dtype=object))
    assert _code(pickled) == "unsupported_dtype"
    assert _code(_npy(np.zeros((4, 4), np.int32))) == "unsupported_dtype"
    assert _code(_png(np.zeros((4, 4), np.uint8))) == "unsupported_dtype"  # 8-bit photo
    assert _code(_png(np.zeros((4, 4, 3), np.uint16))) == "unsupported_format"


def test_declared_shape_checked_before_allocating() -> None:
    header = {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    huge = b"\x93NUMPY\x01\x00" + buf.getvalue()[8:] + b"\x00" * 64
    assert _code(huge) == "bad_dimensions"
    short = _npy(np.zeros((100, 100), np.float32))[:-10]
    assert _code(short) == "truncated"


def test_random_and_empty_bytes() -> None:
    rng = np.random.default_rng(7)
    assert _code(b"") == "empty"
    assert _code(rng.bytes(4096)) == "unsupported_format"
    assert _code(b"FFF\x00" + rng.bytes(100)) in {"unsupported_format", "truncated"}
    assert _code(b"\x89PNG\r\n\x1a\n" + rng.bytes(100)) == "corrupt"
    assert _code(_npy(np.zeros((4, 4), np.float32)), frame=1) == "frame_out_of_range"


def test_error_shape() -> None:
    with pytest.raises(ThermalFormatError) as e:
        read_thermal(b"")
    err = e.value
    assert isinstance(err, ValueError)
    assert err.message_en and err.message_vi and err.message_en != err.message_vi
    back = pickle.loads(pickle.dumps(err))  # crosses Ray process boundaries
    assert (back.code, back.message_vi) == (err.code, err.message_vi)


def test_result_type() -> None:
    img = read_thermal(_npy(_scene().astype(np.float32)))
    assert isinstance(img, ThermalImage)
    assert img.metadata["width"] == 160 and img.metadata["height"] == 120
    assert [f.metadata["format"] for f in read_frames(_npy(_scene()))] == ["celsius"]
