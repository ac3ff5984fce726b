"""Check-in and check-out by scanning a venue's QR, and a citizen's own check-ins."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from dichte.domain.checkins import BACKDATE_LIMIT, CheckinCreate, check_scan, scan_time
from dichte.domain.clock import now_utc, vietnam_day
from dichte.domain.errors import DomainError, refuse
from dichte.domain.identity import normalize_phone
from dichte.domain.tokens import StaffClaims, verify_qr
from dichte.domain.venues import Venue
from dichte.services.people import person_of_document
from dichte.services.venues import VenueService
from dichte.store.epi import EpiStore


class CheckinPublic(BaseModel):
    venue_id: str
    venue_name: str
    person_id: str
    checked_in_at: datetime
    replayed: bool


class CheckoutPublic(BaseModel):
    venue_id: str
    venue_name: str
    person_id: str
    checked_in_at: datetime
    checked_out_at: datetime


class MyCheckin(BaseModel):
    venue_id: str
    venue_name: str
    address: str
    checked_in_at: datetime
    checked_out_at: datetime | None


class MyCheckins(BaseModel):
    checkins: list[MyCheckin]


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class CheckinService:
    def __init__(self, store: EpiStore, venues: VenueService) -> None:
        self._store = store
        self._venues = venues
        self._public = venues.verifying_keys  # the same keys sign QR and venue codes

    async def _who(self, body: CheckinCreate, staff: StaffClaims | None) -> str:
        """The person id (document hash) the scan is for."""
        if body.person_token:
            claims = verify_qr(self._public, body.person_token, field="person_token")
            return claims.document_hash.hex()
        if staff is None:  # by document or phone: only staff may say who someone is
            raise DomainError.of("Authorization", "unauthorized")
        if body.document_number:
            return await person_of_document(self._store, body.document_type, body.document_number)
        found = await self._store.person_by_phone(normalize_phone(body.phone or ""))
        if found is None:
            raise DomainError.of("phone", "person_unknown")
        return found

    async def _scan(self, body: CheckinCreate, staff: StaffClaims | None) -> tuple[Venue, str, int]:
        now = now_utc()
        refuse(check_scan(body, now))
        venue = await self._venues.of_code(body.venue_code)
        person = await self._who(body, staff)
        return venue, person, int(scan_time(body.at, now).timestamp())

    async def check_in(
        self, body: CheckinCreate, staff: StaffClaims | None
    ) -> tuple[CheckinPublic, bool]:
        """(the check-in, created): a second scan in the same minute is the first one."""
        venue, person, at = await self._scan(body, staff)
        created, start = await self._store.check_in(
            venue.id,
            person,
            at,
            vietnam_day(at),
            self._venues.units(venue),
            commune_code=venue.commune_code,
        )
        out = CheckinPublic(
            venue_id=venue.id,
            venue_name=venue.name,
            person_id=person,
            checked_in_at=_at(start),
            replayed=not created,
        )
        return out, created

    async def check_out(self, body: CheckinCreate, staff: StaffClaims | None) -> CheckoutPublic:
        venue, person, at = await self._scan(body, staff)
        closed = await self._store.check_out(venue.id, person, at)
        if closed is None:
            raise DomainError.of("venue_code", "no_open_checkin")
        _, start, end = closed
        return CheckoutPublic(
            venue_id=venue.id,
            venue_name=venue.name,
            person_id=person,
            checked_in_at=_at(start),
            checked_out_at=_at(end),
        )

    async def mine(self, person_token: str) -> MyCheckins:
        """A citizen's own check-ins of the last 14 days, by their QR token."""
        claims = verify_qr(self._public, person_token, field="person_token")
        now = int(now_utc().timestamp())
        (stays,) = await self._store.stays_of_persons(
            [(claims.document_hash.hex(), now - int(BACKDATE_LIMIT.total_seconds()), now + 1)]
        )
        venues = await self._store.venues({s.venue for s in stays})
        return MyCheckins(
            checkins=[
                MyCheckin(
                    venue_id=s.venue,
                    venue_name=venues[s.venue].name if s.venue in venues else "",
                    address=venues[s.venue].address() if s.venue in venues else "",
                    checked_in_at=_at(s.start),
                    checked_out_at=None if s.end is None else _at(s.end),
                )
                for s in sorted(stays, key=lambda s: s.start, reverse=True)
            ]
        )
