"""Ed25519-signed tokens.

* QR token: what a citizen's QR code carries. Compact binary (105 bytes, 140
  characters) so the QR stays small and a phone camera reads it from a windscreen;
  a checkpoint verifies it offline with the public key alone.
* Staff token: a bearer token naming a role and an administrative unit.

Each kind signs under its own context prefix, so a signature of one kind can never
be replayed as the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dichte.domain.clock import CLOCK_SKEW
from dichte.domain.errors import DomainError

QR_PREFIX = "DT1."
STAFF_PREFIX = "DTS1."
_QR_CONTEXT = b"dichte/qr/v1:"
_STAFF_CONTEXT = b"dichte/staff/v1:"
_RECEIPT_CONTEXT = b"dichte/receipt/v1:"
_QR_LAYOUT = struct.Struct(">B16s16sII")  # version, declaration id, document hash, iat, exp
_QR_VERSION = 1
_SIGNATURE_BYTES = 64


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _malformed(what: str, field: str = "token") -> DomainError:
    return DomainError.of(field, "token_malformed", what=what)


class Verifier(Protocol):
    """What checks a signature: one public key, or `VerifyingKeys`."""

    def verify(self, signature: bytes, data: bytes) -> None: ...


class VerifyingKeys:
    """The current signing key's public key, then those of earlier signing keys still
    accepted while a rotation is under way: what was signed with any of them verifies,
    and new signatures come from the current key alone."""

    def __init__(self, current: Ed25519PublicKey, previous: Sequence[Ed25519PublicKey] = ()):
        self.current = current
        self.previous = tuple(previous)

    def verify(self, signature: bytes, data: bytes) -> None:
        for key in (self.current, *self.previous):
            try:
                key.verify(signature, data)
                return
            except InvalidSignature:
                continue
        raise InvalidSignature


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _verify(public_key: Verifier, signature: bytes, message: bytes, field: str = "token") -> None:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise DomainError.of(field, "token_bad_signature") from None


def signed_blob(key: Ed25519PrivateKey, prefix: str, context: bytes, payload: bytes) -> str:
    """prefix + base64url(payload + Ed25519 signature of context + payload)."""
    return prefix + _b64e(payload + key.sign(context + payload))


def verified_blob(
    public_key: Verifier,
    prefix: str,
    context: bytes,
    size: int,
    token: str,
    field: str = "token",
) -> bytes:
    """The payload of a `signed_blob`, or DomainError saying why it is not one."""
    token = token.strip()
    if not token.startswith(prefix):
        raise _malformed(f"expected prefix {prefix}", field)
    try:
        raw = _b64d(token[len(prefix) :])
    except (binascii.Error, ValueError):
        raise _malformed("not base64url", field) from None
    if len(raw) != size + _SIGNATURE_BYTES:
        raise _malformed("wrong length", field)
    _verify(public_key, raw[size:], context + raw[:size], field)
    return raw[:size]


def _check_time(
    issued_at: int, expires_at: int, now: datetime | None, field: str = "token"
) -> None:
    t = int((now or datetime.now(UTC)).timestamp())
    if t >= expires_at:
        expired = datetime.fromtimestamp(expires_at, UTC).isoformat()
        raise DomainError.of(field, "token_expired", expired=expired)
    if issued_at > t + CLOCK_SKEW.total_seconds():
        raise DomainError.of(field, "token_not_yet_valid")


@dataclass(frozen=True)
class QrClaims:
    declaration_id: str  # 32 hex characters
    document_hash: bytes  # 16 bytes
    issued_at: int  # unix seconds
    expires_at: int

    def as_public_dict(self) -> dict[str, object]:
        return {
            "declaration_id": self.declaration_id,
            "document_hash": self.document_hash.hex(),
            "issued_at": datetime.fromtimestamp(self.issued_at, UTC).isoformat(),
            "expires_at": datetime.fromtimestamp(self.expires_at, UTC).isoformat(),
        }


def sign_qr(key: Ed25519PrivateKey, claims: QrClaims) -> str:
    payload = _QR_LAYOUT.pack(
        _QR_VERSION,
        bytes.fromhex(claims.declaration_id),
        claims.document_hash,
        claims.issued_at,
        claims.expires_at,
    )
    return signed_blob(key, QR_PREFIX, _QR_CONTEXT, payload)


def verify_qr(
    public_key: Verifier, token: str, now: datetime | None = None, field: str = "token"
) -> QrClaims:
    """Offline verification: needs only the public key. Raises DomainError saying why."""
    payload = verified_blob(public_key, QR_PREFIX, _QR_CONTEXT, _QR_LAYOUT.size, token, field)
    version, decl_id, doc_hash, iat, exp = _QR_LAYOUT.unpack(payload)
    if version != _QR_VERSION:
        raise _malformed(f"unknown version {version}", field)
    _check_time(iat, exp, now, field)
    return QrClaims(decl_id.hex(), doc_hash, iat, exp)


class Role(StrEnum):
    COMMUNE = "commune"  # a commune health station: unit = commune code
    HEALTH_CENTRE = "health_centre"  # a regional health centre: the communes it serves
    PROVINCE = "province"  # the provincial CDC / department: unit = province code
    NATIONAL = "national"  # Ministry level: everything
    # The police handle dishonest declarations: they read flags (and record venue
    # inspections) in their commune or province, never health records.
    POLICE_COMMUNE = "police_commune"  # unit = commune code
    POLICE_PROVINCE = "police_province"  # unit = province code


@dataclass(frozen=True)
class StaffClaims:
    role: Role
    unit: int
    subject: str
    issued_at: int
    expires_at: int
    communes: tuple[int, ...] = field(default=())


def sign_staff(key: Ed25519PrivateKey, claims: StaffClaims) -> str:
    body = json.dumps(
        {
            "role": claims.role.value,
            "unit": claims.unit,
            "sub": claims.subject,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "communes": list(claims.communes),
        },
        separators=(",", ":"),
    ).encode()
    return f"{STAFF_PREFIX}{_b64e(body)}.{_b64e(key.sign(_STAFF_CONTEXT + body))}"


def verify_staff(public_key: Verifier, token: str, now: datetime | None = None) -> StaffClaims:
    if not token.startswith(STAFF_PREFIX) or token.count(".") != 2:
        raise _malformed(f"expected {STAFF_PREFIX}<claims>.<signature>")
    body_text, sig_text = token[len(STAFF_PREFIX) :].split(".")
    try:
        body, signature = _b64d(body_text), _b64d(sig_text)
    except (binascii.Error, ValueError):
        raise _malformed("not base64url") from None
    _verify(public_key, signature, _STAFF_CONTEXT + body)
    try:
        c = json.loads(body)
        claims = StaffClaims(
            Role(c["role"]),
            int(c["unit"]),
            str(c["sub"]),
            int(c["iat"]),
            int(c["exp"]),
            tuple(int(x) for x in c.get("communes", [])),
        )
    except (ValueError, KeyError, TypeError):
        raise _malformed("claims") from None
    _check_time(claims.issued_at, claims.expires_at, now)
    return claims


def derived_key(key: Ed25519PrivateKey, context: bytes) -> bytes:
    """A 32-byte HMAC key for one purpose (`context`), derived from the server key."""
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hmac.new(seed, context, hashlib.sha256).digest()


def receipt_key(key: Ed25519PrivateKey) -> bytes:
    """The HMAC key of receipt secrets, derived from the server key (derive once)."""
    return derived_key(key, _RECEIPT_CONTEXT)


def receipt_secret(mac_key: bytes, declaration_id: str, idempotency_key: str) -> str:
    """The secret handed to whoever submitted a declaration (128 bits, base64url): an
    HMAC under `receipt_key`, so a retry with the same Idempotency-Key gets the same
    secret back and nothing needs storing but its hash."""
    message = f"{declaration_id}|{idempotency_key}".encode()
    return _b64e(hmac.new(mac_key, message, hashlib.sha256).digest()[:16])


def receipt_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def receipt_matches(digest: str, secret: str) -> bool:
    return bool(digest) and hmac.compare_digest(digest, receipt_digest(secret))
