"""QR check-in points: registration (public, rate-limited; or staff of the area), the
venue as the public sees it, and its signed code."""

from __future__ import annotations

import re
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field

from dichte.domain.errors import DomainError, not_found, refuse
from dichte.domain.events import place_units
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import covers
from dichte.domain.tokens import StaffClaims, VerifyingKeys
from dichte.domain.venues import (
    VENUE_TYPE_VI,
    Venue,
    VenueCreate,
    VenueType,
    check_venue,
    checkin_url,
    sign_venue_code,
    verify_venue_code,
)
from dichte.store.epi import EpiStore

_ID = re.compile(r"^[0-9a-f]{32}$")
POSTER_FORMATS = ("pdf", "png", "svg")


class VenuePublic(BaseModel):
    id: str
    name: str
    type: VenueType
    type_vi: str = Field(description="The kind of venue, in Vietnamese (as on the poster)")
    commune_code: int
    province_code: int
    street: str
    capacity: int | None
    created_at: datetime
    active: bool
    address: str
    code: str = Field(description="The signed venue code (DTV1.…), verifiable offline")
    checkin_url: str = Field(description="The link the poster's QR code carries")
    qr_svg_url: str
    poster_urls: dict[str, str]


class VenueService:
    def __init__(
        self,
        store: EpiStore,
        signing_key: Ed25519PrivateKey,
        base_url: str,
        registrations_per_hour: int,
        jurisdictions: Jurisdictions | None = None,
        verifying_keys: VerifyingKeys | None = None,
    ) -> None:
        self._jurisdictions = jurisdictions or Jurisdictions()
        # Venue codes on posters printed before a key rotation stay valid with these.
        self.verifying_keys = verifying_keys or VerifyingKeys(signing_key.public_key())
        self._store = store
        self._key = signing_key
        self._base_url = base_url
        self._per_hour = registrations_per_hour

    def units(self, venue: Venue) -> tuple[str, ...]:
        """The health units a venue and its check-ins are routed to."""
        return place_units(self._jurisdictions, venue.commune_code)

    def code(self, venue: Venue) -> str:
        return sign_venue_code(self._key, venue)

    def link(self, venue: Venue) -> str:
        """What the venue's QR code holds: the check-in page with the signed code."""
        return checkin_url(self._base_url, self.code(venue))

    def public(self, venue: Venue) -> VenuePublic:
        base = f"/api/v1/venues/{venue.id}"
        code = self.code(venue)
        return VenuePublic(
            **venue.model_dump(exclude={"owner_phone"}),
            type_vi=VENUE_TYPE_VI[venue.type],
            address=venue.address(),
            code=code,
            checkin_url=checkin_url(self._base_url, code),
            qr_svg_url=f"{base}/qr.svg",
            poster_urls={fmt: f"{base}/poster.{fmt}" for fmt in POSTER_FORMATS},
        )

    async def venue(self, venue_id: str, field: str = "venue_id") -> Venue:
        venue = await self._store.venue(venue_id) if _ID.match(venue_id) else None
        if venue is None:
            raise not_found(field, "venue")
        return venue

    async def of_code(self, code: str) -> Venue:
        """The venue a poster's code (or check-in link) names; refused if withdrawn."""
        venue = await self.venue(verify_venue_code(self.verifying_keys, code), field="venue_code")
        if not venue.active:
            raise DomainError.of("venue_code", "venue_inactive")
        return venue

    async def register(
        self, body: VenueCreate, staff: StaffClaims | None, client: str
    ) -> VenuePublic:
        """Venue owners register publicly (rate-limited per client address); staff
        register venues of their own area without a limit."""
        refuse(check_venue(body))
        venue = Venue.new(body)
        if staff is not None:
            if not covers(staff, venue.commune_code, venue.province_code):
                raise DomainError.of("request", "forbidden")
        elif not await self._store.allow("venue-registration", client, self._per_hour, 3600):
            raise DomainError.of("request", "rate_limited")
        await self._store.add_venue(venue, self.units(venue))
        return self.public(venue)

    async def set_active(self, venue_id: str, active: bool, staff: StaffClaims) -> VenuePublic:
        """Withdraw a venue (its poster's QR then answers venue_inactive) or restore it:
        staff of its area."""
        venue = await self.venue(venue_id)
        if not covers(staff, venue.commune_code, venue.province_code):
            raise DomainError.of("request", "forbidden")
        if venue.active != active:
            venue = venue.model_copy(update={"active": active})
            await self._store.save_venue(venue, self.units(venue))
        return self.public(venue)
