"""Health declarations: submit (checked, signed, stored once), read by staff of the area,
the QR token a checkpoint verifies offline, and the receipt secret that proves the
submitter for self-service biometrics."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, Field

from dichte.domain.clock import today_in_vietnam
from dichte.domain.declaration import DeclarationCreate, check_declaration
from dichte.domain.errors import DomainError, not_found, refuse
from dichte.domain.events import declaration_units
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import DeclarationRecord, Stored, Write, can_read
from dichte.domain.tokens import (
    QrClaims,
    StaffClaims,
    VerifyingKeys,
    public_key_bytes,
    receipt_digest,
    receipt_key,
    receipt_matches,
    receipt_secret,
    sign_qr,
    verify_qr,
)

_ID = re.compile(r"^[0-9a-f]{32}$")


class DeclarationGateway(Protocol):
    """The store as the service sees it: the Ray actor in Serve, the plain store elsewhere."""

    async def submit(self, write: Write) -> Stored: ...

    async def get(self, declaration_id: str) -> str | None: ...

    async def ping(self) -> bool: ...


class DeclarationReceipt(BaseModel):
    id: str
    created_at: datetime
    qr_token: str = Field(description="The signed QR token (DT1.…) a checkpoint verifies")
    expires_at: datetime
    qr_svg_url: str
    qr_png_url: str


class SubmitReceipt(DeclarationReceipt):
    receipt_secret: str | None = Field(
        description="Proves the submitter for self-service face enrolment and deletion: keep "
        "it on the phone, never show it. Given when the declaration is created, and again "
        "on a retry with the same Idempotency-Key; null on a retry without one."
    )


class DeclarationPublic(DeclarationReceipt):
    declaration: DeclarationCreate


class QrVerification(BaseModel):
    valid: bool = Field(description="Always true: an invalid token is answered with an error")
    claims: dict[str, object]


class PublicKey(BaseModel):
    algorithm: str
    raw_base64: str = Field(description="The key everything is signed with now")
    pem: str
    previous_raw_base64: list[str] = Field(
        default_factory=list,
        description="Earlier signing keys still accepted while a rotation is under way: "
        "an offline verifier accepts what any of these signed",
    )


def _raw_base64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_bytes(key)).decode()


class DeclarationService:
    def __init__(
        self,
        gateway: DeclarationGateway,
        signing_key: Ed25519PrivateKey,
        qr_ttl: timedelta,
        on_outcome: Callable[[str, int | None], None] = lambda outcome, province: None,
        jurisdictions: Jurisdictions | None = None,
        checkpoint_commune: Callable[[str], Awaitable[int | None]] | None = None,
        verifying_keys: VerifyingKeys | None = None,
    ) -> None:
        """`verifying_keys`: what QR codes are checked against (the signing key's public
        key, then earlier keys' during a rotation); by default the signing key's alone."""
        self._jurisdictions = jurisdictions or Jurisdictions()
        self._checkpoint_commune = checkpoint_commune
        self._gateway = gateway
        self._key = signing_key
        self._receipt_key = receipt_key(signing_key)
        self._public = verifying_keys or VerifyingKeys(signing_key.public_key())
        self._qr_ttl = qr_ttl
        # (created | replayed | rejected | failed, the residence province of a stored one)
        self._on_outcome = on_outcome

    async def ping(self) -> bool:
        try:
            return await self._gateway.ping()
        except Exception:
            return False

    def _receipt(self, record: DeclarationRecord) -> dict[str, object]:
        """The fields every answer about a declaration has."""
        claims = record.qr_claims(self._qr_ttl)
        base = f"/api/v1/declarations/{record.id}"
        return {
            "id": record.id,
            "created_at": record.created_at,
            "qr_token": sign_qr(self._key, claims),
            "expires_at": datetime.fromtimestamp(claims.expires_at, UTC),
            "qr_svg_url": f"{base}/qr.svg",
            "qr_png_url": f"{base}/qr.png",
        }

    async def submit(
        self, body: DeclarationCreate, idempotency_header: str | None
    ) -> tuple[SubmitReceipt, bool]:
        """(receipt, created): a retry answers with the first record, created False."""
        try:
            refuse(check_declaration(body, today_in_vietnam()))
        except DomainError:
            self._on_outcome("rejected", None)
            raise
        record = DeclarationRecord.new(body)
        content = record.declaration.content_hash()
        key = record.idempotency_key(idempotency_header, content)
        secret = receipt_secret(self._receipt_key, record.id, key)
        record = record.model_copy(update={"receipt_sha256": receipt_digest(secret)})
        try:
            d = record.declaration
            at_checkpoint = (
                await self._checkpoint_commune(d.checkpoint_id)
                if d.checkpoint_id and self._checkpoint_commune
                else None
            )
            units = declaration_units(
                self._jurisdictions,
                d.residence.commune_code,
                d.going_to.province_code,
                at_checkpoint,
            )
            stored = await self._gateway.submit(record.to_write(key, content, units))
        except DomainError:
            self._on_outcome("failed", None)
            raise
        if not stored.created:  # a retry: answer with the first record
            record = DeclarationRecord.model_validate_json(stored.record_json)
            # The same key gives the first record's secret back; a body resubmitted
            # without a key could come from anyone who knows its content: no secret.
            # Nor after a signing-key rotation (the secret derives from the key): one
            # that does not match the first record's would only be refused later.
            secret = receipt_secret(self._receipt_key, record.id, key) if idempotency_header else ""
            if secret and not receipt_matches(record.receipt_sha256, secret):
                secret = ""
        province = record.declaration.residence.province_code
        self._on_outcome("created" if stored.created else "replayed", province)
        return SubmitReceipt(**self._receipt(record), receipt_secret=secret or None), stored.created

    async def record(self, declaration_id: str, field: str = "id") -> DeclarationRecord:
        raw = await self._gateway.get(declaration_id) if _ID.match(declaration_id) else None
        if raw is None:
            raise not_found(field, "declaration")
        return DeclarationRecord.model_validate_json(raw)

    async def read(self, declaration_id: str, staff: StaffClaims) -> DeclarationPublic:
        record = await self.record(declaration_id)
        if not can_read(staff, record):
            raise DomainError.of("id", "forbidden")
        return DeclarationPublic(**self._receipt(record), declaration=record.declaration)

    async def qr_token(self, declaration_id: str) -> str:
        """The token a declaration's QR image carries (the id is the permission: 128
        random bits)."""
        record = await self.record(declaration_id)
        return sign_qr(self._key, record.qr_claims(self._qr_ttl))

    def verify(self, token: str, field: str = "token") -> QrClaims:
        return verify_qr(self._public, token, field=field)

    def verification(self, token: str) -> QrVerification:
        return QrVerification(valid=True, claims=self.verify(token).as_public_dict())

    def public_key(self) -> PublicKey:
        current = self._public.current
        return PublicKey(
            algorithm="Ed25519",
            raw_base64=_raw_base64(current),
            pem=current.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
            previous_raw_base64=[_raw_base64(k) for k in self._public.previous],
        )

    async def person_of(
        self,
        person_token: str,
        *,
        receipt: str | None,
        staff: StaffClaims | None,
        needs_consent: bool,
    ) -> str:
        """The person a declaration QR names, for a biometric act on their behalf. The QR
        alone is not enough (it is shown at every checkpoint): the submitter's receipt
        secret, or staff presence, proves the person is there. Enrolment also needs the
        declaration's consent."""
        claims = self.verify(person_token, field="person_token")
        record = await self.record(claims.declaration_id, field="person_token")
        if staff is None and not (receipt and receipt_matches(record.receipt_sha256, receipt)):
            raise DomainError.of("receipt_secret", "receipt_secret_invalid")
        if needs_consent and not record.declaration.biometric_consent:
            raise DomainError.of("person_token", "no_consent")
        return claims.document_hash.hex()
