"""Venues, check-ins, a confirmed case and its F1/F2 through the served API, as a
health officer and citizens would use it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dichte.domain.clock import VIETNAM_TZ, today_in_vietnam
from dichte.domain.keys import load_signing_key
from dichte.domain.settings import Settings
from dichte.domain.tokens import QrClaims, sign_qr
from tests.factories import DONG_HOI_WARD, HUE, QUANG_TRI, distinct_declaration
from tests.live import LiveServer, fill_declaration_form, only_error

NOW = datetime.now(UTC).replace(microsecond=0)


def ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


@dataclass
class Person:
    declaration_id: str
    token: str
    document_number: str
    full_name: str


def declare(http: httpx.Client, **overrides: Any) -> Person:
    body = distinct_declaration()
    body.update(overrides)
    r = http.post("/api/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    return Person(r.json()["id"], r.json()["qr_token"], body["document_number"], body["full_name"])


def bearer(server: LiveServer, role: str, unit: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token(role, unit)}"}


def venue(http: httpx.Client, headers: dict[str, str], name: str) -> dict[str, Any]:
    r = http.post(
        "/api/v1/venues",
        headers=headers,
        json={
            "name": name,
            "type": "cafe",
            "owner_phone": "0987654321",
            "commune_code": DONG_HOI_WARD,
            "street": "1 Quang Trung",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def scan(
    http: httpx.Client, path: str, code: str, who: Person, hours_ago: float, status: int = 201
) -> dict[str, Any]:
    r = http.post(
        f"/api/v1/{path}",
        json={"venue_code": code, "person_token": who.token, "at": ago(hours_ago)},
    )
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def confirm(http: httpx.Client, headers: dict[str, str], who: Person) -> dict[str, Any]:
    """A confirmed case of `who`, with symptoms since yesterday and not yet isolated."""
    r = http.post(
        "/api/v1/cases",
        headers=headers,
        json={
            "declaration_id": who.declaration_id,
            "classification": "confirmed",
            "onset_date": str(today_in_vietnam() - timedelta(days=1)),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def recorded_contact(http: httpx.Client, outbreak: dict[str, Any], who: Person) -> dict[str, Any]:
    contacts = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/recorded-contacts", headers=outbreak["province"]
    ).json()
    return next(c for c in contacts if c["document_number"] == who.document_number)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def outbreak(server: LiveServer, http: httpx.Client) -> dict[str, Any]:
    """A day in Đồng Hới: a café and a market, five people, one of them falls ill."""
    commune_staff = bearer(server, "commune", DONG_HOI_WARD)
    cafe = venue(http, commune_staff, "Quán cà phê Gió")
    market = venue(http, commune_staff, "Chợ Đồng Hới")
    # The case and a passenger declared at the same checkpoint in the same car.
    case = declare(http, checkpoint_id="cp-lao-bao", vehicle={"type": "car", "plate": "74A-555.55"})
    passenger = declare(
        http, checkpoint_id="cp-lao-bao", vehicle={"type": "car", "plate": "74A 555.55"}
    )
    friend, neighbour, early_bird, old_friend = (declare(http) for _ in range(4))

    scan(http, "checkins", cafe["code"], case, 30)  # yesterday, with an old friend: F1
    scan(http, "checkins", cafe["code"], old_friend, 29.5)
    scan(http, "checkins", cafe["code"], case, 6)
    scan(http, "checkouts", cafe["code"], case, 5, status=200)
    scan(http, "checkins", cafe["code"], friend, 5.5)  # overlaps the case: F1
    scan(http, "checkouts", cafe["code"], friend, 4.5, status=200)
    scan(http, "checkins", market["code"], early_bird, 8)  # met the friend before exposure
    scan(http, "checkins", market["code"], friend, 3)  # no check-out: 60 min by default
    scan(http, "checkins", market["code"], neighbour, 2.5)  # overlaps the friend: F2
    # A man without a smartphone, checked in at the café by commune staff: F1.
    walk_in = http.post(
        "/api/v1/checkins",
        headers=commune_staff,
        json={"venue_code": cafe["code"], "document_number": "045060000777", "at": ago(5.2)},
    )
    assert walk_in.status_code == 201, walk_in.text

    province = bearer(server, "province", QUANG_TRI)
    # Not isolated yet: infectious until now, so the car trip just declared counts.
    created = confirm(http, province, case)
    return {
        "cafe": cafe,
        "market": market,
        "case": case,
        "passenger": passenger,
        "friend": friend,
        "neighbour": neighbour,
        "early_bird": early_bird,
        "old_friend": old_friend,
        "case_id": created["id"],
        "created": created,
        "province": province,
        "commune_staff": commune_staff,
    }


def test_confirming_the_case_records_its_f1(outbreak: dict[str, Any]) -> None:
    # friend and old friend (café), the walk-in (café), the passenger (same car)
    assert outbreak["created"]["contacts_recorded"] == 4


def test_f1_and_f2_follow_the_rule(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    r = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/contacts?depth=2", headers=outbreak["province"]
    )
    assert r.status_code == 200, r.text
    f1 = {c["document_number"]: c for c in r.json()["f1"]}
    assert set(f1) == {
        outbreak["friend"].document_number,
        outbreak["old_friend"].document_number,
        "045060000777",
        outbreak["passenger"].document_number,
    }
    friend = f1[outbreak["friend"].document_number]
    assert datetime.fromisoformat(friend["first_exposure"]) == NOW - timedelta(hours=5.5)
    assert friend["exposures"][0]["place"] == outbreak["cafe"]["id"]
    kinds = {e["kind"] for e in f1[outbreak["passenger"].document_number]["exposures"]}
    assert kinds == {"checkpoint_vehicle"}
    f2 = {c["document_number"] for c in r.json()["f2"]}
    assert f2 == {outbreak["neighbour"].document_number}  # not the early bird

    depth1 = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/contacts?depth=1", headers=outbreak["province"]
    ).json()
    assert depth1["f2"] == []


def test_each_f1_gets_a_daily_follow_up_schedule(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    friend = recorded_contact(http, outbreak, outbreak["friend"])
    days = [f["date"] for f in friend["follow_ups"]]
    last_exposure = (NOW - timedelta(hours=5.5)).astimezone(VIETNAM_TZ).date()
    assert days[0] == str(last_exposure + timedelta(days=1))
    assert len(days) == 14 and days[-1] == str(last_exposure + timedelta(days=14))
    assert {f["status"] for f in friend["follow_ups"]} == {"pending"}

    # Confirming again (a PATCH that changes nothing) creates no duplicate contact.
    again = http.patch(
        f"/api/v1/cases/{outbreak['case_id']}",
        headers=outbreak["province"],
        json={"classification": "confirmed"},
    )
    assert again.json()["contacts_recorded"] == 0


def test_recording_a_follow_up(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    # Exposed yesterday: the first follow-up day is today at the latest.
    contact = recorded_contact(http, outbreak, outbreak["old_friend"])
    url = f"/api/v1/contacts/{contact['id']}/follow-ups"
    day = contact["follow_ups"][0]["date"]
    ok = http.post(
        url,
        headers=outbreak["province"],
        json={
            "date": day,
            "status": "seen_with_symptoms",
            "symptoms": {"fever": True},
            "temperature_c": 38.2,
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["follow_ups"][0]["status"] == "seen_with_symptoms"
    assert ok.json()["follow_ups"][1]["status"] == "pending"
    stored = http.get(f"/api/v1/contacts/{contact['id']}", headers=outbreak["province"]).json()
    assert stored["follow_ups"][0]["temperature_c"] == 38.2

    before = str(date.fromisoformat(day) - timedelta(days=1))
    outside = http.post(
        url, headers=outbreak["province"], json={"date": before, "status": "seen_ok"}
    )
    assert only_error(outside, 422)["code"] == "not_a_follow_up_day"
    later = contact["follow_ups"][-1]["date"]
    future = http.post(url, headers=outbreak["province"], json={"date": later, "status": "seen_ok"})
    assert only_error(future, 422)["code"] == "date_in_future"


def test_areas_decide_who_sees_the_case(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    url = f"/api/v1/cases/{outbreak['case_id']}"
    assert http.get(url, headers=outbreak["commune_staff"]).status_code == 200
    assert (
        only_error(http.get(url, headers=bearer(server, "commune", 1)), 403)["code"] == "forbidden"
    )
    centre = {
        "Authorization": "Bearer "
        + server.staff_token("health_centre", 4401, communes=f"{DONG_HOI_WARD},18883")
    }
    assert http.get(url, headers=centre).status_code == 200
    assert only_error(http.get(url), 401)["code"] == "unauthorized"


def test_a_citizen_sees_only_their_own_check_ins(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    mine = http.post("/api/v1/checkins/mine", json={"person_token": outbreak["friend"].token})
    names = [c["venue_name"] for c in mine.json()["checkins"]]
    assert names == ["Chợ Đồng Hới", "Quán cà phê Gió"]  # newest first
    other = http.post("/api/v1/checkins/mine", json={"person_token": outbreak["neighbour"].token})
    assert [c["venue_name"] for c in other.json()["checkins"]] == ["Chợ Đồng Hới"]


def test_the_chain_shows_case_f1_and_f2(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    chain = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/chain", headers=outbreak["province"]
    ).json()
    labels = {n["label"]: n["kind"] for n in chain["nodes"]}
    assert labels[outbreak["case"].full_name] == "case"
    assert labels[outbreak["friend"].full_name] == "f1"
    assert labels[outbreak["neighbour"].full_name] == "f2"
    svg = http.get(f"/api/v1/cases/{outbreak['case_id']}/chain.svg", headers=outbreak["province"])
    assert svg.headers["content-type"] == "image/svg+xml"
    assert outbreak["neighbour"].full_name in svg.text
    assert "F2 — tiếp xúc với F1 (1)" in svg.text


def test_poster_scans_back_to_the_venue_code(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    cafe = outbreak["cafe"]
    png = http.get(cafe["poster_urls"]["png"])
    assert png.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (1754, 1240)  # A4 at 150 dpi
    # A phone camera opens the link; the link ends with the signed venue code.
    scanned = cv2.QRCodeDetectorAruco().detectAndDecode(image)[0]
    assert scanned == cafe["checkin_url"] == f"{str(http.base_url).rstrip('/')}/c/{cafe['code']}"
    assert http.get(cafe["poster_urls"]["pdf"]).content.startswith(b"%PDF")
    assert "Quán cà phê Gió" in http.get(cafe["poster_urls"]["svg"]).text


def test_check_in_is_idempotent_per_minute(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    who = declare(http)
    first = scan(http, "checkins", outbreak["cafe"]["code"], who, 1)
    again = scan(http, "checkins", outbreak["cafe"]["code"], who, 1, status=200)
    assert again["replayed"] is True
    assert again["checked_in_at"] == first["checked_in_at"]
    mine = http.post("/api/v1/checkins/mine", json={"person_token": who.token}).json()
    assert len(mine["checkins"]) == 1


def test_bad_scans_say_what_is_wrong(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    who = declare(http)
    code = outbreak["cafe"]["code"]
    forged_venue = code[:-6] + ("AAAAAA" if not code.endswith("AAAAAA") else "BBBBBB")
    err = only_error(
        http.post("/api/v1/checkins", json={"venue_code": forged_venue, "person_token": who.token}),
        400,
    )
    assert (err["field"], err["code"]) == ("venue_code", "token_bad_signature")

    key = load_signing_key(Settings(data_dir=server.data_dir))
    t = int((NOW - timedelta(days=30)).timestamp())
    expired = sign_qr(key, QrClaims("ab" * 16, b"\x01" * 16, t, t + 3600))
    err = only_error(
        http.post("/api/v1/checkins", json={"venue_code": code, "person_token": expired}), 410
    )
    assert (err["field"], err["code"]) == ("person_token", "token_expired")

    future = http.post(
        "/api/v1/checkins",
        json={
            "venue_code": code,
            "person_token": who.token,
            "at": (NOW + timedelta(hours=1)).isoformat(),
        },
    )
    assert only_error(future, 422)["code"] == "date_in_future"
    stale = http.post(
        "/api/v1/checkins", json={"venue_code": code, "person_token": who.token, "at": ago(15 * 24)}
    )
    assert only_error(stale, 422)["code"] == "checkin_too_old"
    nobody = only_error(http.post("/api/v1/checkins", json={"venue_code": code}), 422)
    assert nobody["code"] == "person_required"
    staff_only = http.post(
        "/api/v1/checkins", json={"venue_code": code, "document_number": "045090123456"}
    )
    assert only_error(staff_only, 401)["code"] == "unauthorized"
    checkout = http.post("/api/v1/checkouts", json={"venue_code": code, "person_token": who.token})
    assert only_error(checkout, 409)["code"] == "no_open_checkin"


def test_public_venue_registration_is_rate_limited(http: httpx.Client) -> None:
    # The live server allows 5 an hour per address.
    body = {
        "name": "Tiệm tạp hóa",
        "type": "other",
        "owner_phone": "0912000111",
        "commune_code": DONG_HOI_WARD,
    }
    statuses = [http.post("/api/v1/venues", json=body).status_code for _ in range(7)]
    assert statuses.count(201) <= 5
    assert statuses[-1] == 429
    bad = http.post("/api/v1/venues", headers={}, json={**body, "commune_code": 1})
    assert bad.status_code in (422, 429)


def test_a_contact_who_falls_ill_becomes_a_case(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    friend = recorded_contact(http, outbreak, outbreak["friend"])
    converted = http.post(f"/api/v1/contacts/{friend['id']}/convert", headers=outbreak["province"])
    assert converted.status_code == 201, converted.text
    assert converted.json()["source_case_id"] == outbreak["case_id"]
    chain = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/chain", headers=outbreak["province"]
    ).json()
    node = next(n for n in chain["nodes"] if n["label"] == outbreak["friend"].full_name)
    assert node["kind"] == "case" and node["case_id"] == converted.json()["id"]


def test_a_household_contact_is_f1_and_is_traced_onwards(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    wife, shopkeeper = declare(http), declare(http)
    scan(http, "checkins", outbreak["market"]["code"], wife, 1)
    scan(http, "checkins", outbreak["market"]["code"], shopkeeper, 1.2)
    added = http.post(
        f"/api/v1/cases/{outbreak['case_id']}/contacts",
        headers=outbreak["province"],
        json={"document_number": wife.document_number, "kind": "household", "at": ago(2)},
    )
    assert added.status_code == 201, added.text
    assert len(added.json()["follow_ups"]) == 14
    r = http.get(
        f"/api/v1/cases/{outbreak['case_id']}/contacts?depth=2", headers=outbreak["province"]
    ).json()
    f1 = {c["document_number"]: c for c in r["f1"]}
    assert f1[wife.document_number]["exposures"][0]["kind"] == "household"
    assert shopkeeper.document_number in {c["document_number"] for c in r["f2"]}


def test_quarantine_before_a_meeting_removes_the_f2_until_cancelled(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    """F2 counts only the F1's stays before the F1's quarantine began."""
    url = f"/api/v1/cases/{outbreak['case_id']}/contacts?depth=2"

    def f2() -> set[str]:
        return {
            c["document_number"] for c in http.get(url, headers=outbreak["province"]).json()["f2"]
        }

    assert outbreak["neighbour"].document_number in f2()
    order = http.post(
        "/api/v1/quarantine-orders",
        headers=outbreak["province"],
        json={
            "document_number": outbreak["friend"].document_number,
            "kind": "home",
            "start": ago(4),
            "end": (NOW + timedelta(days=13)).isoformat(),
        },
    )
    assert order.status_code == 201, order.text
    assert outbreak["neighbour"].document_number not in f2()  # met at 3 h ago: after 4 h ago

    cancelled = http.patch(
        f"/api/v1/quarantine-orders/{order.json()['id']}",
        headers=outbreak["province"],
        json={"status": "cancelled"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert outbreak["neighbour"].document_number in f2()


@pytest.mark.browser
def test_a_phone_declares_then_checks_in_from_the_poster_link(
    http: httpx.Client,
    outbreak: dict[str, Any],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(outbreak["market"]["checkin_url"])  # what the camera opens
    page.locator("#declare").wait_for(state="visible")
    assert "chưa có tờ khai" in page.locator("#status").inner_text()
    page.click("#declare")
    fill_declaration_form(page, distinct_declaration())
    page.click("#submit")
    page.locator("#continue_checkin").wait_for(state="visible", timeout=30_000)
    page.click("#continue_checkin")
    page.locator("#checkout").wait_for(state="visible", timeout=30_000)
    assert page.locator("#venue").inner_text() == "Chợ Đồng Hới"
    page.click("#checkout")
    page.wait_for_function("document.getElementById('status').textContent.includes('check-out')")

    token = page.evaluate("localStorage.getItem('dichte.person_token')")
    mine = http.post("/api/v1/checkins/mine", json={"person_token": token}).json()["checkins"]
    assert [c["venue_name"] for c in mine] == ["Chợ Đồng Hới"]
    assert mine[0]["checked_out_at"] is not None
    context.close()


def test_staff_check_in_a_person_by_phone(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    who = declare(http, phone="0335123456")
    r = http.post(
        "/api/v1/checkins",
        headers=outbreak["commune_staff"],
        json={"venue_code": outbreak["cafe"]["checkin_url"], "phone": "+84 335 123 456"},
    )
    assert r.status_code == 201, r.text
    mine = http.post("/api/v1/checkins/mine", json={"person_token": who.token}).json()
    assert [c["venue_name"] for c in mine["checkins"]] == ["Quán cà phê Gió"]
    unknown = http.post(
        "/api/v1/checkins",
        headers=outbreak["commune_staff"],
        json={"venue_code": outbreak["cafe"]["code"], "phone": "0399999999"},
    )
    assert only_error(unknown, 404)["code"] == "person_unknown"


def test_staff_register_venues_only_in_their_area(server: LiveServer, http: httpx.Client) -> None:
    elsewhere = bearer(server, "commune", 1)
    r = http.post(
        "/api/v1/venues",
        headers=elsewhere,
        json={
            "name": "Nhà văn hóa",
            "type": "other",
            "owner_phone": "0912000111",
            "commune_code": DONG_HOI_WARD,
        },
    )
    assert only_error(r, 403)["code"] == "forbidden"


def _wave(
    http: httpx.Client, headers: dict[str, str], body: dict[str, Any]
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with http.stream("POST", "/api/v1/cases/trace", json=body, headers=headers) as r:
        if r.status_code != 200:
            r.read()  # the error body, for the caller to read
            return r, []
        return r, [json.loads(line) for line in r.iter_lines() if line]


def test_a_wave_of_cases_is_traced_at_once_each_answered_as_it_finishes(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    province = outbreak["province"]
    loner = declare(http)  # confirmed the same day, met nobody on record
    other = http.post(
        "/api/v1/cases",
        headers=province,
        json={
            "declaration_id": loner.declaration_id,
            "classification": "confirmed",
            "onset_date": str(today_in_vietnam()),
        },
    )
    assert other.status_code == 201, other.text
    unknown = "0" * 32
    ids = [outbreak["case_id"], other.json()["id"], outbreak["case_id"], unknown]
    r, lines = _wave(http, province, {"case_ids": ids, "depth": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    by_case = {line["case_id"]: line for line in lines}
    assert len(lines) == 3 and set(by_case) == set(ids)  # a repeated id is traced once
    for case_id in (outbreak["case_id"], other.json()["id"]):
        alone = http.get(f"/api/v1/cases/{case_id}/contacts?depth=2", headers=province)
        assert by_case[case_id]["status"] == 200
        assert by_case[case_id]["contacts"] == alone.json()  # the same as one at a time
        assert by_case[case_id]["ms"] >= 0
    assert by_case[outbreak["case_id"]]["contacts"]["f2"]  # the outbreak's F2 is there
    assert by_case[unknown]["status"] == 404 and by_case[unknown]["contacts"] is None
    assert by_case[unknown]["errors"][0]["code"] == "not_found"
    # Depth 1: no F2.
    _, shallow = _wave(http, province, {"case_ids": [outbreak["case_id"]], "depth": 1})
    assert shallow[0]["contacts"]["f2"] == [] and shallow[0]["contacts"]["f1"]
    # Another province's officer gets each case refused on its own line.
    elsewhere = bearer(server, "province", HUE)
    _, refused = _wave(http, elsewhere, {"case_ids": ids[:2]})
    assert [line["status"] for line in refused] == [403, 403]
    # A wave that cannot be read is refused whole, before any trace.
    for body in ({"case_ids": []}, {"case_ids": ids, "depth": 3}, {"case_ids": ["x"] * 1001}):
        assert only_error(_wave(http, province, body)[0], 422)["code"]
    assert _wave(http, {}, {"case_ids": ids})[0].status_code == 401


def test_the_served_traces_come_from_the_tracing_shards(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    """Monitoring sees where cases were traced: here every one by the tracing index
    (the shards answer), none from Redis directly."""
    province = outbreak["province"]
    r = http.get(f"/api/v1/cases/{outbreak['case_id']}/contacts?depth=2", headers=province)
    assert r.status_code == 200 and r.json()["f1"]
    by_via: dict[str, float] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "index" not in by_via:
        text = httpx.get(f"{server.metrics}/metrics", timeout=10).text
        by_via = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "ray_dichte_traces_total":
                    by_via[s.labels["via"]] = by_via.get(s.labels["via"], 0) + s.value
        time.sleep(2)
    assert by_via.get("index", 0) >= 1 and by_via.get("record", 0) == 0, by_via
