"""Faces and QR photos through the served API (`dichte run`: Serve, the inference
deployments, the gallery actor, Redis), as a checkpoint and a citizen use them."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import redis
import segno

from dichte.store.keys import Keys
from tests.factories import distinct_declaration
from tests.live import LiveServer, missing

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
TEST_IMAGES = FACES / "face_recognition" / "tests" / "test_images"


def photo(*parts: str) -> bytes:
    path = FACES.joinpath(*parts)
    if not path.exists():
        missing(f"shared data not present: {path}")
    return path.read_bytes()


def obama(n: str = "") -> bytes:
    return photo("face_recognition", "tests", "test_images", f"obama{n}.jpg")


def staff(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token('province', 44)}"}


def declare(http: httpx.Client, consent: bool) -> dict[str, Any]:
    r = http.post(
        "/api/v1/declarations", json={**distinct_declaration(), "biometric_consent": consent}
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_detect_finds_the_face_face_recognition_found(http: httpx.Client) -> None:
    r = http.post("/api/v1/faces/detect", files={"image": ("obama.jpg", obama())})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["width"], got["height"]) == (910, 1137)  # MANIFEST: shape (1137, 910, 3)
    (face,) = got["faces"]
    x, y, w, h = face["box"]
    # face_recognition's HOG box (top, right, bottom, left) = (142, 617, 409, 349).
    assert abs((x + w / 2) - (349 + 617) / 2) < 30 and abs((y + h / 2) - (142 + 409) / 2) < 40
    assert face["quality"]["ok"]
    two = http.post(
        "/api/v1/faces/detect",
        files={"image": ("two.jpg", photo("face_recognition", "examples", "two_people.jpg"))},
    )
    assert len(two.json()["faces"]) == 2


def test_verify_tells_same_from_different(http: httpx.Client) -> None:
    same = http.post(
        "/api/v1/faces/verify",
        files={"image_a": ("a.jpg", obama()), "image_b": ("b.jpg", obama("2"))},
    )
    assert same.status_code == 200, same.text
    assert same.json()["same"] is True
    other = http.post(
        "/api/v1/faces/verify",
        files={
            "image_a": ("a.jpg", obama()),
            "image_b": ("b.jpg", photo("face_recognition", "tests", "test_images", "biden.jpg")),
        },
    )
    assert other.status_code == 200, other.text
    assert other.json()["same"] is False
    assert other.json()["score"] < same.json()["score"]


def test_enrol_with_consent_then_identify_at_a_checkpoint(
    http: httpx.Client, server: LiveServer
) -> None:
    person = declare(http, consent=True)
    r = http.post(
        "/api/v1/faces/enroll",
        files={"image": ("selfie.jpg", obama())},
        data={"person_token": person["qr_token"], "receipt_secret": person["receipt_secret"]},
    )
    assert r.status_code == 201, r.text
    person_id = r.json()["person_id"]
    assert r.json()["source"] == "declaration_selfie"
    # Another photo of the same person at a checkpoint names them.
    seen = http.post(
        "/api/v1/faces/identify",
        files={"image": ("cam.jpg", obama("3"))},
        data={"k": "3"},
        headers=staff(server),
    )
    assert seen.status_code == 200, seen.text
    (face,) = seen.json()["faces"]
    assert face["identified"] and face["person_id"] == person_id
    # Someone never enrolled is unknown.
    stranger = http.post(
        "/api/v1/faces/identify",
        files={"image": ("cam.jpg", photo("facenet_pytorch", "paul_rudd", "1.jpg"))},
        headers=staff(server),
    )
    (face,) = stranger.json()["faces"]
    assert not face["identified"] and face["person_id"] is None
    # Sealed at rest: no 512-byte window of what Redis holds reads as a unit-length
    # float32 vector (what an embedding in clear would be).
    client = redis.Redis.from_url(redis_url_of(server))
    blob = client.get(Keys("dichte").face_template(person_id))
    assert blob is not None
    with np.errstate(all="ignore"):
        for offset in range(len(blob) - 511):
            v = np.frombuffer(blob[offset : offset + 512], "<f4").astype(np.float64)
            assert not (np.isfinite(v).all() and abs(np.linalg.norm(v) - 1) < 1e-3), offset
    assert 0 < client.ttl(Keys("dichte").face_template(person_id)) <= 21 * 86400
    # The QR alone (shown at every checkpoint) cannot withdraw someone else's template.
    alone = http.post("/api/v1/faces/forget", data={"person_token": person["qr_token"]})
    assert alone.status_code == 403, alone.text
    assert alone.json()["errors"][0]["code"] == "receipt_secret_invalid"
    # Withdrawn by the person (their receipt secret): forgotten at once.
    gone = http.post(
        "/api/v1/faces/forget",
        data={"person_token": person["qr_token"], "receipt_secret": person["receipt_secret"]},
    )
    assert gone.status_code == 200 and gone.json()["forgotten"] is True
    again = http.post(
        "/api/v1/faces/identify", files={"image": ("cam.jpg", obama("3"))}, headers=staff(server)
    )
    assert again.json()["faces"][0]["person_id"] != person_id


def redis_url_of(server: LiveServer) -> str:
    return f"unix://{server.data_dir / 'redis' / 'redis.sock'}"


def test_a_qr_token_alone_cannot_enrol_a_face_for_its_person(
    http: httpx.Client, server: LiveServer
) -> None:
    """Anyone who saw a person's QR at a checkpoint knows the token; only the phone that
    declared (the receipt secret) or staff present may enrol a face for them."""
    victim = declare(http, consent=True)
    for data in (
        {"person_token": victim["qr_token"]},
        {"person_token": victim["qr_token"], "receipt_secret": "guessed-secret"},
    ):
        r = http.post("/api/v1/faces/enroll", files={"image": ("me.jpg", obama())}, data=data)
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "receipt_secret_invalid"
    # Staff at a checkpoint capture the face of the person before them.
    r = http.post(
        "/api/v1/faces/enroll",
        files={"image": ("cam.jpg", obama())},
        data={"person_token": victim["qr_token"]},
        headers=staff(server),
    )
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "checkpoint"


def test_enrol_refuses_without_consent_or_face(http: httpx.Client, server: LiveServer) -> None:
    refused = declare(http, consent=False)
    r = http.post(
        "/api/v1/faces/enroll",
        files={"image": ("selfie.jpg", obama())},
        data={"person_token": refused["qr_token"], "receipt_secret": refused["receipt_secret"]},
    )
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "no_consent"
    ok = declare(http, consent=True)
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    r = http.post(
        "/api/v1/faces/enroll",
        files={"image": ("wall.jpg", blank)},
        data={"person_token": ok["qr_token"], "receipt_secret": ok["receipt_secret"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "no_face"
    r = http.post("/api/v1/faces/identify", files={"image": ("cam.jpg", obama())})
    assert r.status_code == 401


def huge_png() -> bytes:
    """A valid 20000×20000 grey PNG of a few hundred KB: what a decompression bomb is."""
    width = height = 20_000
    row = b"\x00" + b"\x00" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty"),
        (b"hello, not a photo", "not_an_image"),
        ("truncated", "truncated"),
        ("huge", "too_large"),
    ],
)
def test_bad_photos_get_a_clear_4xx(http: httpx.Client, body: Any, code: str) -> None:
    if body == "truncated":
        body = obama()[:4000]
    elif body == "huge":
        body = huge_png()
    r = http.post("/api/v1/faces/detect", files={"image": ("x.jpg", body)})
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == "image" and err["code"] == code and err["message_vi"]


def test_qr_photo_decodes_and_verifies_a_declaration(http: httpx.Client) -> None:
    person = declare(http, consent=False)
    buf = io.BytesIO()
    segno.make(person["qr_token"], error="m").save(buf, kind="png", scale=6, border=4)
    code = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    scene = np.full((720, 960, 3), 90, np.uint8)
    h, w = code.shape[:2]
    scene[100 : 100 + h, 200 : 200 + w] = code
    r = http.post(
        "/api/v1/qr/decode",
        files={"image": ("cam.jpg", cv2.imencode(".jpg", scene)[1].tobytes())},
    )
    assert r.status_code == 200, r.text
    (found,) = r.json()["codes"]
    assert found["text"] == person["qr_token"]
    assert found["declaration"]["valid"] is True
