"""What the OpenAPI document promises a client generator: every operation's answer has
a schema (or a media type, for pictures), and its error answers are the one shape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dichte.api.app import create_app
from dichte.domain.settings import Settings
from dichte.domain.venues import Venue, sign_venue_code
from dichte.serving.composition import build_services
from dichte.store.connection import UNAVAILABLE
from dichte.store.declarations import DeclarationStore
from dichte.store.epi import EpiStore
from tests.factories import declaration

NOWHERE = "redis://127.0.0.1:9/0"  # never connected to: only the schema is read here


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, dict[str, Any]]]:
    settings = Settings(redis_url=NOWHERE)
    services = build_services(
        settings,
        declarations_gateway=DeclarationStore(NOWHERE),
        epi_store=EpiStore(NOWHERE),
        signing_key=Ed25519PrivateKey.generate(),
    )
    spec = create_app(settings, services).openapi()
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]


def test_the_api_has_its_operations(operations: list[tuple[str, str, dict[str, Any]]]) -> None:
    assert len(operations) >= 37


def test_every_success_answer_has_a_schema_or_a_media_type(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    untyped = []
    for method, path, op in operations:
        for status, answer in op["responses"].items():
            if not status.startswith("2"):
                continue
            content = answer.get("content", {})
            json_schema = content.get("application/json", {}).get("schema")
            pictures = [m for m in content if m != "application/json"]
            if json_schema in (None, {}) and not pictures:
                untyped.append(f"{method} {path} {status}")
    assert untyped == []


def test_every_error_answer_is_the_one_shape(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    wrong = []
    for method, path, op in operations:
        takes_input = bool(op.get("parameters") or op.get("requestBody"))
        statuses = {s for s in op["responses"] if s.startswith("4")}
        if takes_input and "422" not in statuses:
            wrong.append(f"{method} {path}: 422 not documented")
        for status in statuses:
            ref = op["responses"][status]["content"]["application/json"]["schema"].get("$ref", "")
            if not ref.endswith("/ErrorBody"):
                wrong.append(f"{method} {path} {status}: {ref or 'inline schema'}")
    assert wrong == []


def _app_without_redis(key: Ed25519PrivateKey) -> Any:
    settings = Settings(redis_url=NOWHERE)
    services = build_services(
        settings,
        declarations_gateway=DeclarationStore(NOWHERE),
        epi_store=EpiStore(NOWHERE),
        signing_key=key,
    )
    return create_app(settings, services, UNAVAILABLE)


def _post(app: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://dichte") as http:
            return await http.post(path, json=body)

    return asyncio.run(go())


def test_a_store_outage_is_a_503_that_says_when_to_retry() -> None:
    key = Ed25519PrivateKey.generate()
    app = _app_without_redis(key)
    venue = Venue.model_construct(id="ab" * 16, created_at=datetime.now(UTC))
    checkin = {
        "venue_code": sign_venue_code(key, venue),
        "document_number": "045190000001",
    }
    # Through the declaration store's own refusal, and through a Redis error raised
    # anywhere else (the check-in's venue and person look-ups).
    for path, body in (("/api/v1/declarations", declaration()), ("/api/v1/checkins", checkin)):
        answer = _post(app, path, body)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["errors"][0]["code"] == "store_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
