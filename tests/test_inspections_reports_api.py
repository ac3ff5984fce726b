"""QR-point inspections and the reports over the served API: the inspector's list
puts a venue never scanned first, a visit with no poster makes the venue
non-compliant in the deployment report, the photo goes through the bounded decoder,
and reports answer JSON and Excel-friendly CSV in their unit's scope only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from dichte.domain.clock import today_in_vietnam
from tests.factories import distinct_declaration
from tests.live import LiveServer, only_error

BACH_MAI = 277  # a ward of Hà Nội no other test uses
HANOI = 1
VINH_LINH = 19363


def bearer(server: LiveServer, role: str, unit: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token(role, unit)}"}


def jpeg(width: int, height: int) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.putText(image, "QR", (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data)


@pytest.fixture(scope="module")
def ward(server: LiveServer, http: httpx.Client) -> dict[str, Any]:
    """Three venues of Bạch Mai: one scanned today, one never scanned, one withdrawn."""
    staff = bearer(server, "commune", BACH_MAI)
    ids = {}
    for name in ("scanned", "never", "withdrawn"):
        r = http.post(
            "/api/v1/venues",
            headers=staff,
            json={
                "name": f"Cửa hàng {name}",
                "type": "market",
                "owner_phone": "0912000111",
                "commune_code": BACH_MAI,
            },
        )
        assert r.status_code == 201, r.text
        ids[name] = r.json()
    person = http.post("/api/v1/declarations", json=distinct_declaration()).json()
    r = http.post(
        "/api/v1/checkins",
        json={"venue_code": ids["scanned"]["code"], "person_token": person["qr_token"]},
    )
    assert r.status_code == 201, r.text
    gone = http.patch(
        f"/api/v1/venues/{ids['withdrawn']['id']}", json={"active": False}, headers=staff
    )
    assert gone.status_code == 200, gone.text
    return {"staff": staff, "venues": ids}


def deployment(http: httpx.Client, headers: dict[str, str], unit: str) -> dict[str, Any]:
    r = http.get("/api/v1/reports/qr-deployment", params={"unit": unit}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_inspectors_list_puts_a_venue_never_scanned_first(
    http: httpx.Client, ward: dict[str, Any]
) -> None:
    r = http.get("/api/v1/inspections/due", headers=ward["staff"])
    assert r.status_code == 200, r.text
    due = r.json()
    assert due["commune_code"] == BACH_MAI and due["commune_name"] == "Phường Bạch Mai"
    listed = [v["venue_id"] for v in due["venues"]]
    venues = ward["venues"]
    assert listed == [venues["never"]["id"], venues["scanned"]["id"]]  # withdrawn: gone
    assert due["venues"][0]["flags"] == ["never_scanned", "never_inspected"]
    assert due["venues"][1]["flags"] == ["never_inspected"]


def test_a_visit_without_the_poster_makes_the_venue_non_compliant(
    http: httpx.Client, server: LiveServer, ward: dict[str, Any]
) -> None:
    staff = ward["staff"]
    before = deployment(http, staff, f"commune-{BACH_MAI}")["rows"][0]
    assert before["venues_registered"] == 2 and before["venues_never_scanned"] == 1
    assert before["venues_active_7d"] == 1 and before["checkins"] == 1
    venue = ward["venues"]["scanned"]["id"]
    police = bearer(server, "police_commune", BACH_MAI)  # the police inspect too
    r = http.post(
        f"/api/v1/venues/{venue}/inspections",
        headers=police,
        data={
            "poster_displayed": "false",
            "people_present": "12",
            "scans_seen_last_hour": "0",
            "notes": "Không thấy mã QR ở cửa",
            "latitude": "21.0012",
            "longitude": "105.8500",
        },
        files={"photo": ("door.jpg", jpeg(3000, 2000))},
    )
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["poster_displayed"] is False and visit["photo"] is True
    assert visit["role"] == "police_commune" and visit["latitude"] == pytest.approx(21.0012)
    after = deployment(http, staff, f"commune-{BACH_MAI}")["rows"][0]
    assert after["venues_inspected"] == 1 and after["venues_compliant"] == 0
    # kept, smaller, without the upload's metadata; listed under the venue
    photo = http.get(f"/api/v1/inspections/{visit['id']}/photo", headers=staff)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    kept = cv2.imdecode(np.frombuffer(photo.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(kept.shape[:2]) == 1600
    history = http.get(f"/api/v1/venues/{venue}/inspections", headers=staff).json()
    assert [v["id"] for v in history] == [visit["id"]]
    due = http.get("/api/v1/inspections/due", headers=staff).json()["venues"]
    assert [v["flags"] for v in due if v["venue_id"] == venue] == [["poster_missing"]]
    # displayed at the next visit: compliant again (the latest visit counts)
    again = http.post(
        f"/api/v1/venues/{venue}/inspections",
        headers=staff,
        data={"poster_displayed": "true", "people_present": "3", "scans_seen_last_hour": "2"},
    )
    assert again.status_code == 201 and again.json()["photo"] is False, again.text
    assert deployment(http, staff, f"commune-{BACH_MAI}")["rows"][0]["venues_compliant"] == 1


def test_bad_visits_are_refused_and_nothing_is_kept(
    http: httpx.Client, server: LiveServer, ward: dict[str, Any]
) -> None:
    staff = ward["staff"]
    venue = ward["venues"]["never"]["id"]
    url = f"/api/v1/venues/{venue}/inspections"
    fields = {"poster_displayed": "true", "people_present": "1", "scans_seen_last_hour": "0"}
    not_a_photo = http.post(url, headers=staff, data=fields, files={"photo": ("x.jpg", b"GIF8")})
    error = only_error(not_a_photo, 422)
    assert error["field"] == "photo"
    negative = http.post(url, headers=staff, data={**fields, "people_present": "-1"})
    assert only_error(negative, 422)["field"] == "people_present"
    elsewhere = bearer(server, "commune", VINH_LINH)
    assert only_error(http.post(url, headers=elsewhere, data=fields), 403)
    assert http.get(url, headers=staff).json() == []
    assert (
        only_error(
            http.get("/api/v1/inspections/due", headers=bearer(server, "province", 44)), 422
        )["code"]
        == "commune_required"
    )


def test_reports_answer_json_and_csv_in_their_scope(
    http: httpx.Client, server: LiveServer, ward: dict[str, Any]
) -> None:
    staff = ward["staff"]
    today = today_in_vietnam()
    period = {"from": str(today - timedelta(days=6)), "to": str(today)}
    for kind in ("qr-deployment", "screening", "epidemiology", "flags"):
        r = http.get(
            f"/api/v1/reports/{kind}",
            params={"unit": f"province-{HANOI}", **period},
            headers=bearer(server, "province", HANOI),
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["report"], report["from"], report["to"]) == (
            kind,
            period["from"],
            period["to"],
        )
        for part in ("rows", "daily"):
            as_csv = http.get(
                f"/api/v1/reports/{kind}",
                params={"unit": f"province-{HANOI}", **period, "format": "csv", "part": part},
                headers=bearer(server, "province", HANOI),
            )
            assert as_csv.status_code == 200, as_csv.text
            assert as_csv.headers["content-type"].startswith("text/csv")
            assert "attachment" in as_csv.headers["content-disposition"]
            text = as_csv.content.decode("utf-8-sig")  # with the BOM Excel wants
            rows = list(csv.DictReader(io.StringIO(text)))
            assert len(rows) == len(report[part])
            if rows:
                assert list(rows[0]) == list(report[part][0])
    province = http.get(
        "/api/v1/reports/qr-deployment",
        params={"unit": f"province-{HANOI}"},
        headers=bearer(server, "province", HANOI),
    ).json()
    mine = [r for r in province["rows"] if r["unit"] == f"commune-{BACH_MAI}"]
    assert mine and mine[0]["venues_registered"] == 2
    total = province["rows"][-1]
    assert total["level"] == "province" and total["population"] is None  # no figure shipped
    assert total["venues_registered"] >= 2
    # scope: a commune's staff read their commune, not the province; the police only flags
    assert only_error(
        http.get(
            "/api/v1/reports/qr-deployment", params={"unit": f"province-{HANOI}"}, headers=staff
        ),
        403,
    )
    police = bearer(server, "police_commune", BACH_MAI)
    assert only_error(http.get("/api/v1/reports/epidemiology", headers=police), 403)
    assert http.get("/api/v1/reports/flags", headers=police).status_code == 200
    backwards = http.get(
        "/api/v1/reports/flags",
        params={"from": str(today), "to": str(today - timedelta(days=1))},
        headers=police,
    )
    assert only_error(backwards, 422)["code"] == "end_before_start"
    too_long = {"from": str(today - timedelta(days=400)), "to": str(today)}
    assert only_error(http.get("/api/v1/reports/flags", params=too_long, headers=police), 422)
    assert only_error(http.get("/api/v1/reports/everything", headers=police), 422)
