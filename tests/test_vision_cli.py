"""`dichte faces verify` and `dichte qr decode` on real photos, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import SHARED_DATA, dichte, shared

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA
TEST_IMAGES = DATA / "faces" / "face_recognition" / "tests" / "test_images"


def dichte_at(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return dichte(*args, env={"PATH": "/usr/bin:/bin", "DICHTE_DATA_DIR": str(data_dir)})


def need(path: Path) -> str:
    return str(shared(path))


def test_faces_verify_prints_same_score_threshold(tmp_path: Path) -> None:
    obama, obama2 = need(TEST_IMAGES / "obama.jpg"), need(TEST_IMAGES / "obama2.jpg")
    biden = need(TEST_IMAGES / "biden.jpg")
    same = dichte_at(tmp_path, "faces", "verify", obama, obama2, "--json")
    assert same.returncode == 0, same.stderr
    got = json.loads(same.stdout)
    assert set(got) == {"same", "score", "threshold"}
    assert got["same"] is True and got["threshold"] == pytest.approx(0.363)
    other = json.loads(dichte_at(tmp_path, "faces", "verify", obama, biden, "--json").stdout)
    assert other["same"] is False and other["score"] < got["score"]
    # The models were prepared once into the data dir and reused.
    assert list((tmp_path / "models").glob("*.onnx"))


def test_faces_verify_refuses_a_photo_without_a_face(tmp_path: Path) -> None:
    wall = tmp_path / "wall.png"
    wall.write_bytes(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import cv2,numpy as n,sys;sys.stdout.buffer.write("
                "cv2.imencode('.png', n.full((200,200,3),128,n.uint8))[1].tobytes())",
            ],
            capture_output=True,
            check=True,
        ).stdout
    )
    r = dichte_at(tmp_path, "faces", "verify", need(TEST_IMAGES / "obama.jpg"), str(wall))
    assert r.returncode == 2 and "No face" in r.stderr
    bad = dichte_at(tmp_path, "faces", "verify", str(tmp_path / "missing.jpg"), str(wall))
    assert bad.returncode == 2


def test_qr_decode_prints_text_and_points(tmp_path: Path) -> None:
    folder = DATA / "qr" / "zxing_blackbox" / "qrcode-1"
    image = need(folder / "1.png")
    expected = (folder / "1.txt").read_text()
    r = dichte_at(tmp_path, "qr", "decode", image, "--json")
    assert r.returncode == 0, r.stderr
    (code,) = json.loads(r.stdout)["codes"]
    assert code["text"] == expected
    assert len(code["points"]) == 4
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    bad = dichte_at(tmp_path, "qr", "decode", str(junk))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
