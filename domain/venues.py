"""QR check-in points: what a venue registers, and the signed code its poster carries.

Venue codes do not expire (a poster stays on the wall for the whole outbreak); a
venue is withdrawn by deactivating it in the store instead.
"""

from __future__ import annotations

import secrets
import struct
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dichte.domain import admin_units
from dichte.domain.errors import FieldError
from dichte.domain.identity import check_phone, normalize_phone
from dichte.domain.tokens import Verifier, signed_blob, verified_blob

VENUE_PREFIX = "DTV1."
_VENUE_CONTEXT = b"dichte/venue/v1:"
_VENUE_LAYOUT = struct.Struct(">B16sI")  # version, venue id, issued at


class VenueType(StrEnum):
    RESTAURANT = "restaurant"
    CAFE = "cafe"
    MARKET = "market"
    SUPERMARKET = "supermarket"
    SCHOOL = "school"
    OFFICE = "office"
    FACTORY = "factory"
    HOSPITAL = "hospital"
    TRANSPORT = "transport"
    HOTEL = "hotel"
    RELIGIOUS = "religious"
    OTHER = "other"


VENUE_TYPE_VI = {
    VenueType.RESTAURANT: "Nhà hàng",
    VenueType.CAFE: "Quán cà phê",
    VenueType.MARKET: "Chợ",
    VenueType.SUPERMARKET: "Siêu thị",
    VenueType.SCHOOL: "Trường học",
    VenueType.OFFICE: "Cơ quan",
    VenueType.FACTORY: "Nhà máy",
    VenueType.HOSPITAL: "Cơ sở y tế",
    VenueType.TRANSPORT: "Bến xe, nhà ga",
    VenueType.HOTEL: "Khách sạn, nhà nghỉ",
    VenueType.RELIGIOUS: "Cơ sở tôn giáo",
    VenueType.OTHER: "Địa điểm",
}


class VenueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]
    type: VenueType
    owner_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
    commune_code: int
    street: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    capacity: int | None = Field(default=None, ge=1, le=100_000)


class Venue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str  # 32 hex
    name: str
    type: VenueType
    owner_phone: str
    commune_code: int
    province_code: int
    street: str
    capacity: int | None
    created_at: datetime
    active: bool = True

    @classmethod
    def new(cls, body: VenueCreate, now: datetime | None = None) -> Venue:
        province = admin_units.commune_province(body.commune_code)
        assert province is not None, "check_venue first"
        return cls(
            id=secrets.token_hex(16),
            name=body.name,
            type=body.type,
            owner_phone=normalize_phone(body.owner_phone),
            commune_code=body.commune_code,
            province_code=province,
            street=body.street,
            capacity=body.capacity,
            created_at=(now or datetime.now(UTC)).replace(microsecond=0),
        )

    def address(self) -> str:
        commune = admin_units.commune_name(self.commune_code) or ""
        province = admin_units.province(self.province_code)
        return ", ".join(p for p in (self.street, commune, province.name if province else "") if p)


def check_venue(body: VenueCreate) -> list[FieldError]:
    errors = [FieldError.of("owner_phone", e.code) for e in check_phone(body.owner_phone)]
    if admin_units.commune_province(body.commune_code) is None:
        errors.append(FieldError.of("commune_code", "commune_unknown"))
    return errors


def sign_venue_code(key: Ed25519PrivateKey, venue: Venue) -> str:
    payload = _VENUE_LAYOUT.pack(1, bytes.fromhex(venue.id), int(venue.created_at.timestamp()))
    return signed_blob(key, VENUE_PREFIX, _VENUE_CONTEXT, payload)


def checkin_url(base_url: str, code: str) -> str:
    """What a poster's QR holds: a link a phone camera opens, ending with the signed code."""
    return f"{base_url}/c/{code}"


def verify_venue_code(public_key: Verifier, code: str) -> str:
    """The venue id a poster's code names, or DomainError (field venue_code) saying why.
    Takes the bare code or the check-in link that carries it."""
    code = code.strip()
    if VENUE_PREFIX in code:
        code = code[code.rindex(VENUE_PREFIX) :]
    payload = verified_blob(
        public_key, VENUE_PREFIX, _VENUE_CONTEXT, _VENUE_LAYOUT.size, code, field="venue_code"
    )
    _, venue_id, _ = _VENUE_LAYOUT.unpack(payload)
    return venue_id.hex()
