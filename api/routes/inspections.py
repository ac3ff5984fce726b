"""Inspection of QR check-in points: the venues of a commune due for a visit, the
visits recorded at a venue (with a photo), and the photo itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from dichte.api.deps import Inspections, Staff
from dichte.api.errors import documented
from dichte.domain.inspections import Inspection, InspectionCreate
from dichte.services.inspections import DueList

router = APIRouter(tags=["inspections"])


@router.get("/inspections/due", response_model=DueList, responses=documented(401, 403, 422, 503))
async def venues_due(
    inspections: Inspections,
    staff: Staff,
    commune: Annotated[
        int | None, Query(description="Commune code (default: a commune token's own)")
    ] = None,
    all: Annotated[bool, Query(description="Every registered venue, those not due last")] = False,
) -> DueList:
    """Venues due for a visit, first things first: registered but never scanned, poster
    missing at the last visit, never inspected, last visit 30 days ago or more."""
    return await inspections.due(staff, commune, all)


@router.get(
    "/venues/{venue_id}/inspections",
    response_model=list[Inspection],
    responses=documented(401, 403, 404, 422, 503),
)
async def venue_inspections(
    venue_id: str,
    inspections: Inspections,
    staff: Staff,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[Inspection]:
    """The venue's inspections, latest first."""
    return await inspections.of_venue(venue_id, staff, limit)


@router.post(
    "/venues/{venue_id}/inspections",
    status_code=201,
    response_model=Inspection,
    responses=documented(400, 401, 403, 404, 413, 422, 503),
)
async def record_inspection(
    venue_id: str,
    body: Annotated[InspectionCreate, Form()],
    inspections: Inspections,
    staff: Staff,
    photo: Annotated[
        UploadFile | None, File(description="A photo of the poster or the entrance")
    ] = None,
) -> Inspection:
    """A visit: poster displayed or not, people present, scans seen in the last hour,
    notes, the inspector's position, and a photo (kept for the retention period)."""
    data = await photo.read() if photo is not None else b""
    return await inspections.record(venue_id, body, data or None, staff)


@router.get(
    "/inspections/{inspection_id}/photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **documented(401, 403, 404, 422, 503)},
)
async def inspection_photo(inspection_id: str, inspections: Inspections, staff: Staff) -> Response:
    return Response(await inspections.photo(inspection_id, staff), media_type="image/jpeg")
