"""Check-in and check-out by scanning a venue's QR; a citizen's own check-ins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, StringConstraints

from dichte.api.deps import Checkins, MaybeStaff
from dichte.api.errors import documented
from dichte.domain.checkins import CheckinCreate
from dichte.services.checkins import CheckinPublic, CheckoutPublic, MyCheckins

router = APIRouter(tags=["check-ins"])

_SCAN_ERRORS = documented(400, 401, 404, 410, 413, 422, 503)


@router.post(
    "/checkins",
    status_code=201,
    response_model=CheckinPublic,
    responses={
        200: {
            "description": "The same person, venue and minute: the first check-in",
            "model": CheckinPublic,
        },
        **_SCAN_ERRORS,
    },
)
async def check_in(body: CheckinCreate, checkins: Checkins, staff: MaybeStaff) -> Response:
    checkin, created = await checkins.check_in(body, staff)
    return Response(
        checkin.model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )


@router.post(
    "/checkouts",
    response_model=CheckoutPublic,
    responses={**_SCAN_ERRORS, **documented(409)},
)
async def check_out(body: CheckinCreate, checkins: Checkins, staff: MaybeStaff) -> CheckoutPublic:
    return await checkins.check_out(body, staff)


class MyCheckinsRequest(BaseModel):
    person_token: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


@router.post(
    "/checkins/mine", response_model=MyCheckins, responses=documented(400, 410, 413, 422, 503)
)
async def my_checkins(body: MyCheckinsRequest, checkins: Checkins) -> MyCheckins:
    """A citizen sees only their own check-ins of the last 14 days, by their QR token."""
    return await checkins.mine(body.person_token)
