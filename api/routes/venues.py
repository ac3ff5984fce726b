"""QR check-in points: registration, the venue's QR and its printable poster."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from dichte.api.deps import ClientAddress, MaybeStaff, Staff, Venues
from dichte.api.errors import documented
from dichte.api.posters import poster_bytes
from dichte.api.qr_images import qr_image
from dichte.domain.venues import VENUE_TYPE_VI, VenueCreate
from dichte.services.venues import VenuePublic

router = APIRouter(prefix="/venues", tags=["venues"])

_POSTER_TYPES = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


@router.post(
    "",
    status_code=201,
    response_model=VenuePublic,
    responses=documented(400, 401, 403, 413, 422, 429, 503),
)
async def register_venue(
    body: VenueCreate, venues: Venues, staff: MaybeStaff, client: ClientAddress
) -> VenuePublic:
    """Venue owners register publicly (rate-limited per address); commune staff register
    venues of their area without a limit."""
    return await venues.register(body, staff, client)


@router.get(
    "/by-code/{code}",
    response_model=VenuePublic,
    responses=documented(400, 404, 410, 422, 503),
)
async def venue_of_code(code: str, venues: Venues) -> VenuePublic:
    """The venue a poster's code names (what the check-in page shows before a scan)."""
    return venues.public(await venues.of_code(code))


@router.get("/{venue_id}", response_model=VenuePublic, responses=documented(404, 422, 503))
async def read_venue(venue_id: str, venues: Venues) -> VenuePublic:
    return venues.public(await venues.venue(venue_id))


class VenueChange(BaseModel):
    active: bool


@router.patch(
    "/{venue_id}",
    response_model=VenuePublic,
    responses=documented(400, 401, 403, 404, 413, 422, 503),
)
async def change_venue(
    venue_id: str, body: VenueChange, venues: Venues, staff: Staff
) -> VenuePublic:
    """Withdraw a venue (`{"active": false}`: its poster's QR then answers 410
    venue_inactive, and no check-in is taken there) or bring it back: staff of its area."""
    return await venues.set_active(venue_id, body.active, staff)


@router.get(
    "/{venue_id}/qr.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The check-in link as a QR"},
        **documented(404, 422, 503),
    },
)
async def venue_qr(venue_id: str, venues: Venues) -> Response:
    link = venues.link(await venues.venue(venue_id))
    return Response(qr_image(link, "svg"), media_type="image/svg+xml")


@router.get(
    "/{venue_id}/poster.{poster_format}",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in _POSTER_TYPES.values()}, "description": "A4 poster"},
        **documented(404, 422, 503),
    },
)
async def venue_poster(
    venue_id: str, poster_format: Literal["svg", "png", "pdf"], venues: Venues
) -> Response:
    """A4, Vietnamese: the venue's name, kind and address above its QR code."""
    venue = await venues.venue(venue_id)
    body = poster_bytes(
        venues.link(venue), venue.name, VENUE_TYPE_VI[venue.type], venue.address(), poster_format
    )
    return Response(body, media_type=_POSTER_TYPES[poster_format])
