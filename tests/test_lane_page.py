"""The lane view an officer keeps open at a checkpoint (/checkpoints/<id>): each lane's
latest decision in words, the last passages, live from the stream, in Vietnamese or
English, and the API's own message when the token or the area is wrong."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import SHARED_DATA, LiveServer, assert_accessible, only_error, shared

pytestmark = pytest.mark.browser

TRAIN = SHARED_DATA / "faces" / "face_recognition" / "examples" / "knn_examples" / "train"
CHECKPOINT = f"lane-view-{uuid.uuid4().hex[:8]}"
VIETNAM = timezone(timedelta(hours=7))
WAIT = 30_000  # ms: a pushed passage reaches the page through the stream well within this

# What the page must say, by the API's codes (the words an officer reads).
DECISION = {
    "pass": {"vi": "QUA", "en": "PASS"},
    "secondary_screening": {"vi": "KIỂM TRA THÊM", "en": "SECONDARY SCREENING"},
}
REASON = {
    "fever": {"vi": "Sốt", "en": "Fever"},
    "no_reading": {"vi": "Không đo được nhiệt độ", "en": "No temperature reading"},
    "no_declaration": {"vi": "Chưa khai báo y tế", "en": "No health declaration"},
    "declaration_expired": {"vi": "Tờ khai y tế đã hết hạn", "en": "Health declaration expired"},
    "qr_forged": {"vi": "Mã QR giả hoặc bị sửa", "en": "Forged or altered QR code"},
    "qr_face_mismatch": {
        "vi": "Khuôn mặt không khớp với mã QR",
        "en": "Face does not match the QR code",
    },
    "case_or_contact": {"vi": "Ca bệnh hoặc F1", "en": "Confirmed case or contact"},
}
DECLARATION = {
    "valid": {"vi": "hợp lệ", "en": "valid"},
    "none": {"vi": "không có", "en": "none"},
    "expired": {"vi": "hết hạn", "en": "expired"},
    "forged": {"vi": "QR giả", "en": "forged QR"},
}
NO_READING = {"vi": "không đo được", "en": "no reading"}
VIA = {"qr": {"vi": "mã QR", "en": "QR code"}, "face": {"vi": "khuôn mặt", "en": "face"}}
NOBODY = {"vi": "không nhận diện được", "en": "not identified"}


@pytest.fixture(scope="module")
def province(server: LiveServer) -> str:
    return server.staff_token("province", QUANG_TRI)


@pytest.fixture(scope="module")
def checkpoint(http: httpx.Client, province: str) -> dict[str, Any]:
    """Two lanes, a visible camera each (nobody reads them: passages are pushed)."""
    config = {
        "id": CHECKPOINT,
        "name": "Chốt thử làn xe",
        "commune_code": 19363,
        "lanes": 2,
        "cameras": [
            {
                "id": f"lane{n}-visible",
                "kind": "visible",
                "lane": n,
                "source": f"rtsp://10.0.0.9/{n}",
            }
            for n in (1, 2)
        ],
    }
    r = http.post(
        "/api/v1/checkpoints", json=config, headers={"Authorization": f"Bearer {province}"}
    )
    assert r.status_code in (200, 201), r.text
    return config


def open_with(page: Any, server: LiveServer, token: str) -> None:
    page.goto(f"{server.base}/checkpoints/{CHECKPOINT}")
    page.locator("#lane_token").wait_for(state="visible", timeout=WAIT)
    page.fill("#lane_token", token)
    page.click("#lane_open")


def push(http: httpx.Client, token: str, lane: int, photo: bytes, qr_text: str) -> dict[str, Any]:
    """One passage from the checkpoint's device; the event it was answered with."""
    r = http.post(
        "/api/v1/screenings",
        headers={"Authorization": f"Bearer {token}"},
        data={
            "checkpoint_id": CHECKPOINT,
            "lane": str(lane),
            "at": datetime.now(UTC).isoformat(),
            "qr_text": qr_text,
        },
        files=[("visible", ("v0.jpg", photo))],
        timeout=120,
    )
    assert r.status_code == 201, r.text
    return r.json()


def lane_panel(page: Any, event: dict[str, Any]) -> Any:
    """The event's lane panel, once it shows this event (it came by the stream)."""
    panel = page.locator(f'.lane-panel[data-lane="{event["lane"]}"]')
    page.locator(
        f'.lane-panel[data-lane="{event["lane"]}"][data-event-id="{event["event_id"]}"]'
    ).wait_for(timeout=WAIT)
    return panel


def assert_shows(panel: Any, event: dict[str, Any], lang: str) -> None:
    """The panel says what the event says, in words of `lang`."""
    text = panel.inner_text()
    assert panel.get_attribute("data-decision") == event["decision"]
    decision = panel.locator(".lane-decision").inner_text()
    assert DECISION[event["decision"]][lang] in decision, decision
    reasons = panel.locator(".lane-reasons li").all_inner_texts()
    assert len(reasons) == len(event["reasons"]), reasons
    for code, said in zip(event["reasons"], reasons, strict=True):
        assert REASON[code][lang] in said, (code, said)
    assert DECLARATION[event["declaration"]["status"]][lang] in text
    temperature = event["temperature"]
    if temperature is None:
        assert NO_READING[lang] in text
    else:
        core = f"{temperature['core_c']:.1f}"
        assert (core if lang == "en" else core.replace(".", ",")) in text
    person = event["person"]
    assert (VIA[person["via"]] if person else NOBODY)[lang] in text
    time = panel.locator("time")
    assert time.get_attribute("datetime") == event["at"]
    at = datetime.fromisoformat(event["at"]).astimezone(VIETNAM)
    assert time.inner_text().endswith(at.strftime("%H:%M:%S"))


def test_each_passage_shows_live_in_its_lane_and_the_list_in_both_languages(
    server: LiveServer,
    http: httpx.Client,
    page: Any,
    province: str,
    checkpoint: dict[str, Any],
) -> None:
    lane1_photo = shared(TRAIN / "kit_harington" / "john1.jpeg").read_bytes()
    lane2_photo = shared(TRAIN / "rose_leslie" / "img1.jpg").read_bytes()
    streams: list[str | None] = []

    def drop_the_first_stream(route: Any) -> None:
        streams.append(route.request.headers.get("last-event-id"))
        if len(streams) == 1:
            route.abort()  # the network fails once: the page must reconnect by itself
        else:
            route.continue_()

    page.route("**/stream", drop_the_first_stream)
    open_with(page, server, province)
    page.locator("#lane_view").wait_for(state="visible", timeout=WAIT)
    assert page.locator(".lane-panel").count() == 2
    assert page.locator("#lane_title").inner_text() == checkpoint["name"]
    assert page.evaluate("localStorage.getItem('dichte.staff_token')") == province
    assert_accessible(page, "opened, no passage yet")
    page.evaluate("window.stillTheSamePage = true")  # gone if anything reloads the page

    # No consent: the passage enrols nobody (the server's gallery is other tests' too).
    declaration = {**distinct_declaration(), "biometric_consent": False}
    traveller = http.post("/api/v1/declarations", json=declaration)
    assert traveller.status_code == 201, traveller.text
    first = push(http, province, 1, lane1_photo, traveller.json()["qr_token"])
    assert first["declaration"]["status"] == "valid" and first["person"]["via"] == "qr"
    panel1 = lane_panel(page, first)
    assert_shows(panel1, first, "vi")
    # The crop the API kept for this passage, loaded with the token.
    panel1.locator("img.lane-face").wait_for(state="visible", timeout=WAIT)
    assert panel1.locator("img.lane-face").evaluate("img => img.naturalWidth") == 112
    said = page.locator("#lane_announce").inner_text()
    assert "Làn 1" in said and DECISION[first["decision"]]["vi"] in said
    assert_accessible(page, "lane 1 decided")

    forged = push(http, province, 2, lane2_photo, "DT1.forged")
    assert "qr_forged" in forged["reasons"] and forged["decision"] == "secondary_screening"
    panel2 = lane_panel(page, forged)
    assert_shows(panel2, forged, "vi")
    assert "Mã QR giả hoặc bị sửa" in panel2.inner_text()
    assert panel1.get_attribute("data-event-id") == first["event_id"]  # lane 1 kept its own
    listed = page.locator("#lane_events li")
    assert listed.evaluate_all("items => items.map(li => li.dataset.eventId)")[:2] == [
        forged["event_id"],
        first["event_id"],
    ]
    newest = listed.first.inner_text()
    assert "KIỂM TRA THÊM" in newest and "Mã QR giả hoặc bị sửa" in newest
    assert "Làn 2" in page.locator("#lane_announce").inner_text()
    assert page.evaluate("window.stillTheSamePage") is True
    # Reconnected after the drop, from where the page's first load ended.
    assert len(streams) == 2 and streams[0] == streams[1] and streams[0]
    assert_accessible(page, "both lanes decided")

    page.click("#lang")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_shows(panel1, first, "en")
    assert_shows(panel2, forged, "en")
    assert "Forged or altered QR code" in listed.first.inner_text()
    assert "SECONDARY SCREENING" in listed.first.inner_text()
    assert "Recent passages" in page.locator("#lane_recent_title").inner_text()
    assert_accessible(page, "both lanes decided, in English")

    # Opened again later: the token is kept, and the latest passages load first.
    page.reload()
    lane_panel(page, forged)
    assert_shows(lane_panel(page, first), first, "en")
    assert listed.evaluate_all("items => items.map(li => li.dataset.eventId)")[:2] == [
        forged["event_id"],
        first["event_id"],
    ]


def test_a_wrong_token_shows_the_apis_message_and_asks_again(
    server: LiveServer, http: httpx.Client, page: Any, checkpoint: dict[str, Any]
) -> None:
    wrong = "not-a-staff-token"
    error = only_error(
        http.get(f"/api/v1/checkpoints/{CHECKPOINT}", headers={"Authorization": f"Bearer {wrong}"}),
        401,
    )
    open_with(page, server, wrong)
    message = page.locator("#lane_login_error")
    message.filter(has_text=error["message_vi"]).wait_for(timeout=WAIT)
    assert page.locator("#lane_token").is_visible()
    assert page.locator("#lane_token").input_value() == ""
    assert page.locator("#lane_view").is_hidden()
    assert page.evaluate("localStorage.getItem('dichte.staff_token')") is None
    assert_accessible(page, "wrong token")
    page.click("#lang")
    assert message.inner_text() == error["message_en"]
    assert_accessible(page, "wrong token, in English")


def test_another_areas_checkpoint_shows_the_refusal(
    server: LiveServer, http: httpx.Client, page: Any, checkpoint: dict[str, Any]
) -> None:
    elsewhere = server.staff_token("commune", 19702)
    error = only_error(
        http.get(
            f"/api/v1/checkpoints/{CHECKPOINT}",
            headers={"Authorization": f"Bearer {elsewhere}"},
        ),
        403,
    )
    open_with(page, server, elsewhere)
    message = page.locator("#lane_error")
    message.filter(has_text=error["message_vi"]).wait_for(timeout=WAIT)
    assert page.locator("#lane_view").is_hidden() and page.locator(".lane-panel").count() == 0
    assert page.locator("#lane_signout").is_visible()  # another token can be given
    assert_accessible(page, "another area's checkpoint")
    page.click("#lang")
    assert message.inner_text() == error["message_en"]
