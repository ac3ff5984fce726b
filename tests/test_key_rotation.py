"""Rotating the keys without loss (README, "Keys"): after a new signing key, what the
old one signed (QR codes citizens carry, venue posters, staff tokens) is still accepted
while its public key is in DICHTE_PREVIOUS_SIGNING_KEYS, and refused once it is not;
after a new template key, templates sealed with the old one still open while it is in
DICHTE_PREVIOUS_TEMPLATE_KEYS, and `dichte reseal` seals them with the new key so the
old one can go. On the real app over HTTP and real Redis."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dichte.api.app import create_app
from dichte.domain.identity import DocumentType, document_hash
from dichte.domain.keys import encode_private_key
from dichte.domain.settings import Settings
from dichte.domain.templates import Eye, IrisTemplate, Template, TemplateSources
from dichte.domain.tokens import QrClaims, Role, StaffClaims, public_key_bytes, sign_qr, sign_staff
from dichte.domain.venues import Venue, sign_venue_code
from dichte.serving.composition import build_services
from dichte.store.connection import UNAVAILABLE
from dichte.store.declarations import DeclarationStore
from dichte.store.epi import EpiStore
from dichte.store.gallery import IrisTemplateStore, TemplateStore
from tests.factories import QUANG_TRI, distinct_declaration
from tests.test_tracing_api import DONG_HOI_WARD

OLD, NEW = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


def _public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(public_key_bytes(key)).decode()


def _app(redis_url: str, key_prefix: str, previous: str, signing: Ed25519PrivateKey = NEW) -> Any:
    settings = Settings(
        redis_url=redis_url,
        redis_key_prefix=key_prefix,
        signing_key=encode_private_key(signing),
        previous_signing_keys=previous,
    )
    services = build_services(
        settings,
        declarations_gateway=DeclarationStore.of(settings),
        epi_store=EpiStore.of(settings),
        signing_key=signing,
    )
    return create_app(settings, services, UNAVAILABLE)


def _signed_by(key: Ed25519PrivateKey) -> dict[str, str]:
    now = int(time.time())
    qr = QrClaims(
        os.urandom(16).hex(), document_hash(DocumentType.CCCD, "045190000777"), now, now + 3600
    )
    staff = StaffClaims(Role.PROVINCE, QUANG_TRI, "officer", now, now + 3600)
    return {"qr": sign_qr(key, qr), "staff": sign_staff(key, staff)}


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://dichte")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


NEW_VENUE = {
    "name": "Chợ Đồng Hới",
    "type": "market",
    "owner_phone": "0987654321",
    "commune_code": DONG_HOI_WARD,
    "street": "1 Quang Trung",
}


def test_what_the_old_signing_key_signed_is_accepted_while_it_is_listed(
    redis_url: str, key_prefix: str
) -> None:
    old = _signed_by(OLD)

    declaration, resubmit = distinct_declaration(), {"Idempotency-Key": os.urandom(8).hex()}

    async def scenario() -> None:  # one event loop: the app's Redis clients live in it
        async with _client(_app(redis_url, key_prefix, "", signing=OLD)) as before:
            first = await before.post("/api/v1/declarations", json=declaration, headers=resubmit)
            assert first.status_code == 201 and first.json()["receipt_secret"]
        async with _client(_app(redis_url, key_prefix, previous=_public(OLD))) as rotating:
            # The declaration's own QR, signed before the rotation, still verifies; a
            # resubmit gets the first record, without a receipt secret that would not match.
            verify = await rotating.post(
                "/api/v1/qr/verify", json={"token": first.json()["qr_token"]}
            )
            assert verify.json()["valid"] is True
            again = await rotating.post("/api/v1/declarations", json=declaration, headers=resubmit)
            assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
            assert again.json()["receipt_secret"] is None
            made = await rotating.post(
                "/api/v1/venues", json=NEW_VENUE, headers=_bearer(_signed_by(NEW)["staff"])
            )
            assert made.status_code == 201, made.text
            # A poster printed before the rotation: this venue, its code signed by the old key.
            venue = Venue.model_construct(
                id=made.json()["id"], created_at=datetime.fromisoformat(made.json()["created_at"])
            )
            scan = {"venue_code": sign_venue_code(OLD, venue), "person_token": old["qr"]}
            verify = await rotating.post("/api/v1/qr/verify", json={"token": old["qr"]})
            assert verify.status_code == 200 and verify.json()["valid"] is True
            listed = await rotating.get("/api/v1/venues", headers=_bearer(old["staff"]))
            assert listed.status_code == 200, listed.text
            checkin = await rotating.post("/api/v1/checkins", json=scan)
            assert checkin.status_code == 201, checkin.text
            # What an offline checkpoint loads: the key that signs now, and the one still
            # accepted.
            keys = (await rotating.get("/api/v1/qr/public-key")).json()
            assert keys["raw_base64"] == _public(NEW)
            assert keys["previous_raw_base64"] == [_public(OLD)]

        # The rotation over (the old key dropped): the same tokens are refused.
        async with _client(_app(redis_url, key_prefix, previous="")) as rotated:
            verify = await rotated.post("/api/v1/qr/verify", json={"token": old["qr"]})
            assert verify.json()["errors"][0]["code"] == "token_bad_signature"
            listed = await rotated.get("/api/v1/venues", headers=_bearer(old["staff"]))
            assert listed.status_code == 401
            checkin = await rotated.post("/api/v1/checkins", json=scan)
            assert checkin.json()["errors"][0]["field"] == "venue_code"

    asyncio.run(scenario())


def test_a_malformed_previous_signing_key_stops_the_start() -> None:
    with pytest.raises(ValueError, match="previous signing key"):
        _app("redis://127.0.0.1:1/0", "x", previous="not-a-key")


def _templates(n: int) -> tuple[list[Template], list[IrisTemplate]]:
    expires = int((datetime.now(UTC) + timedelta(days=2)).timestamp())
    rng = np.random.default_rng(n)
    faces = [
        Template(
            f"p{i}",
            rng.normal(size=128).astype(np.float32),
            TemplateSources.DECLARATION,
            0,
            expires,
        )
        for i in range(n)
    ]
    irises = [
        IrisTemplate(f"p{i}", Eye.LEFT, rng.bytes(512), TemplateSources.DECLARATION, 0, expires)
        for i in range(n)
    ]
    return faces, irises


def test_templates_sealed_with_the_old_key_open_and_reseal_moves_them_to_the_new(
    redis_url: str, key_prefix: str
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    faces, irises = _templates(7)

    async def go() -> None:
        for t in faces:
            await TemplateStore(redis_url, key_prefix, old).save(t)
        for t in irises:
            await IrisTemplateStore(redis_url, key_prefix, old).save(t)
        # New key alone: nothing opens. With the old one listed: everything does.
        assert await TemplateStore(redis_url, key_prefix, new).load() == []
        rotating = TemplateStore(redis_url, key_prefix, new, [old])
        assert sorted(t.person_id for t in await rotating.load()) == sorted(
            t.person_id for t in faces
        )
        # Forgotten before the reseal: stays forgotten.
        await rotating.delete(["p0"])

    asyncio.run(go())
    env = {
        **os.environ,
        "DICHTE_REDIS_URL": redis_url,
        "DICHTE_REDIS_KEY_PREFIX": key_prefix,
        "DICHTE_TEMPLATE_KEY": base64.b64encode(new).decode(),
        "DICHTE_PREVIOUS_TEMPLATE_KEYS": base64.b64encode(old).decode(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "dichte.cli.main", "reseal"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "face templates: 6 sealed again" in done.stdout
    assert "iris templates: 7 sealed again" in done.stdout

    async def after() -> None:
        faces_now = await TemplateStore(redis_url, key_prefix, new).load()  # no old key
        irises_now = await IrisTemplateStore(redis_url, key_prefix, new).load()
        assert sorted(t.person_id for t in faces_now) == [f"p{i}" for i in range(1, 7)]
        assert len(irises_now) == 7
        by_person = {t.person_id: t for t in faces}
        for t in faces_now:  # the same template, its expiry kept
            assert np.allclose(
                t.embedding / np.linalg.norm(t.embedding),
                by_person[t.person_id].embedding / np.linalg.norm(by_person[t.person_id].embedding),
                atol=1e-6,
            )
            assert t.expires_at == by_person[t.person_id].expires_at

    asyncio.run(after())
