"""QR check-in points: registration, the venue's QR and its printable poster."""

from __future__ import annotations

import io
import re
from typing import Any, Literal

import segno
from fastapi import APIRouter, Request, Response

from api.deps import ApiContext, Context, MaybeStaff, forbidden, not_found
from api.posters import poster_bytes
from domain.errors import DomainError
from domain.records import covers
from domain.venues import (
    VENUE_TYPE_VI,
    Venue,
    VenueCreate,
    check_venue,
    checkin_url,
    sign_venue_code,
)

router = APIRouter(prefix="/venues", tags=["venues"])
_ID = re.compile(r"^[0-9a-f]{32}$")


def _public(ctx: ApiContext, venue: Venue) -> dict[str, Any]:
    base = f"/api/v1/venues/{venue.id}"
    code = sign_venue_code(ctx.signing_key, venue)
    return {
        **venue.model_dump(mode="json", exclude={"owner_phone"}),
        "address": venue.address(),
        "code": code,
        "checkin_url": checkin_url(ctx.base_url, code),
        "qr_svg_url": f"{base}/qr.svg",
        "poster_urls": {fmt: f"{base}/poster.{fmt}" for fmt in ("pdf", "png", "svg")},
    }


async def load_venue(ctx: ApiContext, venue_id: str) -> Venue:
    venue = await ctx.epi.store.venue(venue_id) if _ID.match(venue_id) else None
    if venue is None:
        raise not_found("venue_id", "địa điểm", "venue")
    return venue


@router.post("", status_code=201)
async def register_venue(
    body: VenueCreate, ctx: Context, staff: MaybeStaff, request: Request
) -> dict[str, Any]:
    """Venue owners register publicly (rate-limited per address); commune staff register
    venues of their area without a limit."""
    errors = check_venue(body)
    if errors:
        raise DomainError(errors)
    venue = Venue.new(body)
    if staff is not None:
        if not covers(staff, venue.commune_code, venue.province_code):
            raise forbidden()
    else:
        forwarded = request.headers.get("x-forwarded-for", "")
        client = (forwarded.split(",")[-1].strip() if ctx.trust_forwarded_for else "") or (
            request.client.host if request.client else "unknown"
        )
        if not await ctx.epi.store.allow(
            "venue-registration", client, ctx.venue_registrations_per_hour, 3600
        ):
            raise DomainError.single(
                "request",
                "rate_limited",
                "Đăng ký quá nhiều địa điểm trong một giờ; vui lòng thử lại sau hoặc liên hệ "
                "trạm y tế xã.",
                "Too many venue registrations from this address this hour; retry later or "
                "ask the commune health station.",
                status=429,
            )
    await ctx.epi.store.add_venue(venue)
    return _public(ctx, venue)


@router.get("/{venue_id}")
async def read_venue(venue_id: str, ctx: Context) -> dict[str, Any]:
    return _public(ctx, await load_venue(ctx, venue_id))


@router.get(
    "/{venue_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def venue_qr(venue_id: str, ctx: Context) -> Response:
    venue = await load_venue(ctx, venue_id)
    buf = io.BytesIO()
    link = checkin_url(ctx.base_url, sign_venue_code(ctx.signing_key, venue))
    segno.make_qr(link, error="m").save(buf, kind="svg", scale=6, border=4, xmldecl=False)
    return Response(buf.getvalue(), media_type="image/svg+xml")


_POSTER_TYPES = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


@router.get(
    "/{venue_id}/poster.{poster_format}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in _POSTER_TYPES.values()}}},
)
async def venue_poster(
    venue_id: str, poster_format: Literal["svg", "png", "pdf"], ctx: Context
) -> Response:
    """A4, Vietnamese: the venue's name, kind and address above its QR code."""
    venue = await load_venue(ctx, venue_id)
    body = poster_bytes(
        checkin_url(ctx.base_url, sign_venue_code(ctx.signing_key, venue)),
        venue.name,
        VENUE_TYPE_VI[venue.type],
        venue.address(),
        poster_format,
    )
    return Response(body, media_type=_POSTER_TYPES[poster_format])
