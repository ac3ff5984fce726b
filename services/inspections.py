"""Inspection of QR check-in points by the field team (health, police, information
and communications): the venues of a commune due for a visit, first things first,
and the visits recorded with their photo."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel

from dichte.domain import admin_units
from dichte.domain.clock import now_utc
from dichte.domain.errors import DomainError, not_found
from dichte.domain.events import place_units
from dichte.domain.inspections import (
    Inspection,
    InspectionCreate,
    VenueFlag,
    VenueState,
    venue_flags,
    visit_order,
)
from dichte.domain.jurisdictions import Jurisdictions
from dichte.domain.records import covers
from dichte.domain.tokens import Role, StaffClaims
from dichte.services.venues import VenueService
from dichte.services.vision import VisionService
from dichte.store.inspections import InspectionStore

_ID = re.compile(r"^[0-9a-f]{32}$")


def _at(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class DueVenue(BaseModel):
    venue_id: str
    name: str
    address: str
    type: str
    registered_at: datetime
    last_scan_at: datetime | None
    last_inspection_at: datetime | None
    poster_displayed: bool | None  # at the latest visit
    flags: list[VenueFlag]


class DueList(BaseModel):
    commune_code: int
    commune_name: str
    venues: list[DueVenue]


class InspectionService:
    def __init__(
        self,
        store: InspectionStore,
        venues: VenueService,
        vision: VisionService,
        jurisdictions: Jurisdictions,
    ) -> None:
        self._store = store
        self._venues = venues
        self._vision = vision
        self._units = jurisdictions

    @staticmethod
    def _check(staff: StaffClaims, commune: int) -> None:
        if not covers(staff, commune, admin_units.commune_province(commune), police=True):
            raise DomainError.of("request", "forbidden")

    async def due(self, staff: StaffClaims, commune: int | None, everything: bool) -> DueList:
        """The commune's venues due for a visit, in visiting order (`everything`: every
        registered venue, those not due last)."""
        if commune is None:
            if staff.role not in (Role.COMMUNE, Role.POLICE_COMMUNE):
                raise DomainError.of("commune", "commune_required")
            commune = staff.unit
        name = admin_units.commune_name(commune)
        if name is None:
            raise DomainError.of("commune", "commune_unknown")
        self._check(staff, commune)
        now = now_utc()
        listed = []
        for venue, scan, seen, compliant in await self._store.commune_venues(commune):
            state = VenueState(venue.id, venue.created_at, _at(scan), _at(seen), compliant)
            flags = venue_flags(state, now)
            if flags or everything:
                listed.append((visit_order(state, now), venue, state, flags))
        listed.sort(key=lambda item: (item[0], item[1].id))
        return DueList(
            commune_code=commune,
            commune_name=name,
            venues=[
                DueVenue(
                    venue_id=v.id,
                    name=v.name,
                    address=v.address(),
                    type=v.type.value,
                    registered_at=v.created_at,
                    last_scan_at=s.last_scan,
                    last_inspection_at=s.last_inspection,
                    poster_displayed=s.compliant,
                    flags=flags,
                )
                for _, v, s, flags in listed
            ],
        )

    async def record(
        self, venue_id: str, body: InspectionCreate, photo: bytes | None, staff: StaffClaims
    ) -> Inspection:
        venue = await self._venues.venue(venue_id)
        self._check(staff, venue.commune_code)
        kept = await self._vision.stored_photo(photo) if photo else None
        inspection = Inspection(
            **body.model_dump(),
            id=secrets.token_hex(16),
            venue_id=venue.id,
            commune_code=venue.commune_code,
            at=now_utc().replace(microsecond=0),
            by=staff.subject,
            role=staff.role.value,
            photo=kept is not None,
        )
        await self._store.record(inspection, kept, place_units(self._units, venue.commune_code))
        return inspection

    async def of_venue(self, venue_id: str, staff: StaffClaims, limit: int) -> list[Inspection]:
        venue = await self._venues.venue(venue_id)
        self._check(staff, venue.commune_code)
        return await self._store.of_venue(venue.id, limit)

    async def photo(self, inspection_id: str, staff: StaffClaims) -> bytes:
        inspection = await self._store.get(inspection_id) if _ID.match(inspection_id) else None
        if inspection is None:
            raise not_found("inspection_id", "inspection")
        self._check(staff, inspection.commune_code)
        photo = await self._store.photo(inspection.id)
        if photo is None:
            raise not_found("inspection_id", "inspection")
        return photo
