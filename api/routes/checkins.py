"""Check-in and check-out by scanning a venue's QR; a citizen's own check-ins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, StringConstraints

from api.deps import ApiContext, Context, MaybeStaff
from api.routes.venues import load_venue
from domain.checkins import BACKDATE_LIMIT, CheckinCreate, check_scan, now_utc, scan_time
from domain.declaration import VIETNAM_TZ
from domain.errors import DomainError
from domain.identity import document_hash, normalize_phone
from domain.tokens import StaffClaims, verify_qr
from domain.venues import Venue, verify_venue_code

router = APIRouter(tags=["check-ins"])


async def _who(ctx: ApiContext, body: CheckinCreate, staff: StaffClaims | None) -> str:
    """The person id (document hash) the scan is for."""
    if body.person_token:
        claims = verify_qr(ctx.signing_key.public_key(), body.person_token, field="person_token")
        return claims.document_hash.hex()
    if staff is None:
        raise DomainError.single(
            "Authorization",
            "unauthorized",
            "Check-in bằng số giấy tờ hoặc số điện thoại cần mã nhân viên.",
            "Checking a person in by document or phone needs a staff token.",
            status=401,
        )
    if body.document_number:
        person = document_hash(body.document_type, body.document_number).hex()
        await ctx.epi.store.ensure_person(
            person,
            {
                "document_type": body.document_type.value,
                "document_number": body.document_number.replace(" ", "").upper(),
            },
        )
        return person
    found = await ctx.epi.store.person_by_phone(normalize_phone(body.phone or ""))
    if found is None:
        raise DomainError.single(
            "phone",
            "person_unknown",
            "Không có tờ khai nào với số điện thoại này.",
            "No declaration has this phone number.",
            status=404,
        )
    return found


async def _scan(
    ctx: ApiContext, body: CheckinCreate, staff: StaffClaims | None
) -> tuple[Venue, str, int]:
    now = now_utc()
    errors = check_scan(body, now)
    if errors:
        raise DomainError(errors)
    venue_id = verify_venue_code(ctx.signing_key.public_key(), body.venue_code)
    venue = await load_venue(ctx, venue_id)
    if not venue.active:
        raise DomainError.single(
            "venue_code",
            "venue_inactive",
            "Địa điểm đã ngừng hoạt động.",
            "This venue has been withdrawn.",
            status=410,
        )
    person = await _who(ctx, body, staff)
    return venue, person, int(scan_time(body.at, now).timestamp())


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@router.post("/checkins", status_code=201)
async def check_in(body: CheckinCreate, ctx: Context, staff: MaybeStaff) -> Response:
    venue, person, at = await _scan(ctx, body, staff)
    day = datetime.fromtimestamp(at, VIETNAM_TZ).date().isoformat()
    created, start = await ctx.epi.store.check_in(venue.id, person, at, day)
    payload = {
        "venue_id": venue.id,
        "venue_name": venue.name,
        "person_id": person,
        "checked_in_at": _iso(start),
        "replayed": not created,
    }
    return Response(
        json.dumps(payload, ensure_ascii=False),
        media_type="application/json",
        status_code=201 if created else 200,
    )


@router.post("/checkouts")
async def check_out(body: CheckinCreate, ctx: Context, staff: MaybeStaff) -> dict[str, Any]:
    venue, person, at = await _scan(ctx, body, staff)
    closed = await ctx.epi.store.check_out(venue.id, person, at)
    if closed is None:
        raise DomainError.single(
            "venue_code",
            "no_open_checkin",
            "Không có lượt check-in nào tại đây trong 24 giờ qua.",
            "No check-in at this venue in the last 24 hours.",
            status=409,
        )
    _, start, end = closed
    return {
        "venue_id": venue.id,
        "venue_name": venue.name,
        "person_id": person,
        "checked_in_at": _iso(start),
        "checked_out_at": _iso(end),
    }


class MyCheckins(BaseModel):
    person_token: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


@router.post("/checkins/mine")
async def my_checkins(body: MyCheckins, ctx: Context) -> dict[str, Any]:
    """A citizen sees only their own check-ins of the last 14 days, by their QR token."""
    claims = verify_qr(ctx.signing_key.public_key(), body.person_token, field="person_token")
    now = int(now_utc().timestamp())
    (stays,) = await ctx.epi.store.stays_of_persons(
        [(claims.document_hash.hex(), now - int(BACKDATE_LIMIT.total_seconds()), now + 1)]
    )
    venues = await ctx.epi.store.venues({s.venue for s in stays})
    return {
        "checkins": [
            {
                "venue_id": s.venue,
                "venue_name": venues[s.venue].name if s.venue in venues else "",
                "address": venues[s.venue].address() if s.venue in venues else "",
                "checked_in_at": _iso(s.start),
                "checked_out_at": _iso(s.end),
            }
            for s in sorted(stays, key=lambda s: s.start, reverse=True)
        ]
    }
