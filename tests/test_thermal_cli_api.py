"""`dichte thermal read/face`, `dichte sim` and `POST /api/v1/thermal/measure`, as an
operator and a checkpoint client use them."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from dichte.models.thermal.formats import read_thermal
from dichte.models.thermal.simulator import CheckpointSimulator, SimConfig
from tests.live import SHARED_DATA, dichte, shared
from tests.test_thermal_screening import face_frame

ROOT = Path(__file__).resolve().parents[1]
THERMAL = SHARED_DATA / "thermal"
IR_2412 = THERMAL / "thermimage" / "IR_2412.jpg"
PUBLISHED_MAP = THERMAL / "thermimage" / "FLIRjpg_W640_H480_F1_I.raw"


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_thermal_read_prints_and_writes_the_published_temperatures(tmp_path: Path) -> None:
    src = shared(IR_2412)
    out = tmp_path / "t.npy"
    r = dichte("thermal", "read", str(src), "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["width"], summary["height"]) == (640, 480)
    # MANIFEST: the published map ranges 22.736–35.250 °C, mean 28.26.
    assert summary["min_c"] == pytest.approx(22.736, abs=0.01)
    assert summary["max_c"] == pytest.approx(35.250, abs=0.01)
    assert summary["mean_c"] == pytest.approx(28.26, abs=0.01)
    assert summary["metadata"]["object_params"]["emissivity"] == pytest.approx(0.95)
    published = np.fromfile(PUBLISHED_MAP, dtype="<f4").reshape(480, 640)
    assert np.abs(np.load(out) - published).max() < 0.01
    table = dichte("thermal", "read", str(src))
    assert table.returncode == 0 and "640×480" in table.stdout


def test_thermal_face_on_a_float_frame(tmp_path: Path) -> None:
    frame, a, b = face_frame(canthus_c=37.3)
    path = tmp_path / "face.npy"
    np.save(path, frame)
    eyes = f"{a[0]},{a[1]},{b[0]},{b[1]}"
    r = dichte("thermal", "face", str(path), "--eyes", eyes, "--ambient", "25", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["canthus_c"] == pytest.approx(37.3, abs=0.02)
    assert got["decision"] == "elevated" and got["core_c"] > 37.5
    assert 0 < got["uncertainty_c"] < 1
    small = dichte("thermal", "face", str(path), "--eyes", "150,110,170,110", "--json")
    assert json.loads(small.stdout)["decision"] == "invalid"
    assert json.loads(small.stdout)["reason"] == "face_too_small"
    bad = dichte("thermal", "face", str(path), "--eyes", "1,2,3")
    assert bad.returncode == 2 and "--eyes" in bad.stderr


def test_thermal_face_applies_the_fever_settings_as_the_api_does(tmp_path: Path) -> None:
    frame, a, b = face_frame(canthus_c=35.5)
    path = tmp_path / "face.npy"
    np.save(path, frame)
    eyes = f"{a[0]},{a[1]},{b[0]},{b[1]}"
    args = ("thermal", "face", str(path), "--eyes", eyes, "--ambient", "25", "--json")
    plain = json.loads(dichte(*args, env={"PATH": "/usr/bin:/bin"}).stdout)
    assert plain["decision"] == "normal"  # under 37.5 − 0.3
    # A province that screens from the core estimate itself (no margin) at that value.
    line = f"{plain['core_c'] - 0.05:.2f}"
    strict = dichte(
        *args,
        env={
            "PATH": "/usr/bin:/bin",
            "DICHTE_FEVER_THRESHOLD_C": line,
            "DICHTE_FEVER_SCREEN_MARGIN_C": "0",
        },
    )
    assert strict.returncode == 0, strict.stderr
    assert json.loads(strict.stdout)["decision"] == "elevated"


def test_thermal_read_refuses_a_broken_file_with_a_reason(tmp_path: Path) -> None:
    broken = tmp_path / "cut.jpg"
    broken.write_bytes(shared(IR_2412).read_bytes()[:5000])
    r = dichte("thermal", "read", str(broken))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_sim_writes_frames_that_decode_to_the_scene(tmp_path: Path) -> None:
    r = dichte("sim", str(tmp_path), "--people", "3", "--seed", "4")
    assert r.returncode == 0, r.stderr
    truth = json.loads((tmp_path / "truth.json").read_text())
    persons = truth["persons"]
    assert len(persons) == 3
    frames = sorted((tmp_path / "thermal").glob("*.png"))
    assert len(frames) == sum(len(p["frames"]) for p in persons)
    assert len(list((tmp_path / "visible").glob("*.jpg"))) == len(frames)
    # The same seed in memory renders the same frames and truth the files hold.
    sim = CheckpointSimulator(SimConfig(seed=4, people=3))
    first = next(iter(list(sim.frames())))
    assert json.loads(json.dumps(sim.truth())) == truth
    decoded = read_thermal(frames[0].read_bytes(), name=frames[0].name)
    assert decoded.metadata["format"] == "centikelvin"
    assert np.abs(decoded.celsius - first.thermal_c).max() <= 0.006
    visible = cv2.imread(str(tmp_path / "visible" / "000000.jpg"))
    assert visible.shape == (480, 640, 3)
    assert persons[0]["frames"][0]["eyes_thermal"]
    assert persons[0]["identity"].startswith("synthetic:") and persons[0]["photo"] is None


def test_sim_with_a_faces_folder_composites_the_labelled_photos(tmp_path: Path) -> None:
    faces = shared(SHARED_DATA / "faces" / "labels" / "deepface_identity_clusters.csv")
    faces = faces.parents[1]
    # The face detector prepares its model under DICHTE_DATA_DIR, not the working tree.
    env = {**os.environ, "DICHTE_DATA_DIR": str(tmp_path / "var")}
    out_dir = tmp_path / "out"
    r = dichte("sim", str(out_dir), "--people", "3", "--seed", "2", "--faces", str(faces), env=env)
    assert r.returncode == 0, r.stderr
    persons = json.loads((out_dir / "truth.json").read_text())["persons"]
    for p in persons:
        assert (faces / p["photo"]).is_file()
        assert ":" in p["identity"] and not p["identity"].startswith("synthetic:")
        assert isinstance(p["declared"], bool)
        assert all(isinstance(f["qr_shown"], bool) for f in p["frames"])
    visible = cv2.imread(str(out_dir / "visible" / "000000.jpg"))
    assert visible.shape == (480, 640, 3)
    # A folder without the label tables is refused with a reason, not a traceback.
    bad = dichte("sim", str(tmp_path / "bad"), "--faces", str(tmp_path), env=env)
    assert bad.returncode == 2 and "labels" in bad.stderr and "Traceback" not in bad.stderr


# -- HTTP ------------------------------------------------------------------------------


def test_measure_endpoint_reads_a_flir_file(http: httpx.Client) -> None:
    data = shared(IR_2412).read_bytes()
    r = http.post("/api/v1/thermal/measure", files={"file": ("IR_2412.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["width"], got["height"]) == (640, 480)
    assert got["max_c"] == pytest.approx(35.250, abs=0.01)
    assert got["decision"] is None and got["core_c"] is None  # no face given: none invented


def test_measure_endpoint_screens_a_face(http: httpx.Client) -> None:
    frame, a, b = face_frame(canthus_c=35.4)
    files = {"file": ("face.npy", npy_bytes(frame), "application/octet-stream")}
    r = http.post(
        "/api/v1/thermal/measure",
        files=files,
        data={"eyes": f"{a[0]},{a[1]},{b[0]},{b[1]}", "ambient_c": "24"},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["decision"] == "normal"
    assert got["canthus_c"] == pytest.approx(35.4, abs=0.02)
    assert got["ambient_source"] == "given"
    box = http.post(
        "/api/v1/thermal/measure",
        files=files,
        data={"face_box": f"{a[0] - 20},{a[1] - 45},{b[0] - a[0] + 40},{120}"},
    )
    assert box.status_code == 200 and box.json()["decision"] in {"normal", "invalid"}


@pytest.mark.parametrize(
    ("name", "payload", "form", "field", "code"),
    [
        ("cut.jpg", "cut", {}, "file", None),
        ("plain.jpg", "plain", {}, "file", "no_thermal_data"),
        ("nan.npy", "nan", {}, "file", "not_finite"),
        ("cube.npy", "cube", {}, "file", None),
        ("junk.bin", "junk", {}, "file", None),
        ("ok.npy", "ok", {"eyes": "1,2,x,4"}, "eyes", "bad_coordinates"),
        ("ok.npy", "ok", {"face_box": "1,2,0,4"}, "face_box", "bad_coordinates"),
    ],
)
def test_measure_endpoint_refuses_bad_input_with_one_error_shape(
    http: httpx.Client, name: str, payload: str, form: dict[str, str], field: str, code: str | None
) -> None:
    ok = face_frame()[0]
    body = {
        "cut": shared(IR_2412).read_bytes()[:20000],
        "plain": cv2.imencode(".jpg", np.zeros((60, 80, 3), np.uint8))[1].tobytes(),
        "nan": npy_bytes(np.where(ok > 30, np.nan, ok)),
        "cube": npy_bytes(np.zeros((4, 4, 4), np.float32)),
        "junk": bytes(range(256)) * 10,
        "ok": npy_bytes(ok),
    }[payload]
    r = http.post("/api/v1/thermal/measure", files={"file": (name, body)}, data=form)
    assert 400 <= r.status_code < 500, r.text
    errors = r.json()["errors"]
    assert errors[0]["field"] == field
    assert errors[0]["message_en"] and errors[0]["message_vi"]
    if code:
        assert errors[0]["code"] == code


def test_measure_endpoint_limits_upload_size(http: httpx.Client) -> None:
    huge = b"\0" * (17 * 1024 * 1024)
    r = http.post("/api/v1/thermal/measure", files={"file": ("big.npy", huge)})
    assert r.status_code == 413
    assert r.json()["errors"][0]["code"] == "body_too_large"
    # The other endpoints keep their small limit.
    r = http.post("/api/v1/qr/verify", content=b"x" * (100 * 1024))
    assert r.status_code == 413
