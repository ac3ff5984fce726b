"""The dashboard (/dashboard) in Chromium: a province's four reports drawn as SVG charts
made in the page, every number shown equal to the report's JSON, the period picker,
a reload when the unit's stream says something changed, both languages, axe-core's
checks, and the CSV downloads (read with the token, saved from memory)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dichte.domain.clock import today_in_vietnam
from tests.factories import distinct_declaration
from tests.live import LiveServer, assert_accessible, wait_for
from tests.test_checkpoints_api import photo, push, thermal_face

pytestmark = pytest.mark.browser

LAI_CHAU = 12  # province of Lai Châu: no other test lives here
TAN_PHONG, DOAN_KET = 3408, 3388  # two of its wards
CHECKPOINT = f"dash-{uuid.uuid4().hex[:8]}"
KINDS = ("qr-deployment", "screening", "epidemiology", "flags")
WAIT = 30_000
# The charts (data-chart) and the shapes that carry their numbers.
CHARTS = {
    "qr_checkins": "rect",
    "qr_venues": "rect",
    "qr_daily": "circle",
    "screening_checkpoints": "rect",
    "epi_cases": "circle",
    "epi_follow": "circle",
    "flags_rules": "rect",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def venue(http: httpx.Client, headers: dict[str, str], name: str) -> dict[str, Any]:
    return created(
        http.post(
            "/api/v1/venues",
            headers=headers,
            json={
                "name": f"{name} {uuid.uuid4().hex[:4]}",
                "type": "market",
                "owner_phone": "0915000333",
                "commune_code": TAN_PHONG,
                "street": "3 Trần Phú",
            },
        )
    )


def report(http: httpx.Client, headers: dict[str, str], kind: str, **params: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/reports/{kind}", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def province(server: LiveServer) -> str:
    return server.staff_token("province", LAI_CHAU)


@pytest.fixture(scope="module")
def lai_chau(server: LiveServer, http: httpx.Client, province: str) -> dict[str, Any]:
    """A month in Lai Châu, through the API: a market where a resident of Tân Phong checks
    in, a checkpoint where they pass with a fever they did not declare (a flag), and a
    confirmed case in Đoàn Kết whose household F1 is quarantined at home and seen today."""
    headers = bearer(province)
    market = venue(http, headers, "Chợ Tân Phong")
    venue(http, headers, "Chợ đêm Tân Phong")  # registered, never scanned
    body = distinct_declaration()
    body["residence"] = {"province_code": LAI_CHAU, "commune_code": TAN_PHONG, "street": "9 Lê Lợi"}
    body["symptoms"] = {}
    body["biometric_consent"] = False
    resident = created(http.post("/api/v1/declarations", json=body))
    created(
        http.post(
            "/api/v1/checkins",
            json={
                "venue_code": market["code"],
                "person_token": resident["qr_token"],
                "at": datetime.now(UTC).isoformat(),
            },
        )
    )
    config = {
        "id": CHECKPOINT,
        "name": "Chốt Tân Phong",
        "commune_code": TAN_PHONG,
        "lanes": 1,
        "cameras": [
            {"id": "dv", "kind": "visible", "lane": 1, "source": "rtsp://10.0.0.8/s"},
            {
                "id": "dt",
                "kind": "thermal",
                "lane": 1,
                "source": "file:///srv/none/",
                "pair_of": "dv",
                "homography": [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]],
            },
        ],
    }
    r = http.post("/api/v1/checkpoints", json=config, headers=headers)
    assert r.status_code in (200, 201), r.text
    hot = photo("obama3.jpg")
    passage = push(
        http,
        headers,
        [hot],
        thermal=[thermal_face(http, hot, 37.8)],
        qr_text=resident["qr_token"],
        checkpoint_id=CHECKPOINT,
    )
    assert passage.status_code == 201 and "fever" in passage.json()["reasons"], passage.text
    case = created(
        http.post(
            "/api/v1/cases",
            headers=headers,
            json={
                "document_number": "012090000111",
                "full_name": "Lò Văn Tâm",
                "commune_code": DOAN_KET,
                "classification": "confirmed",
                "onset_date": str(today_in_vietnam() - timedelta(days=2)),
            },
        )
    )
    contact = created(
        http.post(
            f"/api/v1/cases/{case['id']}/contacts",
            headers=headers,
            json={
                "document_number": "012190000222",
                "commune_code": DOAN_KET,
                "kind": "household",
                "at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            },
        )
    )
    start = datetime.now(UTC) - timedelta(minutes=5)
    created(
        http.post(
            "/api/v1/quarantine-orders",
            headers=headers,
            json={
                "document_number": "012190000222",
                "kind": "home",
                "place": "12 Đoàn Kết",
                "start": start.isoformat(),
                "end": (start + timedelta(days=14)).isoformat(),
            },
        )
    )
    r = http.post(
        f"/api/v1/contacts/{contact['id']}/follow-ups",
        headers=headers,
        json={"date": str(today_in_vietnam()), "status": "seen_ok"},
    )
    assert r.status_code in (200, 201), r.text
    # The flag rules run a moment after the passage is written.
    wait_for(
        lambda: any(row["flags"] for row in report(http, headers, "flags")["rows"]),
        20,
        "the undeclared fever counted",
    )
    return {"market": market, "case": case}


def open_dashboard(page: Any, server: LiveServer, token: str, query: str = "") -> None:
    page.goto(f"{server.base}/dashboard{query}")
    page.locator("#dash_token").wait_for(state="visible", timeout=WAIT)
    page.fill("#dash_token", token)
    page.click("#dash_open")
    page.locator("#dash_view").wait_for(state="visible", timeout=WAIT)
    for chart in CHARTS:
        page.locator(f'svg[data-chart="{chart}"]').wait_for(timeout=WAIT)


def shown(page: Any) -> list[dict[str, str]]:
    """Every number on the page: report, part, key (its row), series (its field), value."""
    return page.evaluate(  # type: ignore[no-any-return]
        "() => [...document.querySelectorAll('#dash_reports [data-value]')]"
        ".map((n) => ({ ...n.dataset }))"
    )


def row_key(kind: str, part: str, row: dict[str, Any]) -> str:
    """How the page names a report's row (data-key)."""
    if kind == "qr-deployment":
        return str(row["day"] if part == "daily" else row["unit"])
    if kind == "screening":
        return str(row["checkpoint_id"])
    if kind == "epidemiology":
        return str(row["day"] if part == "daily" else f"{row['unit']}|{row['day']}")
    return f"{row['rule']}|{row['status']}"


def same_as_the_json(
    page: Any, http: httpx.Client, headers: dict[str, str], scope: str = f"province-{LAI_CHAU}"
) -> dict[str, Any]:
    """Every number shown equals the same report's JSON (same unit, same period); the
    reports, as the test read them."""
    period = {"from": page.input_value("#dash_from"), "to": page.input_value("#dash_to")}
    answers = {k: report(http, headers, k, unit=scope, **period) for k in KINDS}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kind, answer in answers.items():
        for part in ("rows", "daily"):
            if part == "daily" and kind in ("screening", "flags"):
                continue  # in the CSV per day, not drawn
            for row in answer[part]:
                if kind == "qr-deployment" and part == "daily" and row["unit"] != scope:
                    continue  # the line is the scope's own total
                rows[(kind, part, row_key(kind, part, row))] = row
    numbers = shown(page)
    assert len(numbers) > 100
    for n in numbers:
        row = rows.get((n["report"], n["part"], n["key"]))
        assert row is not None, n
        assert float(n["value"]) == pytest.approx(row[n["series"]]), n
    return answers


def drawn(page: Any, chart: str, shape: str) -> dict[tuple[str, str], float]:
    """The numbers one chart draws, by (row, field), read at once (a refresh redraws)."""
    marks = page.evaluate(
        "(selector) => [...document.querySelectorAll(selector)].map((n) => ({ ...n.dataset }))",
        f'svg[data-chart="{chart}"] {shape}[data-value]',
    )
    return {(m["key"], m["series"]): float(m["value"]) for m in marks}


def test_the_dashboard_draws_a_provinces_reports_as_their_json_says(
    server: LiveServer,
    http: httpx.Client,
    page: Any,
    province: str,
    lai_chau: dict[str, Any],
    tmp_path: Path,
) -> None:
    headers = bearer(province)
    open_dashboard(page, server, province)
    assert page.locator("#dash_title").inner_text() == "Bảng điều khiển — Lai Châu"
    today = today_in_vietnam()
    assert page.input_value("#dash_to") == str(today)
    assert page.input_value("#dash_from") == str(today - timedelta(days=29))

    answers = same_as_the_json(page, http, headers)
    scope = f"province-{LAI_CHAU}"
    assert answers["qr-deployment"]["unit"] == scope
    for chart, shape in CHARTS.items():  # every chart drawn, with its numbers
        assert drawn(page, chart, shape), chart
    # What each chart holds, against the JSON.
    commune = f"commune-{TAN_PHONG}"
    assert drawn(page, "qr_checkins", "rect") == {(commune, "checkins"): 1}
    assert drawn(page, "qr_venues", "rect") == {
        (commune, "venues_registered"): 2,
        (commune, "venues_active_7d"): 1,
        (commune, "venues_compliant"): 0,
    }
    daily = drawn(page, "qr_daily", "circle")
    assert len(daily) == 30 and daily[(str(today), "checkins")] == 1
    screened = drawn(page, "screening_checkpoints", "rect")
    assert screened == {
        (CHECKPOINT, "passages"): 1,
        (CHECKPOINT, "secondary"): 1,
        (CHECKPOINT, "fevers"): 1,
    }
    times = page.locator(f'.dash-times [data-key="{CHECKPOINT}"]')
    assert times.count() == 2
    epi = drawn(page, "epi_cases", "circle")
    assert len(epi) == 4 * 30
    assert epi[(str(today), "new_cases")] == 1 and epi[(str(today), "f1")] == 1
    assert epi[(str(today), "under_quarantine")] == 1
    follow = drawn(page, "epi_follow", "circle")
    assert follow[(str(today), "follow_ups_done")] == 1
    flags = drawn(page, "flags_rules", "rect")
    assert len(flags) == len(answers["flags"]["rows"]) == 16
    assert flags[("undeclared_fever|open", "flags")] >= 1
    scope_row = next(r for r in answers["qr-deployment"]["rows"] if r["unit"] == scope)
    registered = page.locator(f'.dash-facts [data-key="{scope}"][data-series="venues_registered"]')
    assert float(registered.get_attribute("data-value")) == scope_row["venues_registered"] == 2
    # Each chart is named for a screen reader, with its numbers in words.
    svg = page.locator('svg[data-chart="qr_checkins"]')
    assert svg.get_attribute("role") == "img"
    assert "Phường Tân Phong 1" in page.locator('svg[data-chart="qr_checkins"] desc').text_content()
    page.locator("details:has(table) summary").first.click()  # the numbers as a table
    assert_accessible(page, "the dashboard, in Vietnamese")

    # A record reaches the province's stream: the reports are read again by themselves.
    venue(http, headers, "Chợ sáng Tân Phong")
    wait_for(lambda: registered.get_attribute("data-value") == "3", 20, "the new venue counted")
    same_as_the_json(page, http, headers)

    # English: the same numbers, in English words.
    page.click("#lang")
    assert page.locator("#sec_qr-deployment").inner_text() == "QR codes at venues"
    assert page.locator('svg[data-chart="epi_cases"] > title').text_content() == (
        "Cases, F1, F2 and people in quarantine per day"
    )
    assert page.locator("#dash_title").inner_text() == "Dashboard — Lai Châu"
    same_as_the_json(page, http, headers)
    assert_accessible(page, "the dashboard, in English")

    # The CSV downloads: what the links name is the report's rows as CSV, its header the
    # JSON rows' keys; clicking one saves it (read with the token, saved from memory).
    for kind in KINDS:
        for part in ("rows", "daily"):
            link = page.locator(f'a.dash-csv[data-report="{kind}"][data-part="{part}"]')
            href = link.get_attribute("href")
            assert "format=csv" in href and ("part=daily" in href) == (part == "daily")
            got = http.get(href, headers=headers)
            assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            header = next(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
            assert header == list(answers[kind][part][0]), (kind, part)
            assert http.get(href).status_code == 401  # not without the token
    link = page.locator('a.dash-csv[data-report="qr-deployment"][data-part="rows"]')
    with page.expect_download() as saving:
        link.click()
    saved = tmp_path / "saved.csv"
    saving.value.save_as(saved)
    assert saving.value.suggested_filename.startswith(f"qr-deployment_{scope}_")
    table = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert list(table[0]) == list(answers["qr-deployment"]["rows"][0])
    assert {r["unit"] for r in table} == {r["unit"] for r in answers["qr-deployment"]["rows"]}

    # Another period: a week; a period ending before it starts is refused in the API's words.
    week = str(date.fromisoformat(str(today)) - timedelta(days=6))
    page.fill("#dash_from", week)
    page.click("#dash_apply")
    wait_for(lambda: len(drawn(page, "qr_daily", "circle")) == 7, 20, "a week drawn")
    same_as_the_json(page, http, headers)
    page.fill("#dash_from", str(today + timedelta(days=1)))
    page.click("#dash_apply")
    error = page.locator("#dash_period_error")
    error.wait_for(state="visible", timeout=WAIT)
    assert page.locator("#dash_from").get_attribute("aria-invalid") == "true"
    assert len(drawn(page, "qr_daily", "circle")) == 7  # the last figures stay


def test_a_commune_of_the_province_is_named_in_the_address(
    server: LiveServer, http: httpx.Client, page: Any, province: str, lai_chau: dict[str, Any]
) -> None:
    open_dashboard(page, server, province, f"?unit=commune-{TAN_PHONG}")
    assert page.locator("#dash_title").inner_text() == "Bảng điều khiển — Phường Tân Phong"
    answers = same_as_the_json(page, http, bearer(province), f"commune-{TAN_PHONG}")
    assert answers["qr-deployment"]["unit"] == f"commune-{TAN_PHONG}"
    keys = {n["key"] for n in shown(page) if (n["report"], n["part"]) == ("qr-deployment", "rows")}
    assert keys == {f"commune-{TAN_PHONG}"}
