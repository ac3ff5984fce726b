"""Records reach the health units responsible and the provincial IOC, over the served
API: feeds and their live stream, work lists, webhooks, scoping by role and unit, and
venue withdrawal. The IOC and a webhook receiver are real HTTP servers on loopback."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dichte.domain.clock import today_in_vietnam
from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import LiveServer, only_error, wait_for
from tests.receiver import Receiver, receiver

VINH_LINH, CUA_TUNG, HAI_LANG = 19363, 19414, 19702  # Vĩnh Linh centre: 464; Hải Lăng: 470
NOW = datetime.now(UTC).replace(microsecond=0)


def bearer(server: LiveServer, role: str, unit: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.staff_token(role, unit)}"}


def declare(http: httpx.Client, commune: int) -> dict[str, Any]:
    body = distinct_declaration()
    body["residence"] = {"province_code": QUANG_TRI, "commune_code": commune, "street": "1 Lê Lợi"}
    r = http.post("/api/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    return {**r.json(), "body": body}


def check_in(http: httpx.Client, code: str, who: dict[str, Any], hours_ago: float) -> None:
    at = (NOW - timedelta(hours=hours_ago)).isoformat()
    r = http.post(
        "/api/v1/checkins", json={"venue_code": code, "person_token": who["qr_token"], "at": at}
    )
    assert r.status_code == 201, r.text


class SseReader:
    """Reads a unit's event stream in a thread, keeping (event, data) pairs."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.opened = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=60) as r:
            event = ""
            for line in r.iter_lines():
                self.opened.set()
                if self._stop:
                    return
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    self.items.append((event, json.loads(line[len("data: ") :])))

    def close(self) -> None:
        self._stop = True


@pytest.fixture(scope="module")
def outbreak(server: LiveServer, http: httpx.Client) -> dict[str, Any]:
    """A café in Vĩnh Linh: a resident of Vĩnh Linh who falls ill and a visitor living
    in Hải Lăng who sat beside them yesterday."""
    vinh_linh = bearer(server, "commune", VINH_LINH)
    r = http.post(
        "/api/v1/venues",
        headers=vinh_linh,
        json={
            "name": "Quán cà phê Bến Hải",
            "type": "cafe",
            "owner_phone": "0987654321",
            "commune_code": VINH_LINH,
            "street": "2 Bến Hải",
        },
    )
    assert r.status_code == 201, r.text
    cafe = r.json()
    case_person, visitor = declare(http, VINH_LINH), declare(http, HAI_LANG)
    check_in(http, cafe["code"], case_person, 30)
    check_in(http, cafe["code"], visitor, 29.8)
    return {
        "cafe": cafe,
        "case_person": case_person,
        "visitor": visitor,
        "vinh_linh": vinh_linh,
        "hai_lang": bearer(server, "commune", HAI_LANG),
        "centre": bearer(server, "health_centre", 464),
        "province": bearer(server, "province", QUANG_TRI),
    }


@pytest.fixture(scope="module")
def confirmed(server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]) -> dict[str, Any]:
    """The case confirmed, with Vĩnh Linh's live stream open while it is."""
    stream = SseReader(
        f"{server.base}/api/v1/units/commune-{VINH_LINH}/stream", outbreak["vinh_linh"]
    )
    assert stream.opened.wait(10)
    r = http.post(
        "/api/v1/cases",
        headers=outbreak["province"],
        json={
            "declaration_id": outbreak["case_person"]["id"],
            "classification": "confirmed",
            "onset_date": str(today_in_vietnam() - timedelta(days=2)),
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    try:
        wait_for(
            lambda: any(
                e == "case.created" and d["subject"] == case["id"] for e, d in stream.items
            ),
            10,
            "the case on Vĩnh Linh's stream",
        )
    finally:
        stream.close()
    return {**outbreak, "case": case, "stream": stream.items}


def test_a_confirmed_case_reaches_its_commune_live(confirmed: dict[str, Any]) -> None:
    (item,) = [d for e, d in confirmed["stream"] if d["subject"] == confirmed["case"]["id"]]
    assert item["record"]["classification"] == "confirmed"
    assert item["record"]["commune_code"] == VINH_LINH


def test_feeds_are_in_order_and_resumable(http: httpx.Client, confirmed: dict[str, Any]) -> None:
    headers = confirmed["vinh_linh"]

    def page(since: str | None) -> dict[str, Any]:
        r = http.get(
            f"/api/v1/units/commune-{VINH_LINH}/feed",
            headers=headers,
            params={"limit": 2, **({"since": since} if since else {})},
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    everything, cursor = [], None
    while True:
        p = page(cursor)
        if not p["items"]:
            break
        everything += p["items"]
        cursor = p["next"]
    types = [i["type"] for i in everything]
    # The venue, the resident's declaration, the case, its F1 (check-ins go to the IOC,
    # not into the feeds).
    for expected in ("venue.created", "declaration.created", "case.created", "contact.created"):
        assert expected in types
    assert "checkin.created" not in types
    cursors = [i["cursor"] for i in everything]
    assert len(set(cursors)) == len(cursors)
    assert types.index("declaration.created") < types.index("case.created")
    # The visitor's declaration went to Hải Lăng, not here.
    subjects = {i["subject"] for i in everything}
    assert confirmed["visitor"]["id"] not in subjects


def test_the_f1_living_elsewhere_is_on_that_communes_list_due_today(
    http: httpx.Client, confirmed: dict[str, Any]
) -> None:
    def due(headers: dict[str, str], unit: int) -> list[str]:
        r = http.get(
            "/api/v1/contacts",
            headers=headers,
            params={"unit": f"commune-{unit}", "due": "today"},
        )
        assert r.status_code == 200, r.text
        return [c["document_number"] for c in r.json()["items"]]

    visitor = confirmed["visitor"]["body"]["document_number"]
    assert wait_for(lambda: visitor in due(confirmed["hai_lang"], HAI_LANG), 10, "the F1")
    # The case's own station follows its contacts too.
    assert visitor in due(confirmed["vinh_linh"], VINH_LINH)
    # A follow-up recorded today takes the contact off the list.
    contact = http.get(
        "/api/v1/contacts", headers=confirmed["hai_lang"], params={"unit": f"commune-{HAI_LANG}"}
    ).json()["items"][0]
    r = http.post(
        f"/api/v1/contacts/{contact['id']}/follow-ups",
        headers=confirmed["hai_lang"],
        json={"date": str(today_in_vietnam()), "status": "seen_ok"},
    )
    assert r.status_code in (200, 201), r.text
    wait_for(lambda: visitor not in due(confirmed["hai_lang"], HAI_LANG), 10, "the update")


@pytest.mark.parametrize(
    ("who", "unit", "status"),
    [
        ("vinh_linh", f"commune-{HAI_LANG}", 403),
        ("hai_lang", f"commune-{VINH_LINH}", 403),
        ("centre", f"commune-{VINH_LINH}", 200),
        ("centre", f"commune-{CUA_TUNG}", 200),
        ("centre", f"commune-{HAI_LANG}", 403),
        ("centre", "centre-470", 403),
        ("province", f"commune-{HAI_LANG}", 200),
        ("province", "centre-470", 200),
        ("province", "province-1", 403),
        ("vinh_linh", "commune-99999999", 404),
        ("vinh_linh", "district-464", 404),
    ],
)
def test_units_are_read_only_by_their_staff(
    server: LiveServer,
    http: httpx.Client,
    outbreak: dict[str, Any],
    who: str,
    unit: str,
    status: int,
) -> None:
    headers = outbreak[who]
    feed = http.get(f"/api/v1/units/{unit}/feed", headers=headers)
    assert feed.status_code == status, feed.text
    listed = http.get("/api/v1/cases", headers=headers, params={"unit": unit})
    assert listed.status_code == status, listed.text
    if status != 200:
        only_error(feed, status)
        stream = http.get(f"/api/v1/units/{unit}/stream", headers=headers)
        only_error(stream, status)


def test_lists_need_a_token_and_national_staff_name_a_unit(
    server: LiveServer, http: httpx.Client
) -> None:
    only_error(http.get("/api/v1/declarations"), 401)
    national = bearer(server, "national", 0)
    assert only_error(http.get("/api/v1/cases", headers=national), 422)["code"] == "unit_required"
    assert (
        http.get("/api/v1/cases", headers=national, params={"unit": "province-44"}).status_code
        == 200
    )
    bad = http.get(
        "/api/v1/venues", headers=national, params={"unit": "province-44", "cursor": "x"}
    )
    assert only_error(bad, 422)["code"] == "cursor_invalid"


def test_work_lists_page_newest_first(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    extra = [declare(http, CUA_TUNG) for _ in range(3)]
    centre = outbreak["centre"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"unit": "centre-464", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = http.get("/api/v1/declarations", headers=centre, params=params)
        assert r.status_code == 200, r.text
        seen += [d["id"] for d in r.json()["items"]]
        cursor = r.json()["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    # Cửa Tùng's three (newest) come first; the Vĩnh Linh resident's is there too;
    # the Hải Lăng visitor's is not (another centre).
    assert set(seen[:3]) == {d["id"] for d in extra}
    assert outbreak["case_person"]["id"] in seen and outbreak["visitor"]["id"] not in seen


def test_a_withdrawn_venue_takes_no_check_in(http: httpx.Client, outbreak: dict[str, Any]) -> None:
    r = http.post(
        "/api/v1/venues",
        headers=outbreak["vinh_linh"],
        json={
            "name": "Quầy tạp hóa",
            "type": "market",
            "owner_phone": "0987654322",
            "commune_code": VINH_LINH,
            "street": "3 Bến Hải",
        },
    )
    assert r.status_code == 201, r.text
    shop = r.json()
    path = f"/api/v1/venues/{shop['id']}"
    only_error(http.patch(path, json={"active": False}), 401)
    only_error(http.patch(path, headers=outbreak["hai_lang"], json={"active": False}), 403)
    withdrawn = http.patch(path, headers=outbreak["vinh_linh"], json={"active": False})
    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    scan = http.post(
        "/api/v1/checkins",
        json={"venue_code": shop["code"], "person_token": outbreak["visitor"]["qr_token"]},
    )
    assert only_error(scan, 410)["code"] == "venue_inactive"
    inactive = http.get(
        "/api/v1/venues", headers=outbreak["vinh_linh"], params={"status": "inactive"}
    ).json()["items"]
    assert [v["id"] for v in inactive] == [shop["id"]]


def test_a_declaration_at_a_checkpoint_reaches_the_checkpoints_commune(
    http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    """The shipped National Highway 1 checkpoint at Vĩnh Linh: a Hải Lăng resident who
    declares there is on both communes' lists."""
    body = distinct_declaration()
    body["residence"] = {"province_code": QUANG_TRI, "commune_code": HAI_LANG, "street": "9"}
    body["checkpoint_id"] = "ql1-vinh-linh"
    r = http.post("/api/v1/declarations", json=body)
    assert r.status_code == 201, r.text

    def listed(headers: dict[str, str], unit: str) -> set[str]:
        found = http.get("/api/v1/declarations", headers=headers, params={"unit": unit})
        return {d["id"] for d in found.json()["items"]}

    wait_for(
        lambda: r.json()["id"] in listed(outbreak["vinh_linh"], f"commune-{VINH_LINH}"),
        10,
        "Vĩnh Linh",
    )
    assert r.json()["id"] in listed(outbreak["hai_lang"], f"commune-{HAI_LANG}")


def test_the_ioc_receives_declarations_signed_and_pseudonymised(
    ioc: Receiver, confirmed: dict[str, Any]
) -> None:
    case_id = confirmed["case"]["id"]
    wait_for(lambda: case_id in ioc.subjects(), 15, "the case at the IOC")
    assert ioc.bad_signatures == 0
    mine = [e for e in ioc.events if e["subject"] == confirmed["case_person"]["id"]]
    assert [e["type"] for e in mine] == ["vn.dichte.declaration.created"]
    declared = confirmed["case_person"]["body"]
    text = json.dumps(mine[0])
    assert declared["full_name"] not in text and declared["document_number"] not in text
    assert mine[0]["data"]["declaration"]["residence"]["commune_code"] == VINH_LINH


def test_a_unit_webhook_gets_its_records(
    server: LiveServer, http: httpx.Client, outbreak: dict[str, Any]
) -> None:
    hooks = f"/api/v1/units/commune-{HAI_LANG}/webhooks"
    with receiver() as hook:
        r = http.post(
            hooks,
            headers=outbreak["hai_lang"],
            json={"url": hook.url, "events": ["declaration.created"]},
        )
        assert r.status_code == 201, r.text
        created = r.json()
        hook.secret = created["secret"]
        listed = http.get(hooks, headers=outbreak["hai_lang"])
        assert [w["id"] for w in listed.json()] == [created["id"]]
        assert "secret" not in listed.json()[0]
        bad = http.post(
            hooks,
            headers=outbreak["hai_lang"],
            json={"url": "ftp://x"},
        )
        assert only_error(bad, 422)["code"] == "webhook_url_invalid"
        newcomer = declare(http, HAI_LANG)
        elsewhere = declare(http, VINH_LINH)
        wait_for(lambda: newcomer["id"] in hook.subjects(), 15, "the webhook delivery")
        assert hook.bad_signatures == 0
        assert elsewhere["id"] not in hook.subjects()
        assert {e["type"] for e in hook.events} == {"vn.dichte.declaration.created"}
        # Full records for the unit's own system.
        (event,) = [e for e in hook.events if e["subject"] == newcomer["id"]]
        assert event["data"]["declaration"]["full_name"] == newcomer["body"]["full_name"]
        gone = http.delete(
            f"{hooks}/{created['id']}",
            headers=outbreak["hai_lang"],
        )
        assert gone.status_code == 200 and gone.json()["id"] == created["id"]
        assert http.get(hooks, headers=outbreak["hai_lang"]).json() == []
