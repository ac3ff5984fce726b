"""The two phone pages as a person sees them: messages that say what to do, the venue
shown before a check-in, the receipt secret kept out of sight, and axe-core's checks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import DONG_HOI_WARD, QUANG_TRI, distinct_declaration
from tests.live import LiveServer, assert_accessible, fill_declaration_form

pytestmark = pytest.mark.browser

PYDANTIC = "Input should be"
# Every field the empty form leaves required: each must say what to do under itself.
REQUIRED = [
    "full_name",
    "document_number",
    "date_of_birth",
    "sex",
    "phone",
    "residence.province_code",
    "residence.commune_code",
    "coming_from.province_code",
    "going_to.province_code",
    "vehicle.type",
]


@pytest.fixture(scope="module")
def venue(server: LiveServer, http: httpx.Client) -> dict[str, Any]:
    staff = {"Authorization": f"Bearer {server.staff_token('province', QUANG_TRI)}"}
    r = http.post(
        "/api/v1/venues",
        headers=staff,
        json={
            "name": f"Quán phở Bình Minh {uuid.uuid4().hex[:6]}",
            "type": "cafe",
            "owner_phone": "0912345678",
            "commune_code": DONG_HOI_WARD,
            "street": "7 Quang Trung",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def error_of(page: Any, field: str) -> str:
    return str(page.locator(f'.field[data-field="{field}"] .err').inner_text())


def submit_empty(page: Any, server: LiveServer, english: bool) -> None:
    page.goto(server.base + "/")
    page.wait_for_function("document.querySelectorAll('#residence_province option').length > 30")
    if english:
        page.click("#lang")
    assert_accessible(page, f"empty form ({'en' if english else 'vi'})")
    page.click("#submit")
    page.locator('.field[data-field="residence.province_code"] .err').wait_for(timeout=30_000)


def test_an_empty_english_submit_says_what_to_do_under_each_field(
    server: LiveServer,
    page: Any,
) -> None:
    submit_empty(page, server, english=True)
    assert page.locator("html").get_attribute("lang") == "en"
    province = error_of(page, "residence.province_code")
    assert "Choose" in province and "province" in province
    commune = error_of(page, "residence.commune_code")
    assert "Choose" in commune and "commune" in commune
    assert "date of birth" in error_of(page, "date_of_birth")
    assert all(error_of(page, f) for f in REQUIRED), {f: error_of(page, f) for f in REQUIRED}
    assert PYDANTIC not in page.locator("main").inner_text()
    assert page.locator("#form_error").inner_text() == ""  # nothing left unplaced
    # The message is tied to its control for a screen reader.
    assert page.get_attribute("#residence_province", "aria-invalid") == "true"
    assert_accessible(page, "empty submit, errors shown (en)")


def test_an_empty_vietnamese_submit_says_what_to_do_under_each_field(
    server: LiveServer,
    page: Any,
) -> None:
    submit_empty(page, server, english=False)
    messages = {f: error_of(page, f) for f in REQUIRED}
    assert all(messages.values()), messages
    assert "tỉnh" in messages["residence.province_code"]
    assert "ngày sinh" in messages["date_of_birth"].lower()
    assert PYDANTIC not in page.locator("main").inner_text()
    assert_accessible(page, "empty submit, errors shown (vi)")
    page.click("#lang")  # the messages follow the switch
    assert "Choose" in error_of(page, "residence.province_code")


def test_declaring_keeps_the_receipt_secret_and_retries_with_the_same_key(
    server: LiveServer,
    page: Any,
) -> None:
    keys: list[str | None] = []

    def lose_first_answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server stores it, but the phone never hears back
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/declarations", lose_first_answer)
    page.goto(server.base + "/")
    fill_declaration_form(page, distinct_declaration())
    page.click("#submit")
    page.locator("#form_error").filter(has_text="mạng").wait_for(timeout=30_000)
    with page.expect_response("**/api/v1/declarations") as answer:
        page.click("#submit")
    assert answer.value.status == 200  # the first record, replayed: the same key was sent
    page.wait_for_selector("#result:not([hidden])")
    assert keys[0] and keys[0] == keys[1]

    secret = page.evaluate("localStorage.getItem('dichte.receipt_secret')")
    assert secret and len(secret) >= 16
    assert page.evaluate("localStorage.getItem('dichte.person_token')")
    assert secret not in page.content()
    page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    assert_accessible(page, "declared, QR shown")

    page.click("#again")  # a new declaration is a new submit: a new key
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert len(keys) == 3 and keys[2] != keys[1]


def test_the_checkin_page_shows_the_venue_before_and_after_checking_in(
    server: LiveServer,
    http: httpx.Client,
    page: Any,
    venue: dict[str, Any],
) -> None:
    page.goto(venue["checkin_url"])
    page.locator("#declare").wait_for(state="visible", timeout=30_000)
    assert page.locator("#venue").inner_text() == venue["name"]
    assert page.locator("#address").inner_text() == venue["address"]
    assert "Quang Trung" in venue["address"]
    assert_accessible(page, "check-in page, no declaration on the phone")

    declared = http.post("/api/v1/declarations", json=distinct_declaration())
    assert declared.status_code == 201, declared.text
    token = declared.json()["qr_token"]
    page.evaluate("t => localStorage.setItem('dichte.person_token', t)", token)
    page.reload()
    page.locator("#checkout").wait_for(state="visible", timeout=30_000)
    assert page.locator("#venue").inner_text() == venue["name"]
    assert "check-in" in page.locator("#status").inner_text()
    assert_accessible(page, "checked in")


def test_the_checkin_page_says_why_an_altered_code_is_refused(
    server: LiveServer,
    page: Any,
    venue: dict[str, Any],
) -> None:
    code = venue["code"]
    altered = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    page.goto(f"{server.base}/c/{altered}")
    error = page.locator("#error")
    error.wait_for(state="visible", timeout=30_000)
    assert "chữ ký" in error.inner_text().lower() or "định dạng" in error.inner_text()
    assert page.locator("#declare").is_hidden() and page.locator("#venue").inner_text() == ""
