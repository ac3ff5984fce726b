"""Changing cases and converting contacts over HTTP, as a health officer does it: lab
tests add up, a confirmation takes its onset from what is on record, and a refused
change leaves the record as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dichte.domain.clock import today_in_vietnam
from tests.factories import QUANG_TRI
from tests.live import LiveServer, only_error
from tests.test_tracing_api import bearer, declare, scan, venue

TODAY = today_in_vietnam()


def day(n: int) -> str:
    return str(TODAY - timedelta(days=n))


@pytest.fixture(scope="module")
def province(server: LiveServer) -> dict[str, str]:
    return bearer(server, "province", QUANG_TRI)


def open_case(http: httpx.Client, province: dict[str, str], **fields: Any) -> dict[str, Any]:
    who = declare(http)
    r = http.post(
        "/api/v1/cases",
        headers=province,
        json={"declaration_id": who.declaration_id, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_positive_test_confirms_a_case_without_dates_and_tests_add_up(
    http: httpx.Client, province: dict[str, str]
) -> None:
    case = open_case(http, province)  # suspected, no onset, no sample date
    url = f"/api/v1/cases/{case['id']}"
    pcr = {"type": "pcr", "date": day(2), "result": "positive", "lab": "CDC Quảng Trị"}
    r = http.patch(url, headers=province, json={"classification": "confirmed", "tests": [pcr]})
    assert r.status_code == 200, r.text
    assert r.json()["classification"] == "confirmed"
    assert r.json()["onset"] == day(2)  # from the positive test
    antigen = {"type": "rapid_antigen", "date": day(1), "result": "negative"}
    r = http.patch(url, headers=province, json={"tests": [antigen]})
    assert r.status_code == 200, r.text
    assert [t["type"] for t in r.json()["tests"]] == ["pcr", "rapid_antigen"]
    stored = http.get(url, headers=province).json()
    assert [t["date"] for t in stored["tests"]] == [day(2), day(1)]


def test_a_refused_change_saves_nothing(http: httpx.Client, province: dict[str, str]) -> None:
    case = open_case(http, province, isolation_place="home")
    url = f"/api/v1/cases/{case['id']}"
    # Confirming without any onset, sample date or positive test cannot be traced.
    r = http.patch(
        url,
        headers=province,
        json={
            "classification": "confirmed",
            "isolation_place": "hospital",
            "tests": [{"type": "pcr", "date": day(1), "result": "negative"}],
        },
    )
    assert only_error(r, 422)["code"] == "onset_required"
    # A test dated tomorrow is refused with every other field of the change.
    r = http.patch(
        url,
        headers=province,
        json={
            "isolation_place": "hospital",
            "tests": [{"type": "pcr", "date": str(TODAY + timedelta(days=1)), "result": "pending"}],
        },
    )
    assert only_error(r, 422)["field"] == "tests.0.date"
    stored = http.get(url, headers=province).json()
    assert stored["classification"] == "suspected"
    assert stored["isolation_place"] == "home" and stored["tests"] == []


@pytest.fixture(scope="module")
def contacts(
    server: LiveServer, http: httpx.Client, province: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """A confirmed case met three people at a café an hour ago: one of them had a
    positive test in their declaration."""
    cafe = venue(http, bearer(server, "commune", 18880), "Quán Gió Lào")
    case = declare(http)
    tested = declare(
        http, latest_test={"type": "rapid_antigen", "date": day(1), "result": "positive"}
    )
    plain, named = declare(http), declare(http)
    for who in (case, tested, plain, named):
        scan(http, "checkins", cafe["code"], who, 1)
    created = http.post(
        "/api/v1/cases",
        headers=province,
        json={
            "declaration_id": case.declaration_id,
            "classification": "confirmed",
            "onset_date": day(1),
        },
    )
    assert created.status_code == 201, created.text
    recorded = http.get(
        f"/api/v1/cases/{created.json()['id']}/recorded-contacts", headers=province
    ).json()
    by_doc = {c["document_number"]: c for c in recorded}
    return {
        "tested": by_doc[tested.document_number],
        "plain": by_doc[plain.document_number],
        "named": by_doc[named.document_number],
    }


def test_a_contact_converts_to_a_confirmed_case_with_the_onset_on_record(
    http: httpx.Client, province: dict[str, str], contacts: dict[str, dict[str, Any]]
) -> None:
    tested = contacts["tested"]
    r = http.post(
        f"/api/v1/contacts/{tested['id']}/convert?classification=confirmed", headers=province
    )
    assert r.status_code == 201, r.text
    assert r.json()["classification"] == "confirmed"
    assert r.json()["first_positive_sample_date"] == day(1)  # the declaration's test
    assert r.json()["source_case_id"] == tested["case_id"]
    # Given in the request, the onset comes from there.
    named = contacts["named"]
    r = http.post(
        f"/api/v1/contacts/{named['id']}/convert",
        headers=province,
        json={"classification": "confirmed", "onset_date": day(0)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["onset"] == day(0)


def test_a_confirmed_conversion_without_any_date_says_so_and_saves_nothing(
    http: httpx.Client, province: dict[str, str], contacts: dict[str, dict[str, Any]]
) -> None:
    plain = contacts["plain"]
    r = http.post(
        f"/api/v1/contacts/{plain['id']}/convert?classification=confirmed", headers=province
    )
    assert only_error(r, 422)["code"] == "onset_required"
    again = http.get(f"/api/v1/contacts/{plain['id']}", headers=province).json()
    assert again["converted_case_id"] is None
    # Converted as suspected, it works; the person's case is then the one returned.
    r = http.post(f"/api/v1/contacts/{plain['id']}/convert", headers=province)
    assert r.status_code == 201 and r.json()["classification"] == "suspected"


def test_a_document_typed_with_separators_is_one_person(
    server: LiveServer, http: httpx.Client, province: dict[str, str]
) -> None:
    """A clerk types a CCCD with dashes, dots and spaces: the record shows it as the
    person's declaration would, and it is the same person who declares it later."""
    staff = bearer(server, "commune", 18880)
    market = venue(http, staff, "Chợ Phường")
    case = declare(http)
    scan(http, "checkins", market["code"], case, 1)
    walk_in = http.post(
        "/api/v1/checkins",
        headers=staff,
        json={
            "venue_code": market["code"],
            "document_number": "045-060 001.234",
            "at": (datetime.now(UTC) - timedelta(minutes=50)).isoformat(),
        },
    )
    assert walk_in.status_code == 201, walk_in.text
    created = http.post(
        "/api/v1/cases",
        headers=province,
        json={
            "declaration_id": case.declaration_id,
            "classification": "confirmed",
            "onset_date": day(0),
        },
    ).json()
    traced = http.get(f"/api/v1/cases/{created['id']}/contacts", headers=province).json()
    assert [c["document_number"] for c in traced["f1"]] == ["045060001234"]
    # Declaring later with the plain number: the check-in is theirs.
    later = declare(http, document_number="045060001234", date_of_birth="1960-01-01", sex="male")
    mine = http.post("/api/v1/checkins/mine", json={"person_token": later.token}).json()
    assert [c["venue_name"] for c in mine["checkins"]] == ["Chợ Phường"]
