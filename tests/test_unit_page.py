"""A commune health station's work page (/units/<unit>) in Chromium on a phone: its
lists, records arriving live, both languages, and the API's own words when the token or
the unit is wrong."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import LiveServer, assert_accessible

pytestmark = pytest.mark.browser

GIO_LINH = 19495  # Xã Gio Linh: no other test lives here
WAIT = 30_000


def declare(http: httpx.Client) -> dict[str, Any]:
    body = distinct_declaration()
    body["residence"] = {
        "province_code": QUANG_TRI,
        "commune_code": GIO_LINH,
        "street": "5 Trần Hưng Đạo",
    }
    r = http.post("/api/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    return body


def open_with(page: Any, server: LiveServer, unit: str, token: str) -> None:
    page.goto(f"{server.base}/units/{unit}")
    page.locator("#unit_token").wait_for(state="visible", timeout=WAIT)
    page.fill("#unit_token", token)
    page.click("#unit_open")


def test_a_station_works_from_its_lists_and_sees_records_arrive(
    server: LiveServer, http: httpx.Client, page: Any
) -> None:
    token = server.staff_token("commune", GIO_LINH)
    earlier = declare(http)
    open_with(page, server, f"commune-{GIO_LINH}", token)
    page.locator("#unit_view").wait_for(state="visible", timeout=WAIT)
    assert page.locator("#unit_title").inner_text() == "Xã Gio Linh"
    assert_accessible(page, "opened on the follow-ups due today")
    page.evaluate("window.stillTheSamePage = true")

    # The declarations list holds the one made before the page opened.
    page.click('button[data-tab="declarations"]')
    page.locator("#unit_items li", has_text=earlier["full_name"]).wait_for(timeout=WAIT)

    # A new declaration arrives by the stream: listed at once, said to a screen reader.
    later = declare(http)
    page.locator("#unit_items li", has_text=later["full_name"]).wait_for(timeout=WAIT)
    assert later["full_name"] in page.locator("#unit_announce").inner_text()
    page.click('button[data-tab="feed"]')
    newest = page.locator("#unit_items li").first
    assert newest.get_attribute("data-type") == "declaration.created"
    assert later["full_name"] in newest.inner_text()
    assert page.evaluate("window.stillTheSamePage === true")

    # English, the same lists.
    page.click("#lang")
    assert page.locator('button[data-tab="due"]').inner_text() == "Follow-ups due today"
    assert page.locator("#unit_list_title").inner_text() == "Latest"
    assert_accessible(page, "English, the feed")


def test_another_communes_page_says_why_not(server: LiveServer, page: Any) -> None:
    open_with(page, server, "commune-19363", server.staff_token("commune", GIO_LINH))
    error = page.locator("#unit_error")
    error.wait_for(state="visible", timeout=WAIT)
    assert "ngoài địa bàn" in error.inner_text()
    assert page.locator("#unit_view").is_hidden()
    page.click("#unit_signout")
    page.fill("#unit_token", "DTS1.not-a-token")
    page.click("#unit_open")
    page.locator("#unit_login_error").wait_for(state="visible", timeout=WAIT)
    assert page.locator("#unit_token").get_attribute("aria-invalid") == "true"
