"""Checkpoints over HTTP, as ops and a checkpoint device use them: configuration changed
while the system runs, passages pushed as frames (real face photos, a radiometric frame
made to match them), one event and decision each, enrolment on a first consenting
passage and identification by face on the next, events listed and streamed, and a
co-traveller seen only at the checkpoint traced as F1."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from dichte.domain.clock import today_in_vietnam
from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import SHARED_DATA, LiveServer, only_error, shared

PHOTOS = SHARED_DATA / "faces" / "face_recognition" / "tests" / "test_images"
CAMERA = {"id": "lane1-visible", "kind": "visible", "lane": 1, "source": "rtsp://10.0.0.9/s"}


def photo(name: str) -> bytes:
    return shared(PHOTOS / name).read_bytes()


@pytest.fixture(scope="module")
def province(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token('province', QUANG_TRI)}"}


SCALE = 0.5  # the test checkpoint's homography: thermal pixels = visible pixels / 2


def thermal_face(http: httpx.Client, image: bytes, canthus_c: float) -> bytes:
    """A 640×480 °C frame (.npy) made for this photo: air 26 °C, a face at 34 °C around
    the photo's own eyes (as the homography maps them), cooler eyes, the inner canthus
    hot spots at `canthus_c`, a cool mouth below."""
    detected = http.post("/api/v1/faces/detect", files={"image": ("p.jpg", image)})
    assert detected.status_code == 200, detected.text
    landmarks = detected.json()["faces"][0]["landmarks"]
    (ax, ay), (bx, by) = [(x * SCALE, y * SCALE) for x, y in landmarks[:2]]
    d = float(np.hypot(bx - ax, by - ay))
    frame = np.full((480, 640), 26.0, np.float32)
    mx, my = (ax + bx) / 2, (ay + by) / 2
    cv2.circle(frame, (round(mx), round(my + 0.35 * d)), round(1.3 * d), 34.0, -1)
    cv2.line(frame, (round(mx - d), round(my + d)), (round(mx + d), round(my + d)), 31.0, 3)
    for (ex, ey), inward in (((ax, ay), 1), ((bx, by), -1)):
        axes = (round(d / 5), round(d / 12))
        cv2.ellipse(frame, (round(ex), round(ey)), axes, 0, 0, 360, 34.5, -1)
        spot = (round(ex + inward * 0.25 * d), round(ey))
        cv2.circle(frame, spot, max(2, round(d / 15)), canthus_c, -1)
    buf = io.BytesIO()
    np.save(buf, frame)
    return buf.getvalue()


@pytest.fixture(scope="module")
def checkpoint(http: httpx.Client, province: dict[str, str]) -> dict[str, Any]:
    """A one-lane checkpoint whose thermal camera sees at half the visible resolution."""
    config = {
        "id": "test-lane",
        "name": "Chốt thử nghiệm",
        "commune_code": 19363,
        "lanes": 1,
        "cameras": [
            CAMERA,
            {
                "id": "lane1-thermal",
                "kind": "thermal",
                "lane": 1,
                "source": "file:///srv/none/",
                "pair_of": "lane1-visible",
                "homography": [[SCALE, 0.0, 0.0], [0.0, SCALE, 0.0], [0.0, 0.0, 1.0]],
            },
        ],
    }
    r = http.post("/api/v1/checkpoints", json=config, headers=province)
    assert r.status_code in (200, 201), r.text
    return config


def declare(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    r = http.post("/api/v1/declarations", json={**distinct_declaration(), **overrides})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def push(
    http: httpx.Client,
    headers: dict[str, str],
    frames: list[bytes],
    *,
    thermal: list[bytes] | None = None,
    qr_text: str | None = None,
    at: datetime | None = None,
    checkpoint_id: str = "test-lane",
    iris: list[bytes] | None = None,
) -> httpx.Response:
    files = [("visible", (f"v{i}.jpg", f)) for i, f in enumerate(frames)]
    files += [("thermal", (f"t{i}.npy", t)) for i, t in enumerate(thermal or [])]
    files += [("iris", (f"e{i}.png", e)) for i, e in enumerate(iris or [])]
    data = {
        "checkpoint_id": checkpoint_id,
        "lane": "1",
        "at": (at or datetime.now(UTC)).isoformat(),
    }
    if qr_text:
        data["qr_text"] = qr_text
    return http.post("/api/v1/screenings", files=files, data=data, headers=headers, timeout=120)


def test_the_shipped_checkpoints_are_there_for_their_area(
    server: LiveServer, http: httpx.Client, province: dict[str, str]
) -> None:
    r = http.get("/api/v1/checkpoints/ql1-hai-lang", headers=province)
    assert r.status_code == 200, r.text
    assert r.json()["commune_code"] == 19702
    other = {"Authorization": f"Bearer {server.staff_token('commune', 19363)}"}
    assert only_error(http.get("/api/v1/checkpoints/ql1-hai-lang", headers=other), 403)
    assert only_error(http.get("/api/v1/checkpoints/nowhere", headers=province), 404)


def test_configuration_is_checked_and_changed_at_run_time(
    http: httpx.Client, province: dict[str, str]
) -> None:
    body = {"id": "cfg-test", "name": "Chốt cấu hình", "commune_code": 19363, "lanes": 1}
    bad = {
        **body,
        "cameras": [
            CAMERA,
            {
                "id": "t",
                "kind": "thermal",
                "lane": 1,
                "source": "ftp://x",
                "pair_of": "lane1-visible",
                "homography": [[1, 0, 0], [1, 0, 0], [0, 0, 1]],
            },
        ],
    }
    r = http.post("/api/v1/checkpoints", json=bad, headers=province)
    assert r.status_code == 422
    fields = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert fields == {
        ("cameras.1.source", "source_invalid"),
        ("cameras.1.homography", "homography_invalid"),
    }
    assert (
        http.post(
            "/api/v1/checkpoints", json={**body, "cameras": [CAMERA]}, headers=province
        ).status_code
        == 201
    )
    good = {
        **bad,
        "cameras": [
            CAMERA,
            {
                **bad["cameras"][1],
                "source": "file:///srv/t/",
                "homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
            },
        ],
    }  # type: ignore[index]
    assert http.post("/api/v1/checkpoints", json=good, headers=province).status_code == 200
    gone = http.delete("/api/v1/checkpoints/cfg-test/cameras/lane1-visible", headers=province)
    assert gone.status_code == 200 and gone.json()["cameras"] == []  # its thermal went too
    assert (
        only_error(http.delete("/api/v1/checkpoints/cfg-test/cameras/nope", headers=province), 404)[
            "code"
        ]
        == "not_found"
    )


@pytest.fixture
def enrolled(http: httpx.Client, province: dict[str, str]) -> Iterator[list[str]]:
    """QR tokens of the people a test's passages enrolled: their faces are forgotten
    afterwards (staff on their behalf), so the server's gallery holds no stray copy of a
    face another test enrols."""
    tokens: list[str] = []
    yield tokens
    for token in tokens:
        gone = http.post("/api/v1/faces/forget", data={"person_token": token}, headers=province)
        assert gone.status_code == 200 and gone.json()["forgotten"] is True, gone.text


def test_first_passage_enrols_the_next_is_known_by_face(
    http: httpx.Client,
    province: dict[str, str],
    checkpoint: dict[str, Any],
    enrolled: list[str],
) -> None:
    traveller = declare(http, biometric_consent=True)
    enrolled.append(traveller["qr_token"])
    first = push(
        http,
        province,
        [photo("obama.jpg")] * 2,
        thermal=[thermal_face(http, photo("obama.jpg"), 35.6)] * 2,
        qr_text=traveller["qr_token"],
    )
    assert first.status_code == 201, first.text
    event = first.json()
    assert event["person"]["via"] == "qr" and event["declaration"]["status"] == "valid"
    assert event["enrolled"] is True
    assert event["temperature"] is not None and abs(event["temperature"]["canthus_c"] - 35.6) < 0.2
    assert event["decision"] == "pass", event
    # Next time, no QR: the face names them, and their declaration is still valid.
    again = push(
        http,
        province,
        [photo("obama2.jpg")],
        thermal=[thermal_face(http, photo("obama2.jpg"), 35.6)],
        at=datetime.now(UTC) + timedelta(seconds=5),
    )
    assert again.status_code == 201, again.text
    known = again.json()
    assert known["person"] == {
        **known["person"],
        "person_id": event["person"]["person_id"],
        "via": "face",
    }
    assert known["declaration"]["status"] == "valid" and known["decision"] == "pass"
    # A fever the same way: the hot canthus decides.
    hot_photo = photo("obama3.jpg")
    hot = push(http, province, [hot_photo], thermal=[thermal_face(http, hot_photo, 37.6)])
    assert hot.json()["reasons"] == ["fever"]


def test_someone_elses_qr_and_no_declaration_send_to_secondary_screening(
    http: httpx.Client,
    province: dict[str, str],
    checkpoint: dict[str, Any],
    enrolled: list[str],
) -> None:
    owner = declare(http, biometric_consent=True)
    enrolled.append(owner["qr_token"])
    enrol = push(
        http,
        province,
        [photo("biden.jpg")],
        thermal=[thermal_face(http, photo("biden.jpg"), 35.6)],
        qr_text=owner["qr_token"],
    )
    assert enrol.json()["enrolled"] is True
    shared_qr = push(
        http,
        province,
        [photo("obama.jpg")],
        thermal=[thermal_face(http, photo("obama.jpg"), 35.6)],
        qr_text=owner["qr_token"],
        at=datetime.now(UTC) + timedelta(minutes=1),
    )
    assert "qr_face_mismatch" in shared_qr.json()["reasons"]
    stranger = shared(
        SHARED_DATA
        / "faces"
        / "face_recognition"
        / "examples"
        / "knn_examples"
        / "train"
        / "alex_lacamoire"
        / "img1.jpg"
    ).read_bytes()
    nobody = push(http, province, [stranger], thermal=[thermal_face(http, stranger, 35.6)])
    assert nobody.json()["reasons"] == ["no_declaration"]
    assert nobody.json()["person"] is None
    forged = push(
        http,
        province,
        [stranger],
        qr_text="DT1.forged",
        at=datetime.now(UTC) + timedelta(minutes=2),
    )
    assert set(forged.json()["reasons"]) == {"qr_forged", "no_reading"}


def test_bad_pushes_say_what_is_wrong(
    http: httpx.Client, province: dict[str, str], checkpoint: dict[str, Any]
) -> None:
    wall = cv2.imencode(".jpg", np.full((240, 320, 3), 128, np.uint8))[1].tobytes()
    assert only_error(push(http, province, [wall]), 422)["code"] == "no_face_in_frames"
    mismatch = push(
        http,
        province,
        [photo("obama.jpg")] * 2,
        thermal=[thermal_face(http, photo("obama.jpg"), 36.0)],
    )
    assert only_error(mismatch, 422)["code"] == "thermal_frames_mismatch"
    broken = push(http, province, [b"not a photo"])
    assert only_error(broken, 422)["field"] == "visible"
    assert only_error(push(http, {}, [photo("obama.jpg")]), 401)


def test_a_passage_replayed_is_one_event_and_events_page_and_stream(
    server: LiveServer, http: httpx.Client, province: dict[str, str], checkpoint: dict[str, Any]
) -> None:
    token = province["Authorization"].split()[1]
    streamed: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with httpx.stream(
            "GET",
            f"{server.base}/api/v1/checkpoints/test-lane/stream",
            params={"access_token": token},
            timeout=60,
        ) as r:
            opened.set()
            for line in r.iter_lines():
                if line.startswith("data: "):
                    streamed.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30)
    at = datetime.now(UTC) + timedelta(minutes=5)
    first = push(http, province, [photo("obama.jpg")], at=at)
    again = push(http, province, [photo("obama.jpg")], at=at)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["event_id"] == again.json()["event_id"]
    listener.join(30)
    assert [e["event_id"] for e in streamed] == [first.json()["event_id"]]
    page = http.get("/api/v1/checkpoints/test-lane/events", headers=province).json()
    ids = [e["event_id"] for e in page["events"]]
    assert ids.count(first.json()["event_id"]) == 1
    after = http.get(
        "/api/v1/checkpoints/test-lane/events", params={"since": page["next"]}, headers=province
    ).json()
    assert after == {"events": [], "next": page["next"]}


def test_a_co_traveller_seen_only_by_the_camera_is_traced(
    http: httpx.Client, province: dict[str, str], checkpoint: dict[str, Any]
) -> None:
    """Two people pass lane 1 within a minute (the camera reads no plate); one falls
    ill: the other is F1 by the shared vehicle."""
    # No consent: nothing to enrol (a face another test enrols stays that test's).
    driver, passenger = (
        declare(http, biometric_consent=False),
        declare(http, biometric_consent=False),
    )
    at = datetime.now(UTC) - timedelta(minutes=30)
    seen = {}
    for who, image, seconds in ((driver, "obama.jpg", 0), (passenger, "biden.jpg", 20)):
        r = push(
            http,
            province,
            [photo(image)],
            qr_text=who["qr_token"],
            at=at + timedelta(seconds=seconds),
        )
        assert r.status_code == 201, r.text
        seen[who["id"]] = r.json()["person"]["person_id"]
    case = http.post(
        "/api/v1/cases",
        headers=province,
        json={
            "declaration_id": driver["id"],
            "classification": "confirmed",
            "onset_date": str(today_in_vietnam()),
        },
    )
    assert case.status_code == 201, case.text
    f1 = http.get(f"/api/v1/cases/{case.json()['id']}/contacts?depth=1", headers=province).json()[
        "f1"
    ]
    kinds = {c["person_id"]: {e["kind"] for e in c["exposures"]} for c in f1}
    assert kinds == {seen[passenger["id"]]: {"checkpoint_vehicle"}}


def test_checkpoints_need_staff(http: httpx.Client) -> None:
    assert only_error(http.get("/api/v1/checkpoints/test-lane"), 401)["code"] == "unauthorized"
    assert only_error(http.get("/api/v1/checkpoints/test-lane/stream"), 401)
