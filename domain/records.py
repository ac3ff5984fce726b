"""What the store keeps for a declaration, and who may read it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from dichte.domain.clock import VIETNAM_TZ
from dichte.domain.declaration import DeclarationCreate
from dichte.domain.identity import document_hash
from dichte.domain.tokens import QrClaims, Role, StaffClaims


@dataclass(frozen=True)
class Write:
    """One declaration for the store, prepared by the caller (validated, id assigned)."""

    declaration_id: str
    record_json: str
    idempotency_key: str
    content_hash: str
    document_hash: str  # hex
    created_at: int  # unix seconds
    day: str  # YYYY-MM-DD in Vietnam time, for the daily counter
    phone: str = ""
    checkpoint: str = ""  # a declaration made at a checkpoint is a passage there
    plate: str = ""
    person_fields: tuple[str, ...] = ()  # field, value, ... of the person's profile
    units: tuple[str, ...] = ()  # the health units it is routed to (domain.events)


@dataclass(frozen=True)
class Stored:
    record_json: str
    created: bool  # False: an earlier record with the same idempotency key


class DeclarationRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # 32 hex characters (128 random bits: unguessable, so a QR link is a capability)
    created_at: datetime
    declaration: DeclarationCreate
    # SHA-256 of the receipt secret handed to the submitter once (domain.tokens): what
    # self-service biometrics ask for besides the QR, which every checkpoint sees.
    receipt_sha256: str = ""

    @classmethod
    def new(cls, declaration: DeclarationCreate, now: datetime | None = None) -> DeclarationRecord:
        return cls(
            id=secrets.token_hex(16),
            created_at=(now or datetime.now(UTC)).replace(microsecond=0),
            declaration=declaration.normalized(),
        )

    def idempotency_key(self, header: str | None, content_hash: str | None = None) -> str:
        """Without an Idempotency-Key header the content itself is the key, so the same
        body resubmitted inside the window returns the first record."""
        if header:
            return f"h:{hashlib.sha256(header.encode()).hexdigest()}"
        return f"c:{content_hash or self.declaration.content_hash()}"

    def to_write(
        self,
        idempotency_key: str,
        content_hash: str | None = None,
        units: tuple[str, ...] = (),
    ) -> Write:
        """What the store writes; `idempotency_key` as `idempotency_key()` made it (the
        content hash, when the caller has it, is not computed again: the hot path)."""
        content_hash = content_hash or self.declaration.content_hash()
        d = self.declaration
        return Write(
            declaration_id=self.id,
            record_json=self.model_dump_json(),
            idempotency_key=idempotency_key,
            content_hash=content_hash,
            document_hash=document_hash(d.document_type, d.document_number).hex(),
            created_at=int(self.created_at.timestamp()),
            day=self.created_at.astimezone(VIETNAM_TZ).date().isoformat(),
            phone=d.phone,
            checkpoint=d.checkpoint_id or "",
            plate=d.vehicle.plate,
            units=units,
            person_fields=(
                "full_name",
                d.full_name,
                "document_type",
                d.document_type.value,
                "document_number",
                d.document_number,
                "phone",
                d.phone,
                "commune_code",
                str(d.residence.commune_code),
                "province_code",
                str(d.residence.province_code),
                "declaration_id",
                self.id,
            ),
        )

    def qr_claims(self, ttl: timedelta) -> QrClaims:
        issued = int(self.created_at.timestamp())
        d = self.declaration
        return QrClaims(
            self.id,
            document_hash(d.document_type, d.document_number),
            issued,
            issued + int(ttl.total_seconds()),
        )


def covers(
    staff: StaffClaims,
    commune_code: int | None,
    province_code: int | None,
    police: bool = False,
) -> bool:
    """Commune staff see their commune; a health centre the communes it serves; the
    province everything in the province; national staff everything. The police only
    where `police` says the record is theirs too (flags, venue inspections)."""
    match staff.role:
        case Role.POLICE_COMMUNE:
            return police and commune_code is not None and commune_code == staff.unit
        case Role.POLICE_PROVINCE:
            return police and province_code is not None and staff.unit == province_code
        case Role.NATIONAL:
            return True
        case Role.PROVINCE:
            return province_code is not None and staff.unit == province_code
        case Role.HEALTH_CENTRE:
            return commune_code is not None and commune_code in staff.communes
        case Role.COMMUNE:
            return commune_code is not None and commune_code == staff.unit
    return False


def can_read(staff: StaffClaims, record: DeclarationRecord) -> bool:
    """A declaration belongs to the area of residence; the province also sees everyone
    travelling into it."""
    d = record.declaration
    if staff.role is Role.PROVINCE and staff.unit == d.going_to.province_code:
        return True
    return covers(staff, d.residence.commune_code, d.residence.province_code)
