"""A write sent again with the same request id (Serve's HAProxy does so when the replica
it first went to died before answering; a client may do so itself) is applied once:
the repeat gets the first answer; one whose first attempt never answered gets 503
`interrupted` with Retry-After. Over real HTTP to `dichte run`, with its Redis."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from dichte.store.keys import Keys
from tests.factories import QUANG_TRI, distinct_declaration
from tests.live import LiveServer, only_error
from tests.test_tracing_api import Person, bearer, declare


@pytest.fixture(scope="module")
def province(server: LiveServer) -> dict[str, str]:
    return bearer(server, "province", QUANG_TRI)


def _order(who: Person) -> dict[str, str]:
    start = datetime.now(UTC)
    return {
        "document_number": who.document_number,
        "kind": "home",
        "start": start.isoformat(),
        "end": (start + timedelta(days=14)).isoformat(),
    }


def test_a_repeated_write_is_applied_once_and_answered_alike(
    http: httpx.Client, province: dict[str, str]
) -> None:
    order = _order(declare(http))
    headers = {**province, "x-request-id": str(uuid.uuid4())}
    first = http.post("/api/v1/quarantine-orders", headers=headers, json=order)
    again = http.post("/api/v1/quarantine-orders", headers=headers, json=order)
    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()) == (201, first.json())  # one order, not two
    assert again.headers["x-replayed"] == "true" and "x-replayed" not in first.headers

    # Someone else repeating the id is not handed the answer: without the staff token,
    # refused as any request without one.
    stranger = http.post(
        "/api/v1/quarantine-orders", headers={"x-request-id": headers["x-request-id"]}, json=order
    )
    assert only_error(stranger, 401)["code"] == "unauthorized"

    # Under a new request id the same body is a new request: a second order.
    other = http.post("/api/v1/quarantine-orders", headers=province, json=order)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_a_write_whose_first_attempt_never_answered_is_not_applied_again(
    server: LiveServer, http: httpx.Client, province: dict[str, str]
) -> None:
    order = _order(declare(http))
    request_id = str(uuid.uuid4())
    # What a replica that died mid-request leaves: the request claimed, no answer.
    store = redis.Redis.from_url((server.data_dir / "redis" / "url").read_text().strip())
    caller = hashlib.sha256(province["Authorization"].encode()).hexdigest()[:16]
    claimed = Keys("dichte").replay(f"POST /api/v1/quarantine-orders {request_id} {caller}")
    store.set(claimed, b"", ex=60)
    headers = {**province, "x-request-id": request_id}
    for _ in range(2):
        r = http.post("/api/v1/quarantine-orders", headers=headers, json=order)
        assert only_error(r, 503)["code"] == "interrupted"
        assert int(r.headers["Retry-After"]) > 0
    assert store.get(claimed) == b""  # still unanswered: nothing was applied meanwhile


def test_a_refusal_is_answered_again_and_a_repeatable_write_is_not_held(
    http: httpx.Client, province: dict[str, str]
) -> None:
    headers = {**province, "x-request-id": str(uuid.uuid4())}
    order = _order(declare(http))
    backwards = {**order, "start": order["end"], "end": order["start"]}
    first = http.post("/api/v1/quarantine-orders", headers=headers, json=backwards)
    again = http.post("/api/v1/quarantine-orders", headers=headers, json=backwards)
    assert only_error(first, 422)["code"] == "end_before_start"
    assert (again.status_code, again.json()) == (422, first.json())

    # Declarations are idempotent by their content: the guard leaves them to it.
    same_id = {"x-request-id": str(uuid.uuid4())}
    one = http.post("/api/v1/declarations", headers=same_id, json=distinct_declaration())
    two = http.post("/api/v1/declarations", headers=same_id, json=distinct_declaration())
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]
