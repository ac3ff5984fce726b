"""The field inspector's page (/inspect) in Chromium on a phone: a commune's venues due
for a visit, first things first, with why each is due; a visit recorded through the
form (the poster missing, a photo from the phone, its position) and then in the
venue's past visits and the commune's QR deployment report; the API's own words next
to a field it refuses; both languages; axe-core's checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from tests.factories import distinct_declaration
from tests.live import LiveServer, assert_accessible, wait_for

pytestmark = pytest.mark.browser

KIM_LONG = 19810  # Phường Kim Long (Huế, province 46): no other test lives here
HUE = 46
WAIT = 30_000
POSITION = {"latitude": 16.4637, "longitude": 107.5909, "accuracy": 12}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(http: httpx.Client, token: str, name: str, kind: str) -> dict[str, Any]:
    r = http.post(
        "/api/v1/venues",
        headers=bearer(token),
        json={
            "name": f"{name} {uuid.uuid4().hex[:4]}",
            "type": kind,
            "owner_phone": "0914000222",
            "commune_code": KIM_LONG,
            "street": "12 Kim Long",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def check_in(http: httpx.Client, venue: dict[str, Any]) -> None:
    declared = http.post("/api/v1/declarations", json=distinct_declaration())
    assert declared.status_code == 201, declared.text
    r = http.post(
        "/api/v1/checkins",
        json={
            "venue_code": venue["code"],
            "person_token": declared.json()["qr_token"],
            "at": datetime.now(UTC).isoformat(),
        },
    )
    assert r.status_code == 201, r.text


def jpeg() -> bytes:
    """A small photo as a phone camera sends it: a poster-less wall, a door."""
    image = np.full((240, 320, 3), (180, 190, 200), np.uint8)
    cv2.rectangle(image, (120, 60), (200, 239), (60, 80, 110), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


def open_with(page: Any, server: LiveServer, token: str, query: str = "") -> None:
    page.goto(f"{server.base}/inspect{query}")
    page.locator("#insp_token").wait_for(state="visible", timeout=WAIT)
    page.fill("#insp_token", token)
    page.click("#insp_open")


def card(page: Any, venue: dict[str, Any]) -> Any:
    return page.locator(f'#insp_venues > li[data-venue-id="{venue["id"]}"]')


def flags_shown(page: Any, venue: dict[str, Any]) -> list[str]:
    """The venue's badges, read at once (the list is redrawn when it reloads)."""
    return page.evaluate(  # type: ignore[no-any-return]
        "(id) => [...document.querySelectorAll(`#insp_venues > li[data-venue-id='${id}'] "
        ".insp-badge`)].map((b) => b.dataset.flag)",
        venue["id"],
    )


def test_an_inspector_records_a_visit_from_the_list_of_venues_due(
    server: LiveServer, http: httpx.Client, page: Any
) -> None:
    token = server.staff_token("commune", KIM_LONG)
    cafe = register(http, token, "Quán cà phê Kim Long", "cafe")
    market = register(http, token, "Chợ Kim Long", "market")
    page.context.grant_permissions(["geolocation"], origin=server.base)
    page.context.set_geolocation(POSITION)

    open_with(page, server, token)
    page.locator("#insp_view").wait_for(state="visible", timeout=WAIT)
    card(page, market).wait_for(timeout=WAIT)
    assert "Phường Kim Long" in page.locator("#insp_list_title").inner_text()
    for venue in (cafe, market):  # registered, nobody has scanned either yet
        assert flags_shown(page, venue) == ["never_scanned", "never_inspected"]
    badge = card(page, cafe).locator('.insp-badge[data-flag="never_scanned"]')
    assert badge.inner_text() == "Chưa có lượt quét nào"
    assert_accessible(page, "the list, in Vietnamese")

    # Someone checks in at the market: after a reload it is no longer "never scanned",
    # and the café, never scanned, comes first.
    check_in(http, market)
    page.click("#insp_reload")
    wait_for(lambda: flags_shown(page, market) == ["never_inspected"], 20, "the market scanned")
    first = page.locator("#insp_venues > li").first
    assert first.get_attribute("data-venue-id") == cafe["id"]
    assert "Chưa có lượt quét nào" in first.inner_text()

    # A visit with a number the API refuses: its message under that field.
    card(page, cafe).locator(".insp-record").click()
    form = card(page, cafe).locator("form.insp-form")
    form.wait_for(timeout=WAIT)
    wait_for(lambda: "16.46370" in form.locator(".insp-position").inner_text(), 10, "the position")
    form.locator('input[name="poster_displayed"][value="false"]').check()
    form.locator('input[name="people_present"]').fill("-1")
    form.locator('input[name="scans_seen_last_hour"]').fill("0")
    refused = http.post(
        f"/api/v1/venues/{cafe['id']}/inspections",
        headers=bearer(token),
        data={"poster_displayed": "false", "people_present": "-1", "scans_seen_last_hour": "0"},
    )
    assert refused.status_code == 422, refused.text
    (said,) = refused.json()["errors"]
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.locator(".insp-save").click()
    assert answer.value.status == 422
    error = form.locator('.field[data-field="people_present"] .err')
    error.wait_for(state="visible", timeout=WAIT)
    assert error.inner_text() == said["message_vi"]
    people = form.locator('input[name="people_present"]')
    assert people.get_attribute("aria-invalid") == "true"
    assert form.locator('.field[data-field="scans_seen_last_hour"] .err').inner_text() == ""
    assert_accessible(page, "the form with a field refused")

    # English: the same message in English, the badges in English.
    page.click("#lang")
    assert error.inner_text() == said["message_en"]
    assert card(page, cafe).locator('.insp-badge[data-flag="never_scanned"]').inner_text() == (
        "Never scanned"
    )
    assert form.locator(".insp-save").inner_text() == "Save the visit"

    # Corrected, with a photo from the phone's camera: recorded.
    people.fill("4")
    form.locator('textarea[name="notes"]').fill("Áp phích bị gỡ")
    form.locator('input[name="photo"]').set_input_files(
        files=[{"name": "poster.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.locator(".insp-save").click()
    assert answer.value.status == 201, answer.value.text()
    recorded = answer.value.json()
    page.locator("#insp_announce", has_text="Visit recorded at").wait_for(timeout=WAIT)
    # The list reloaded: the café is still due (never scanned), now for its poster too.
    wait_for(lambda: flags_shown(page, cafe) == ["never_scanned", "poster_missing"], 20, "the list")
    assert card(page, cafe).locator("form.insp-form").count() == 0

    # Its past visits, latest first: this one, with its photo.
    card(page, cafe).locator(".insp-history-toggle").click()
    visit = card(page, cafe).locator(f'li.insp-visit[data-inspection-id="{recorded["id"]}"]')
    visit.wait_for(timeout=WAIT)
    assert visit.get_attribute("data-poster-displayed") == "false"
    assert "no poster" in visit.inner_text() and "Áp phích bị gỡ" in visit.inner_text()
    visit.locator(".insp-photo-show").click()
    photo = visit.locator("img.insp-photo")
    photo.wait_for(timeout=WAIT)
    wait_for(lambda: photo.evaluate("img => img.naturalWidth") > 0, 10, "the photo shown")
    assert_accessible(page, "English, a venue's past visits")

    # What the API kept, and the commune's QR deployment report.
    visits = http.get(f"/api/v1/venues/{cafe['id']}/inspections", headers=bearer(token)).json()
    assert [v["id"] for v in visits] == [recorded["id"]]
    (kept,) = visits
    assert kept["poster_displayed"] is False and kept["people_present"] == 4
    assert kept["scans_seen_last_hour"] == 0 and kept["photo"] is True
    assert kept["latitude"] == pytest.approx(POSITION["latitude"])
    assert kept["longitude"] == pytest.approx(POSITION["longitude"])
    report = http.get(
        "/api/v1/reports/qr-deployment",
        headers=bearer(token),
        params={"unit": f"commune-{KIM_LONG}"},
    )
    assert report.status_code == 200, report.text
    (row,) = report.json()["rows"]
    assert row["venues_registered"] == 2
    assert row["venues_inspected"] == 1 and row["venues_compliant"] == 0
    assert row["venues_never_scanned"] == 1


def test_staff_of_the_province_name_the_commune(server: LiveServer, page: Any) -> None:
    province = server.staff_token("province", HUE)
    open_with(page, server, province)
    error = page.locator("#insp_error")
    error.wait_for(state="visible", timeout=WAIT)
    assert "xã/phường" in error.inner_text()  # the API's own words: choose a commune
    assert page.locator("#insp_view").is_hidden()

    page.goto(f"{server.base}/inspect?commune={KIM_LONG}")  # the token is kept
    page.locator("#insp_view").wait_for(state="visible", timeout=WAIT)
    assert "Phường Kim Long" in page.locator("#insp_list_title").inner_text()
    assert page.locator("#insp_error").inner_text() == ""
