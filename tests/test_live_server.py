"""`dichte run` as a newcomer starts it (embedded Redis, Ray, Serve with the HAProxy
ingress), driven over real HTTP on 127.0.0.1 and from headless Chromium."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from prometheus_client.parser import text_string_to_metric_families

from dichte.domain.tokens import sign_qr, verify_qr
from tests.factories import declaration, distinct_declaration
from tests.live import LiveServer, fill_declaration_form, only_error


def test_health_and_openapi(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok", "store": True}
    paths = http.get("/openapi.json").json()["paths"]
    assert "/api/v1/declarations" in paths
    assert "/api/v1/qr/verify" in paths


def test_submit_read_back_and_verify(server: LiveServer, http: httpx.Client) -> None:
    body = distinct_declaration()
    created = http.post("/api/v1/declarations", json=body)
    assert created.status_code == 201, created.text
    receipt = created.json()

    verified = http.post("/api/v1/qr/verify", json={"token": receipt["qr_token"]})
    assert verified.status_code == 200
    assert verified.json()["claims"]["declaration_id"] == receipt["id"]

    assert (
        only_error(http.get(f"/api/v1/declarations/{receipt['id']}"), 401)["code"] == "unauthorized"
    )
    province = {"Authorization": f"Bearer {server.staff_token('province', 44)}"}
    read = http.get(f"/api/v1/declarations/{receipt['id']}", headers=province)
    assert read.status_code == 200
    assert read.json()["declaration"]["full_name"] == body["full_name"]
    assert read.json()["qr_token"] == receipt["qr_token"]
    other_commune = {"Authorization": f"Bearer {server.staff_token('commune', 1)}"}
    assert (
        only_error(http.get(f"/api/v1/declarations/{receipt['id']}", headers=other_commune), 403)[
            "code"
        ]
        == "forbidden"
    )


def published_public_key(http: httpx.Client) -> Ed25519PublicKey:
    key = load_pem_public_key(http.get("/api/v1/qr/public-key").json()["pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


def test_checkpoint_verifies_offline_with_the_public_key(http: httpx.Client) -> None:
    receipt = http.post("/api/v1/declarations", json=distinct_declaration()).json()
    claims = verify_qr(published_public_key(http), receipt["qr_token"])
    assert claims.declaration_id == receipt["id"]


def test_the_png_qr_scans_back_to_the_token(http: httpx.Client) -> None:
    receipt = http.post("/api/v1/declarations", json=distinct_declaration()).json()
    png = http.get(receipt["qr_png_url"])
    assert png.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    # The Aruco-based detector: the classic cv2.QRCodeDetector misreads ~2 % of clean
    # version-8 codes (measured on 300 random tokens), this one none.
    text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert text == receipt["qr_token"]
    svg = http.get(receipt["qr_svg_url"])
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg")


def test_a_retry_returns_the_first_record(http: httpx.Client) -> None:
    body = distinct_declaration()
    first = http.post("/api/v1/declarations", json=body)
    again = http.post("/api/v1/declarations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]

    key = {"Idempotency-Key": f"retry-{time.time_ns()}"}
    one = http.post("/api/v1/declarations", json=distinct_declaration(), headers=key)
    two = http.post("/api/v1/declarations", json=distinct_declaration(), headers=key)
    assert one.status_code == 201
    assert only_error(two, 409)["code"] == "idempotency_key_reused"


def test_forged_and_malformed_tokens_say_why(http: httpx.Client) -> None:
    receipt = http.post("/api/v1/declarations", json=distinct_declaration()).json()
    record_claims = verify_qr(published_public_key(http), receipt["qr_token"])
    forged = sign_qr(Ed25519PrivateKey.generate(), record_claims)
    assert (
        only_error(http.post("/api/v1/qr/verify", json={"token": forged}), 400)["code"]
        == "token_bad_signature"
    )
    assert (
        only_error(http.post("/api/v1/qr/verify", json={"token": "DT1.abc"}), 400)["code"]
        == "token_malformed"
    )


def test_bad_input_gets_4xx_in_one_shape_and_loses_nothing(
    server: LiveServer, http: httpx.Client
) -> None:
    kept = http.post("/api/v1/declarations", json=distinct_declaration()).json()

    bad_cccd = only_error(
        http.post("/api/v1/declarations", json=declaration(document_number="045091123456")), 422
    )
    assert (bad_cccd["field"], bad_cccd["code"]) == ("document_number", "cccd_birth_year_mismatch")
    malformed = only_error(
        http.post(
            "/api/v1/declarations",
            content=b'{"full_name": "An"',
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert malformed["code"] == "malformed_json"
    huge = declaration(full_name="A" * 90)
    huge["symptoms"] = {"other": "x" * 200_000}
    assert only_error(http.post("/api/v1/declarations", json=huge), 413)["code"] == "body_too_large"
    missing = http.post("/api/v1/declarations", json={"full_name": "An"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} >= {"document_number", "phone"}
    assert only_error(http.get("/api/v1/declarations/not-an-id/qr.svg"), 404)["code"] == "not_found"
    assert (
        only_error(http.get(f"/api/v1/declarations/{'0' * 32}/qr.png"), 404)["code"] == "not_found"
    )

    province = {"Authorization": f"Bearer {server.staff_token('province', 44)}"}
    assert http.get(f"/api/v1/declarations/{kept['id']}", headers=province).status_code == 200


def test_metrics_are_scrapable_in_prometheus_text(server: LiveServer, http: httpx.Client) -> None:
    http.post("/api/v1/declarations", json=distinct_declaration())
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.metrics}/metrics", timeout=10).text
        if "ray_dichte_declarations_total{" in text and "ray_dichte_store_write_seconds" in text:
            break
        time.sleep(2)
    # Parsed by Prometheus' own client parser, as a scrape would.
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    created = [
        s.value
        for s in samples
        if s.name == "ray_dichte_declarations_total" and s.labels["outcome"] == "created"
    ]
    assert created and created[0] >= 1, text[-2000:]
    names = {s.name for s in samples}
    assert "ray_dichte_request_latency_seconds_bucket" in names
    assert "ray_dichte_store_write_seconds_bucket" in names
    # The alert rules and the dashboard: tests/test_cluster.py, with Prometheus scraping.


@pytest.mark.browser
def test_phone_page_declares_and_shows_the_qr(server: LiveServer, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(server.base + "/")
    assert page.locator("h1").inner_text() == "Khai báo y tế"
    fill_declaration_form(page, distinct_declaration())
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    declaration_id = page.locator("#declaration_id").inner_text()
    assert len(declaration_id) == 32
    page.screenshot(path=str(tmp_path / "declared.png"), full_page=True)
    # The QR on screen is the declaration's: the image the page shows scans to its token.
    svg_url = page.locator("#qr").get_attribute("src")
    assert svg_url == f"/api/v1/declarations/{declaration_id}/qr.svg"
    page.close()


@pytest.mark.browser
def test_phone_page_explains_a_bad_cccd_next_to_the_field(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(server.base + "/")
    body = distinct_declaration()
    body["document_number"] = "045091" + body["document_number"][6:]  # year digits say 1991
    fill_declaration_form(page, body)
    page.click("#submit")
    message = page.locator('.field[data-field="document_number"] .err')
    message.wait_for(state="visible", timeout=30_000)
    assert "năm sinh" in message.inner_text()
    page.click("#lang")
    assert "birth year" in message.inner_text()
    assert page.locator("#result").is_hidden()
    page.close()
