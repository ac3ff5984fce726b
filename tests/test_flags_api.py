"""Dishonest declarations flagged with their evidence, over the served API: each rule
with a scenario that must raise a flag and one that must not (a camera-observed
passage for travel, a checkpoint fever for symptoms, a recorded F1 for contact, a
borrowed QR), the flags routed to the police and the health station of the person's
commune and no one else, and staff acting on them with every change kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from dichte.domain.clock import today_in_vietnam
from dichte.domain.settings import Settings
from dichte.models.iris.synthetic import render_eye
from tests.factories import HUE, QUANG_TRI, distinct_declaration
from tests.live import SHARED_DATA, LiveServer, only_error, shared, wait_for
from tests.test_checkpoints_api import photo, push, thermal_face

BA_DINH = 4  # a ward of Hà Nội (province 1): a province our travellers never declare
HANOI = 1
DUONG_NO = 19909  # a ward of Huế (province 46)
VINH_LINH, CUA_TUNG = 19363, 19414  # Quảng Trị communes
NOW = datetime.now(UTC).replace(microsecond=0)
TRAIN = SHARED_DATA / "faces" / "face_recognition" / "examples" / "knn_examples" / "train"
ROSE, KIT = TRAIN / "rose_leslie", TRAIN / "kit_harington"
# How long the flag rules may take after the evidence is written: they run on the
# outbox reader, a moment after the write.
FLAG_WAIT_S = 20


def bearer(server: LiveServer, role: str, unit: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token(role, unit)}"}


@pytest.fixture(scope="module")
def national(server: LiveServer) -> dict[str, str]:
    return bearer(server, "national", 0)


@pytest.fixture(scope="module")
def province(server: LiveServer) -> dict[str, str]:
    return bearer(server, "province", QUANG_TRI)


@pytest.fixture(scope="module")
def venues(http: httpx.Client, national: dict[str, str]) -> dict[str, str]:
    """A café in Hà Nội and one in Huế: their posters' codes."""
    codes = {}
    for name, commune in (("hanoi", BA_DINH), ("hue", DUONG_NO)):
        r = http.post(
            "/api/v1/venues",
            headers=national,
            json={
                "name": f"Quán {name}",
                "type": "cafe",
                "owner_phone": "0912000111",
                "commune_code": commune,
            },
        )
        assert r.status_code == 201, r.text
        codes[name] = r.json()["code"]
    return codes


@pytest.fixture(scope="module")
def checkpoint(http: httpx.Client, province: dict[str, str]) -> str:
    """A one-lane checkpoint in Vĩnh Linh (Quảng Trị) that a device pushes frames to."""
    config = {
        "id": "flag-lane",
        "name": "Chốt kiểm tra cảnh báo",
        "commune_code": VINH_LINH,
        "lanes": 1,
        "cameras": [
            {"id": "fl-visible", "kind": "visible", "lane": 1, "source": "rtsp://10.0.0.7/s"},
            {
                "id": "fl-thermal",
                "kind": "thermal",
                "lane": 1,
                "source": "file:///srv/none/",
                "pair_of": "fl-visible",
                "homography": [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]],
            },
        ],
    }
    r = http.post("/api/v1/checkpoints", json=config, headers=province)
    assert r.status_code in (200, 201), r.text
    return str(config["id"])


@pytest.fixture
def forget_faces(http: httpx.Client, province: dict[str, str]) -> Iterator[list[str]]:
    """QR tokens whose faces a test enrolled: forgotten afterwards."""
    tokens: list[str] = []
    yield tokens
    for token in tokens:
        http.post("/api/v1/faces/forget", data={"person_token": token}, headers=province)


def person(commune: int = CUA_TUNG, **overrides: Any) -> dict[str, Any]:
    """A traveller living in `commune` who declares coming from Huế (travel history:
    Huế three days ago), no symptom, no contact."""
    body = distinct_declaration()
    body["residence"] = {
        "province_code": QUANG_TRI,
        "commune_code": commune,
        "street": "3 Trần Phú",
    }
    body["symptoms"] = {}
    body["biometric_consent"] = False
    body.update(overrides)
    return body


def declare(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post("/api/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def check_in(http: httpx.Client, code: str, token: str, at: datetime) -> None:
    r = http.post(
        "/api/v1/checkins", json={"venue_code": code, "person_token": token, "at": at.isoformat()}
    )
    assert r.status_code == 201, r.text


def flags_of(
    http: httpx.Client, headers: dict[str, str], unit: str, declaration_id: str
) -> list[dict[str, Any]]:
    r = http.get("/api/v1/flags", params={"unit": unit, "limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return [f for f in r.json()["items"] if f["declaration_id"] == declaration_id]


def raised(
    http: httpx.Client, headers: dict[str, str], unit: str, declaration_id: str, rule: str
) -> dict[str, Any]:
    found = wait_for(
        lambda: [f for f in flags_of(http, headers, unit, declaration_id) if f["rule"] == rule],
        FLAG_WAIT_S,
        f"a {rule} flag on {declaration_id}",
    )
    assert len(found) == 1, found
    return found[0]  # type: ignore[no-any-return]


def no_flag(
    http: httpx.Client, headers: dict[str, str], unit: str, declaration_id: str, marker: str
) -> None:
    """No flag on `declaration_id` once a flag on `marker` (written after it) is there:
    the reader takes the outbox in order, so it has judged the first already."""
    wait_for(lambda: flags_of(http, headers, unit, marker), FLAG_WAIT_S, "the marker's flag")
    assert flags_of(http, headers, unit, declaration_id) == []


def travel_marker(http: httpx.Client, hanoi_code: str) -> str:
    """A declaration that is flagged for sure (a check-in in Hà Nội, declared
    nowhere): written last, its flag says the reader has judged everything before it."""
    body = person()
    first = declare(http, {**body, "full_name": body["full_name"] + " A"})
    check_in(http, hanoi_code, first["qr_token"], NOW - timedelta(days=2))
    return str(declare(http, body)["id"])


# --- travel ------------------------------------------------------------------------------


def test_a_checkin_in_a_province_not_declared_is_flagged_with_it(
    http: httpx.Client, server: LiveServer, venues: dict[str, str]
) -> None:
    body = person()
    earlier = declare(http, {**body, "full_name": body["full_name"] + " X"})  # for a QR token
    check_in(http, venues["hanoi"], earlier["qr_token"], NOW - timedelta(days=2))
    check_in(http, venues["hue"], earlier["qr_token"], NOW - timedelta(days=3))
    later = declare(http, body)  # declares Huế, not Hà Nội
    police = bearer(server, "police_commune", CUA_TUNG)
    flag = raised(http, police, f"commune-{CUA_TUNG}", later["id"], "undeclared_travel")
    assert flag["status"] == "open" and flag["commune_code"] == CUA_TUNG
    (evidence,) = flag["evidence"]  # Hà Nội only: Huế was declared
    assert evidence["kind"] == "checkin" and evidence["province_code"] == HANOI
    assert flag["person_id"] == flag["person_id"] and flag["history"][0]["by"] == "system"


def test_a_checkin_recorded_late_flags_the_declaration_it_contradicts(
    http: httpx.Client, server: LiveServer, venues: dict[str, str]
) -> None:
    made = declare(http, person())
    check_in(http, venues["hanoi"], made["qr_token"], NOW - timedelta(days=1))  # backdated
    police = bearer(server, "police_commune", CUA_TUNG)
    flag = raised(http, police, f"commune-{CUA_TUNG}", made["id"], "undeclared_travel")
    assert [e["kind"] for e in flag["evidence"]] == ["checkin"]


def test_travel_that_was_declared_is_not_flagged(
    http: httpx.Client, server: LiveServer, venues: dict[str, str]
) -> None:
    body = person()
    earlier = declare(http, {**body, "full_name": body["full_name"] + " Y"})
    check_in(http, venues["hue"], earlier["qr_token"], NOW - timedelta(days=2))
    honest = declare(http, body)
    # after declaring: outside the period the declaration speaks for
    check_in(http, venues["hanoi"], earlier["qr_token"], datetime.now(UTC))
    police = bearer(server, "police_commune", CUA_TUNG)
    no_flag(http, police, f"commune-{CUA_TUNG}", honest["id"], travel_marker(http, venues["hanoi"]))


def test_a_camera_observed_passage_in_a_province_not_declared_is_flagged(
    http: httpx.Client, server: LiveServer, province: dict[str, str], checkpoint: str
) -> None:
    """Seen at the Vĩnh Linh checkpoint (Quảng Trị) by its camera, then declaring a
    trip from Hà Nội to Huế through nowhere else: the passage is the evidence."""
    body = person(
        coming_from={"province_code": HANOI},
        going_to={"province_code": HUE},
        travel_history=[],
    )
    body["residence"] = {"province_code": HANOI, "commune_code": BA_DINH, "street": "1 Hàng Bông"}
    seen = declare(http, {**body, "full_name": body["full_name"] + " Z"})
    passage = push(
        http,
        province,
        [photo("obama.jpg")],
        thermal=[thermal_face(http, photo("obama.jpg"), 35.6)],
        qr_text=seen["qr_token"],
        at=datetime.now(UTC) - timedelta(hours=5),
        checkpoint_id=checkpoint,
    )
    assert passage.status_code == 201, passage.text
    time.sleep(1.0)  # the declaration comes after the passage
    later = declare(http, body)
    police = bearer(server, "police_province", HANOI)
    flag = raised(http, police, f"province-{HANOI}", later["id"], "undeclared_travel")
    (evidence,) = flag["evidence"]
    assert evidence["kind"] == "passage" and evidence["place"] == checkpoint
    assert evidence["province_code"] == QUANG_TRI
    # routed to where it was seen too: Vĩnh Linh's police see it
    vinh_linh = bearer(server, "police_commune", VINH_LINH)
    assert flags_of(http, vinh_linh, f"commune-{VINH_LINH}", later["id"])


# --- fever -------------------------------------------------------------------------------


def feverish_passage(
    http: httpx.Client, headers: dict[str, str], checkpoint: str, qr_token: str
) -> httpx.Response:
    """A passage at the checkpoint with this QR and a canthus at 37.8 °C: a fever."""
    hot = photo("obama3.jpg")
    r = push(
        http,
        headers,
        [hot],
        thermal=[thermal_face(http, hot, 37.8)],
        qr_text=qr_token,
        checkpoint_id=checkpoint,
        at=datetime.now(UTC) + timedelta(seconds=30),
    )
    assert r.status_code == 201 and "fever" in r.json()["reasons"], r.text
    return r


def test_no_fever_declared_and_a_fever_measured_the_same_day_is_flagged(
    http: httpx.Client, server: LiveServer, province: dict[str, str], checkpoint: str
) -> None:
    made = declare(http, person(going_to={"province_code": QUANG_TRI}))
    r = feverish_passage(http, province, checkpoint, made["qr_token"])
    station = bearer(server, "commune", CUA_TUNG)  # the health station sees it too
    flag = raised(http, station, f"commune-{CUA_TUNG}", made["id"], "undeclared_fever")
    (evidence,) = flag["evidence"]
    assert evidence["kind"] == "screening" and evidence["record"] == r.json()["event_id"]


def test_a_fever_that_was_declared_is_not_flagged(
    http: httpx.Client,
    server: LiveServer,
    province: dict[str, str],
    checkpoint: str,
    venues: dict[str, str],
) -> None:
    made = declare(http, person(symptoms={"fever": True}))
    feverish_passage(http, province, checkpoint, made["qr_token"])
    station = bearer(server, "commune", CUA_TUNG)
    no_flag(http, station, f"commune-{CUA_TUNG}", made["id"], travel_marker(http, venues["hanoi"]))


# --- contact -----------------------------------------------------------------------------


def f1_of_a_case(http: httpx.Client, station: dict[str, str], document_number: str) -> None:
    """A confirmed case in Cửa Tùng who names `document_number` as a household contact."""
    case_person = person()
    r = http.post(
        "/api/v1/cases",
        headers=station,
        json={
            "document_number": case_person["document_number"],
            "full_name": case_person["full_name"],
            "commune_code": CUA_TUNG,
            "classification": "confirmed",
            "onset_date": str(today_in_vietnam() - timedelta(days=2)),
        },
    )
    assert r.status_code == 201, r.text
    contact = http.post(
        f"/api/v1/cases/{r.json()['id']}/contacts",
        headers=station,
        json={
            "document_number": document_number,
            "commune_code": CUA_TUNG,
            "kind": "household",
            "at": (NOW - timedelta(days=1)).isoformat(),
        },
    )
    assert contact.status_code in (200, 201), contact.text


def test_a_recorded_f1_declaring_no_contact_is_flagged(
    http: httpx.Client, server: LiveServer
) -> None:
    station = bearer(server, "commune", CUA_TUNG)
    body = person()
    f1_of_a_case(http, station, body["document_number"])
    made = declare(http, body)  # "no contact with a case"
    flag = raised(http, station, f"commune-{CUA_TUNG}", made["id"], "undeclared_contact")
    (evidence,) = flag["evidence"]
    assert evidence["kind"] == "contact"


def test_a_recorded_f1_declaring_the_contact_is_not_flagged(
    http: httpx.Client, server: LiveServer, venues: dict[str, str]
) -> None:
    station = bearer(server, "commune", CUA_TUNG)
    body = person(exposure={"contact_with_case": True})
    f1_of_a_case(http, station, body["document_number"])
    made = declare(http, body)
    no_flag(http, station, f"commune-{CUA_TUNG}", made["id"], travel_marker(http, venues["hanoi"]))


# --- borrowed QR -------------------------------------------------------------------------


@pytest.fixture
def owner_and_borrower(
    http: httpx.Client, forget_faces: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A QR's owner (Cửa Tùng) and someone who will show it (Vĩnh Linh), both consenting
    to biometrics; their faces are forgotten afterwards."""
    owner = declare(http, person(biometric_consent=True))
    other = declare(http, person(commune=VINH_LINH, biometric_consent=True))
    forget_faces += [owner["qr_token"], other["qr_token"]]
    return owner, other


def test_a_qr_shown_by_another_enrolled_person_is_flagged_on_them(
    http: httpx.Client,
    server: LiveServer,
    province: dict[str, str],
    checkpoint: str,
    owner_and_borrower: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    owner, other = owner_and_borrower
    start = datetime.now(UTC) + timedelta(minutes=5)
    # faces no other test of the session enrols and keeps
    for i, (who, face) in enumerate(((owner, ROSE / "img1.jpg"), (other, KIT / "john1.jpeg"))):
        picture = shared(face).read_bytes()
        enrol = push(
            http,
            province,
            [picture],
            thermal=[thermal_face(http, picture, 35.6)],
            qr_text=who["qr_token"],
            checkpoint_id=checkpoint,
            at=start + timedelta(seconds=10 * i),
        )
        assert enrol.json()["enrolled"] is True, enrol.text
    # the owner shows their own QR again: nothing to flag
    own = push(
        http,
        province,
        [shared(ROSE / "img2.jpg").read_bytes()],
        qr_text=owner["qr_token"],
        checkpoint_id=checkpoint,
        at=start + timedelta(seconds=30),
    )
    assert "qr_face_mismatch" not in own.json()["reasons"]
    borrowed = push(
        http,
        province,
        [shared(KIT / "john2.jpeg").read_bytes()],
        qr_text=owner["qr_token"],
        checkpoint_id=checkpoint,
        at=start + timedelta(seconds=40),
    )
    assert "qr_face_mismatch" in borrowed.json()["reasons"], borrowed.text
    police = bearer(server, "police_commune", VINH_LINH)  # where the borrower lives
    flag = raised(http, police, f"commune-{VINH_LINH}", owner["id"], "borrowed_qr")
    assert flag["person_id"] == borrowed.json()["face_person_id"]
    assert [e["record"] for e in flag["evidence"]] == [borrowed.json()["event_id"]]
    # one flag for the borrowed QR, none for the owner's own passage
    everywhere = flags_of(http, province, f"province-{QUANG_TRI}", owner["id"])
    assert [f["rule"] for f in everywhere if f["rule"] == "borrowed_qr"] == ["borrowed_qr"]


def synthetic_eye(identity: int, capture: int) -> bytes:
    """A near-infrared eye image of a synthetic iris (models.iris.synthetic): its own
    identity, so no other test's enrolled eye can answer for it."""
    image = render_eye(identity, capture=capture, rotation_deg=4.0 * capture)
    return cv2.imencode(".png", image.image)[1].tobytes()


def test_a_qr_shown_by_someone_whose_iris_is_enrolled_is_flagged_on_them(
    http: httpx.Client,
    server: LiveServer,
    province: dict[str, str],
    checkpoint: str,
    owner_and_borrower: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    owner, other = owner_and_borrower
    eyes = {owner["id"]: 910_001, other["id"]: 910_002}  # synthetic iris identities
    person_ids = {}
    for who in (owner, other):
        r = http.post(
            "/api/v1/iris/enroll",
            files={"image": ("eye.png", synthetic_eye(eyes[who["id"]], 0))},
            data={"person_token": who["qr_token"], "eye": "left"},
            headers=province,
        )
        assert r.status_code == 201, r.text
        person_ids[who["id"]] = r.json()["person_id"]
    face = shared(TRAIN / "alex_lacamoire" / "img1.jpg").read_bytes()
    start = datetime.now(UTC) + timedelta(minutes=7)
    try:
        # The owner's QR shown by the other person, whose eye the lane's iris camera reads.
        borrowed = push(
            http,
            province,
            [face],
            qr_text=owner["qr_token"],
            checkpoint_id=checkpoint,
            at=start,
            iris=[synthetic_eye(eyes[other["id"]], 1), synthetic_eye(eyes[other["id"]], 2)],
        )
        assert borrowed.status_code == 201, borrowed.text
        event = borrowed.json()
        assert "qr_iris_mismatch" in event["reasons"] and event["decision"] == "secondary_screening"
        assert event["iris"]["person_id"] == person_ids[other["id"]]
        assert event["iris"]["hd"] <= event_threshold()
        assert event["enrolled"] is False  # the presenter's face is not enrolled as the owner
        police = bearer(server, "police_commune", VINH_LINH)  # where the borrower lives
        flag = raised(http, police, f"commune-{VINH_LINH}", owner["id"], "borrowed_qr")
        assert flag["person_id"] == person_ids[other["id"]]
        assert [(e["record"], e["detail"]) for e in flag["evidence"]] == [
            (event["event_id"], "qr_of_another_person_by_iris")
        ]
        # The owner's own QR and eye: the iris confirms them, whatever face is in view.
        own = push(
            http,
            province,
            [face],
            qr_text=owner["qr_token"],
            checkpoint_id=checkpoint,
            at=start + timedelta(seconds=20),
            iris=[synthetic_eye(eyes[owner["id"]], 3)],
        )
        assert own.status_code == 201, own.text
        assert not {"qr_iris_mismatch", "qr_face_mismatch"} & set(own.json()["reasons"])
        assert own.json()["iris"]["person_id"] == person_ids[owner["id"]]
        # No QR at all: the eye names the owner and their declaration.
        no_qr = push(
            http,
            province,
            [face],
            checkpoint_id=checkpoint,
            at=start + timedelta(seconds=40),
            iris=[synthetic_eye(eyes[owner["id"]], 4)],
        )
        got = no_qr.json()
        assert got["person"]["person_id"] == person_ids[owner["id"]], got
        assert got["person"]["via"] == "iris" and got["declaration"]["status"] == "valid"
        # A file that is not an image is refused; an image without an eye is passed over.
        bad = push(http, province, [face], checkpoint_id=checkpoint, iris=[b"%PDF-1.4"])
        assert only_error(bad, 422)["field"] == "iris"
        blank = push(
            http,
            province,
            [face],
            checkpoint_id=checkpoint,
            at=start + timedelta(seconds=60),
            iris=[cv2.imencode(".png", np.full((280, 320), 128, np.uint8))[1].tobytes()],
        )
        assert blank.status_code == 201 and blank.json()["iris"] is None
    finally:
        for who in (owner, other):
            http.post(
                "/api/v1/iris/forget", data={"person_token": who["qr_token"]}, headers=province
            )


def event_threshold() -> float:
    return Settings().iris_match_threshold


# --- scoping and acting --------------------------------------------------------------------


def test_police_see_their_communes_flags_only_and_act_on_them(
    http: httpx.Client, server: LiveServer, venues: dict[str, str]
) -> None:
    made = declare(http, person())
    check_in(http, venues["hanoi"], made["qr_token"], NOW - timedelta(hours=20))
    police = bearer(server, "police_commune", CUA_TUNG)
    flag = raised(http, police, f"commune-{CUA_TUNG}", made["id"], "undeclared_travel")
    # another commune's police: not in their list, not readable, not their unit
    elsewhere = bearer(server, "police_commune", VINH_LINH)
    assert flags_of(http, elsewhere, f"commune-{VINH_LINH}", made["id"]) == []
    assert only_error(http.get(f"/api/v1/flags/{flag['id']}", headers=elsewhere), 403)
    assert only_error(
        http.get("/api/v1/flags", params={"unit": f"commune-{CUA_TUNG}"}, headers=elsewhere), 403
    )
    # the police read flags, not health records
    assert only_error(
        http.get("/api/v1/cases", params={"unit": f"commune-{CUA_TUNG}"}, headers=police), 403
    )
    url = f"/api/v1/flags/{flag['id']}"
    no_reason = http.patch(url, json={"status": "dismissed"}, headers=police)
    assert only_error(no_reason, 422)["code"] == "reason_required"
    assert http.get(url, headers=police).json()["status"] == "open"  # nothing changed
    referred = http.patch(
        url, json={"status": "referred", "reason": "hồ sơ gửi đội"}, headers=police
    )
    assert referred.status_code == 200, referred.text
    again = http.patch(url, json={"status": "referred"}, headers=police)
    assert only_error(again, 409)["code"] == "flag_unchanged"
    station = bearer(server, "commune", CUA_TUNG)
    confirmed = http.patch(url, json={"status": "confirmed"}, headers=station)
    history = confirmed.json()["history"]
    assert [(h["status"], h["role"]) for h in history] == [
        ("open", "system"),
        ("referred", "police_commune"),
        ("confirmed", "commune"),
    ]
    assert history[1]["reason"] == "hồ sơ gửi đội"
    listed = http.get(
        "/api/v1/flags",
        params={"unit": f"commune-{CUA_TUNG}", "status": "confirmed", "limit": 200},
        headers=police,
    ).json()["items"]
    assert flag["id"] in {f["id"] for f in listed}
    assert only_error(http.patch(url, json={"status": "solved"}, headers=police), 422)
