"""Signed QR and staff tokens, verified with the public key only; settings refusals."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from dichte.domain.errors import DomainError
from dichte.domain.identity import DocumentType, document_hash
from dichte.domain.keys import (
    encode_private_key,
    load_signing_key,
    load_template_keys,
    new_template_key,
)
from dichte.domain.settings import Settings
from dichte.domain.tokens import (
    QrClaims,
    Role,
    StaffClaims,
    public_key_bytes,
    sign_qr,
    sign_staff,
    verify_qr,
    verify_staff,
)

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
T0 = int(NOW.timestamp())
CLAIMS = QrClaims(
    "0123456789abcdef0123456789abcdef",
    document_hash(DocumentType.CCCD, "045090123456"),
    T0,
    T0 + 3600,
)


def offline_key() -> Ed25519PublicKey:
    # What a checkpoint holds: 32 raw bytes, nothing else.
    return Ed25519PublicKey.from_public_bytes(public_key_bytes(KEY))


def error_code(exc: pytest.ExceptionInfo[DomainError]) -> str:
    return exc.value.errors[0].code


def test_qr_token_round_trips_offline_and_stays_small() -> None:
    token = sign_qr(KEY, CLAIMS)
    assert verify_qr(offline_key(), token, now=NOW) == CLAIMS
    assert len(token) <= 160  # fits a version-7 QR at level M with room to spare


def test_qr_token_carries_a_hash_not_the_document_number() -> None:
    raw = base64.urlsafe_b64decode(sign_qr(KEY, CLAIMS)[4:] + "==")
    assert b"045090123456" not in raw
    assert document_hash(DocumentType.CCCD, "045 090 123 456") == CLAIMS.document_hash


def test_token_signed_by_another_key_is_forged() -> None:
    forged = sign_qr(Ed25519PrivateKey.generate(), CLAIMS)
    with pytest.raises(DomainError) as exc:
        verify_qr(offline_key(), forged, now=NOW)
    assert error_code(exc) == "token_bad_signature"


def test_altered_token_is_rejected() -> None:
    token = sign_qr(KEY, CLAIMS)
    raw = bytearray(base64.urlsafe_b64decode(token[4:] + "=="))
    raw[5] ^= 0x01  # change one bit of the declaration id
    altered = "DT1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(DomainError) as exc:
        verify_qr(offline_key(), altered, now=NOW)
    assert error_code(exc) == "token_bad_signature"


def test_expired_token_says_when() -> None:
    with pytest.raises(DomainError) as exc:
        verify_qr(offline_key(), sign_qr(KEY, CLAIMS), now=NOW + timedelta(hours=1))
    assert error_code(exc) == "token_expired"
    assert exc.value.status == 410
    assert "2026-11-25T09:00:00" in exc.value.errors[0].message_en


@pytest.mark.parametrize(
    "token",
    ["", "hello", "DT1.", "DT1.!!!!", "DT1.AAAA", "DTS1.x.y"],
    ids=["empty", "no prefix", "no payload", "not base64", "too short", "staff prefix"],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(DomainError) as exc:
        verify_qr(offline_key(), token, now=NOW)
    assert error_code(exc) == "token_malformed"


def test_staff_token_cannot_pass_as_qr_and_back() -> None:
    staff = sign_staff(KEY, StaffClaims(Role.PROVINCE, 44, "cdc", T0, T0 + 60))
    assert verify_staff(offline_key(), staff, now=NOW).unit == 44
    with pytest.raises(DomainError):
        verify_qr(offline_key(), staff, now=NOW)
    # A QR signature over the same bytes under the staff prefix must not verify.
    with pytest.raises(DomainError):
        verify_staff(offline_key(), "DTS1." + sign_qr(KEY, CLAIMS)[4:] + ".AAAA", now=NOW)


def test_production_refuses_missing_or_documented_secrets() -> None:
    with pytest.raises(ValidationError, match="DICHTE_SIGNING_KEY"):
        Settings(mode="production", redis_url="redis://db:6379/0")
    with pytest.raises(ValidationError, match="DICHTE_SIGNING_KEY"):
        Settings(mode="production", redis_url="redis://db:6379/0", signing_key="changethis")
    template = new_template_key()
    with pytest.raises(ValidationError, match="DICHTE_REDIS_URL"):
        Settings(mode="production", signing_key=encode_private_key(KEY), template_key=template)
    with pytest.raises(ValidationError, match="DICHTE_TEMPLATE_KEY"):
        Settings(
            mode="production", redis_url="redis://db:6379/0", signing_key=encode_private_key(KEY)
        )
    ok = Settings(
        mode="production",
        redis_url="redis://db:6379/0",
        signing_key=encode_private_key(KEY),
        template_key=template,
    )
    assert public_key_bytes(load_signing_key(ok)) == public_key_bytes(KEY)
    assert load_template_keys(ok) == (base64.b64decode(template),)


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Settings(redis_ulr="redis://typo")  # type: ignore[call-arg]


def test_development_key_is_generated_once_and_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=tmp_path)
    first = public_key_bytes(load_signing_key(s))
    assert public_key_bytes(load_signing_key(s)) == first
    assert (tmp_path / "keys" / "signing.key").stat().st_mode & 0o077 == 0
    (template,) = load_template_keys(s)
    assert len(template) == 32 and load_template_keys(s) == (template,)
    assert (tmp_path / "keys" / "template.key").stat().st_mode & 0o077 == 0
