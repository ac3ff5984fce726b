"""The flags page (/flags) in Chromium on a phone: a commune's police read a flag with
its evidence, are told by the API why a dismissal needs a reason, refer it and see the
history grow, in Vietnamese or English; another commune's police see their own (empty,
then refreshed) list and the API's refusal for the first commune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dichte.domain.errors import MESSAGES
from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import LiveServer, assert_accessible, only_error, wait_for

pytestmark = pytest.mark.browser

LAO_BAO = 19432  # Xã Lao Bảo (Quảng Trị): where the flagged traveller lives
HUONG_LAP = 19435  # Xã Hướng Lập (Quảng Trị): another commune's police
BO_DE = 130  # Phường Bồ Đề, Hà Nội: a province the travellers never declare
WAIT = 30_000  # ms
FLAG_WAIT_S = 20  # the flag rules run on the outbox reader, a moment after the write
NOW = datetime.now(UTC).replace(microsecond=0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def venue(server: LiveServer, http: httpx.Client) -> str:
    """A café in Bồ Đề (Hà Nội): its poster's code."""
    r = http.post(
        "/api/v1/venues",
        headers=bearer(server.staff_token("national", 0)),
        json={
            "name": "Quán cà phê Bồ Đề",
            "type": "cafe",
            "owner_phone": "0912000222",
            "commune_code": BO_DE,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def flags_of(http: httpx.Client, token: str, unit: str, declaration_id: str) -> list[Any]:
    query: dict[str, str | int] = {"unit": unit, "limit": 200, "status": "open"}
    r = http.get("/api/v1/flags", params=query, headers=bearer(token))
    assert r.status_code == 200, r.text
    return [f for f in r.json()["items"] if f["declaration_id"] == declaration_id]


def flagged_traveller(http: httpx.Client, venue: str, commune: int, police: str) -> dict[str, Any]:
    """Someone of `commune` who checked in at the Hà Nội café two days ago and then
    declares coming from Huế only: their declaration's undeclared_travel flag."""
    body = distinct_declaration()
    body["residence"] = {"province_code": QUANG_TRI, "commune_code": commune, "street": "7 Lê Duẩn"}
    body["symptoms"] = {}
    body["biometric_consent"] = False
    first = http.post("/api/v1/declarations", json={**body, "full_name": body["full_name"] + " Q"})
    assert first.status_code == 201, first.text  # for a QR token
    checkin = http.post(
        "/api/v1/checkins",
        json={
            "venue_code": venue,
            "person_token": first.json()["qr_token"],
            "at": (NOW - timedelta(days=2)).isoformat(),
        },
    )
    assert checkin.status_code == 201, checkin.text
    later = http.post("/api/v1/declarations", json=body)
    assert later.status_code == 201, later.text
    found = wait_for(
        lambda: flags_of(http, police, f"commune-{commune}", later.json()["id"]),
        FLAG_WAIT_S,
        "the undeclared_travel flag",
    )
    (flag,) = found
    assert flag["rule"] == "undeclared_travel", flag
    return flag


def open_with(page: Any, server: LiveServer, token: str) -> None:
    page.goto(f"{server.base}/flags")
    page.locator("#flags_token").wait_for(state="visible", timeout=WAIT)
    page.fill("#flags_token", token)
    page.click("#flags_open")


def read(http: httpx.Client, token: str, flag_id: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/flags/{flag_id}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_police_read_a_flags_evidence_and_refer_it(
    server: LiveServer, http: httpx.Client, page: Any, venue: str
) -> None:
    police = server.staff_token("police_commune", LAO_BAO)
    flag = flagged_traveller(http, venue, LAO_BAO, police)
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/stream" in r.url else None)
    page.clock.install()  # the 30 s refresh runs only when the test says so

    open_with(page, server, police)
    page.locator("#flags_view").wait_for(state="visible", timeout=WAIT)
    item = page.locator(f'li.flags-flag[data-id="{flag["id"]}"]')
    # the commune's name comes with the communes of its province, asked for once listed
    item.filter(has_text="Xã Lao Bảo").wait_for(timeout=WAIT)
    assert page.locator("#flags_status").input_value() == "open"
    text = item.inner_text()
    assert "Đi lại không khai báo" in text and "14 ngày" in text  # the rule and its meaning
    assert flag["declaration_id"] in text and flag["person_id"][:8] in text
    (evidence,) = flag["evidence"]
    shown = item.locator('.flags-evidence li[data-kind="checkin"]')
    assert shown.count() == 1
    assert "Quét mã QR tại địa điểm" in shown.inner_text()
    assert "Thành phố Hà Nội" in shown.inner_text() and evidence["place"] in shown.inner_text()
    assert shown.locator("time").get_attribute("datetime") == evidence["at"]
    assert item.locator(".flags-status").inner_text() == "Chưa xử lý"
    assert item.locator(".flags-history li").count() == 1
    assert item.locator('button[data-action="open"]').count() == 0  # open already
    assert_accessible(page, "a commune's open flags")

    # Dismissed without a reason: the API's words next to the box, nothing changed.
    item.locator('button[data-action="dismissed"]').click()
    box_error = page.locator(f"#flag_{flag['id']}_reason_error")
    box_error.filter(has_text=MESSAGES["reason_required"][0]).wait_for(timeout=WAIT)
    box = page.locator(f"#flag_{flag['id']}_reason")
    assert box.get_attribute("aria-invalid") == "true"
    assert box.get_attribute("aria-describedby") == f"flag_{flag['id']}_reason_error"
    unchanged = read(http, police, flag["id"])
    assert unchanged["status"] == "open" and len(unchanged["history"]) == 1
    assert item.get_attribute("data-status") == "open"
    assert_accessible(page, "a dismissal without a reason")

    # Referred with a reason: the new status and the history, in the page and the API.
    box.fill("Chuyển hồ sơ cho đội điều tra")
    item.locator('button[data-action="referred"]').click()
    page.locator(f'li.flags-flag[data-id="{flag["id"]}"][data-status="referred"]').wait_for(
        timeout=WAIT
    )
    assert item.locator(".flags-status").inner_text() == "Đã chuyển điều tra"
    history = item.locator(".flags-history li")
    assert history.count() == 2
    last = history.nth(1).inner_text()
    assert "Đã chuyển điều tra" in last and "Công an xã/phường" in last
    assert "Chuyển hồ sơ cho đội điều tra" in last
    assert box_error.inner_text() == ""
    assert item.locator('button[data-action="open"]').count() == 1  # closed: can reopen
    assert item.locator('button[data-action="referred"]').count() == 0
    assert "Đã chuyển điều tra" in page.locator("#flags_announce").inner_text()
    after = read(http, police, flag["id"])
    assert after["status"] == "referred"
    assert (after["history"][-1]["role"], after["history"][-1]["reason"]) == (
        "police_commune",
        "Chuyển hồ sơ cho đội điều tra",
    )
    assert_accessible(page, "a referred flag")

    # English: the same flag in English words.
    page.click("#lang")
    assert page.locator("html").get_attribute("lang") == "en"
    assert item.locator(".flags-rule").inner_text() == "Undeclared travel"
    assert item.locator(".flags-status").inner_text() == "Referred"
    assert "Check-in at a venue" in shown.inner_text()
    assert "Commune police" in history.nth(1).inner_text()
    assert item.locator('button[data-action="open"]').inner_text() == "Reopen"
    assert_accessible(page, "a referred flag, in English")

    # The station confirms it meanwhile; confirming it here too: the 409 is said on the
    # flag, which then shows what it is now.
    station = server.staff_token("commune", LAO_BAO)
    confirmed = http.patch(
        f"/api/v1/flags/{flag['id']}", json={"status": "confirmed"}, headers=bearer(station)
    )
    assert confirmed.status_code == 200, confirmed.text
    item.locator('button[data-action="confirmed"]').click()
    item.locator(".flags-message").filter(has_text=MESSAGES["flag_unchanged"][1]).wait_for(
        timeout=WAIT
    )
    page.locator(f'li.flags-flag[data-id="{flag["id"]}"][data-status="confirmed"]').wait_for(
        timeout=WAIT
    )
    assert "Commune health station" in item.locator(".flags-history li").nth(2).inner_text()

    # The filters: the confirmed ones hold it; the dismissed ones do not.
    page.select_option("#flags_status", "confirmed")
    item.wait_for(timeout=WAIT)
    assert "status=confirmed" in page.url
    page.select_option("#flags_status", "dismissed")
    page.locator("#flags_empty").wait_for(state="visible", timeout=WAIT)
    assert page.locator("#flags_empty").inner_text() == "No flags here."
    assert page.locator("li.flags-flag").count() == 0

    # "Show more" reads on from the cursor (pages of one flag here), newest first.
    everything = http.get(
        "/api/v1/flags", params={"unit": f"commune-{LAO_BAO}"}, headers=bearer(police)
    ).json()["items"]
    assert len(everything) >= 2  # the traveller's first declaration is flagged too
    page.route(
        "**/api/v1/flags?*",
        lambda route: route.continue_(url=route.request.url.replace("limit=50", "limit=1")),
    )
    page.goto(f"{server.base}/flags?unit=commune-{LAO_BAO}&status=all")
    more = page.locator("#flags_more")
    more.wait_for(state="visible", timeout=WAIT)
    assert page.locator("li.flags-flag").count() == 1
    page.locator("#flags_unit", has_text="Xã Lao Bảo").wait_for(timeout=WAIT)
    while more.is_visible():
        shown_now = page.locator("li.flags-flag").count()
        more.click()
        page.wait_for_function(
            f"document.querySelectorAll('li.flags-flag').length > {shown_now}"
            " || document.getElementById('flags_more').hidden",
            timeout=WAIT,
        )
    listed = page.locator("li.flags-flag").evaluate_all("items => items.map(li => li.dataset.id)")
    assert listed == [f["id"] for f in everything]
    assert streams == []  # the list is polled: the police may not read the unit's stream


def test_another_communes_police_see_their_own_list_and_are_refused_the_first(
    server: LiveServer, http: httpx.Client, page: Any, venue: str
) -> None:
    police = server.staff_token("police_commune", HUONG_LAP)
    page.clock.install()
    open_with(page, server, police)
    page.locator("#flags_view").wait_for(state="visible", timeout=WAIT)
    page.locator("#flags_empty").wait_for(state="visible", timeout=WAIT)
    assert page.locator("#flags_empty").inner_text() == "Không có cảnh báo nào."
    assert page.locator("li.flags-flag").count() == 0
    assert_accessible(page, "an empty list")

    # A flag raised while the page is open shows at the next 30 s refresh.
    flag = flagged_traveller(http, venue, HUONG_LAP, police)
    page.clock.run_for(31_000)
    page.locator(f'li.flags-flag[data-id="{flag["id"]}"]').wait_for(timeout=WAIT)
    assert "cảnh báo mới" in page.locator("#flags_announce").inner_text()

    # The first commune's flags are not theirs: the API's refusal, in the page's words.
    error = only_error(
        http.get("/api/v1/flags", params={"unit": f"commune-{LAO_BAO}"}, headers=bearer(police)),
        403,
    )
    page.goto(f"{server.base}/flags?unit=commune-{LAO_BAO}")
    message = page.locator("#flags_error")
    message.filter(has_text=error["message_vi"]).wait_for(timeout=WAIT)
    assert page.locator("#flags_view").is_hidden()
    assert page.locator("#flags_signout").is_visible()
    assert_accessible(page, "another commune's flags refused")
    page.click("#lang")
    assert message.inner_text() == error["message_en"]
