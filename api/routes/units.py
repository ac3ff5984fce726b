"""What health units work from: their feed (every record routed to them, resumable,
and live as server-sent events), their webhooks, and the work lists of declarations,
cases, contacts, quarantine orders and venues. Staff only, scoped by role and unit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from dichte.api.deps import Staff, Units
from dichte.api.errors import documented
from dichte.api.sse import STREAM_RESPONSES, Cursor, Follower, Item, event_stream
from dichte.domain.cases import CasePublic, ContactRecord, QuarantineOrder, QuarantineStatus
from dichte.services.units import (
    CaseFilter,
    ContactFilter,
    DeclarationFilter,
    DeclarationListed,
    FeedPage,
    Page,
    UnitInfo,
    VenueFilter,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)
from dichte.services.venues import VenuePublic

router = APIRouter(tags=["units"])

UnitParam = Annotated[
    str | None,
    Query(
        max_length=40,
        description="commune-<code>, centre-<code> or province-<code>; default: your own",
    ),
]
Since = Annotated[datetime | None, Query(description="Written at or after")]
Until = Annotated[datetime | None, Query(description="Written at or before")]
ListCursor = Annotated[str | None, Query(max_length=240, description="`next` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]
LISTED = documented(401, 403, 404, 422, 503)


@router.get("/units/{unit}", response_model=UnitInfo, responses=LISTED)
async def unit_info(unit: str, units: Units, staff: Staff) -> UnitInfo:
    """The unit's name, its province and (for a centre) the communes it serves."""
    return units.info(unit, staff)


@router.get("/units/{unit}/feed", response_model=FeedPage, responses=LISTED)
async def unit_feed(
    unit: str,
    units: Units,
    staff: Staff,
    since: Cursor = None,
    limit: Limit = 100,
    last: Annotated[
        int | None, Query(ge=1, le=200, description="Instead: the latest `last` items")
    ] = None,
) -> FeedPage:
    """Every record routed to the unit, in the order written, after `since` (from the
    start when absent): resume with `next`."""
    if last is not None:
        return await units.latest(unit, staff, last)
    return await units.feed(unit, staff, since, limit)


@router.get("/units/{unit}/stream", response_class=StreamingResponse, responses=STREAM_RESPONSES)
async def unit_stream(
    unit: str, units: Units, request: Request, following: Follower
) -> StreamingResponse:
    """Each record as it is routed to the unit, after `Last-Event-ID` (what a
    reconnecting client sends), else after `since`, else from now; `id:` is the item's
    cursor, `event:` its type. A comment line opens the stream and follows 15 s of quiet."""
    units.unit(following.staff, unit)  # refusals answer before the stream starts
    follow = units.follow(unit, following.staff, following.after)

    async def items() -> AsyncIterator[Item]:
        async for item in follow:
            yield None if item is None else (item.cursor, item.type.value, item.model_dump_json())

    return event_stream(request, items())


@router.post(
    "/units/{unit}/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses=documented(400, 401, 403, 404, 413, 422, 503),
)
async def add_webhook(unit: str, body: WebhookCreate, units: Units, staff: Staff) -> WebhookCreated:
    """Records routed to the unit from now on are POSTed to `url` as CloudEvents batches
    signed per Standard Webhooks with the secret answered here (shown once)."""
    return await units.add_webhook(unit, body, staff)


@router.get("/units/{unit}/webhooks", response_model=list[Webhook], responses=LISTED)
async def list_webhooks(unit: str, units: Units, staff: Staff) -> list[Webhook]:
    return await units.webhooks(unit, staff)


@router.delete("/units/{unit}/webhooks/{webhook_id}", response_model=Webhook, responses=LISTED)
async def remove_webhook(unit: str, webhook_id: str, units: Units, staff: Staff) -> Webhook:
    """Stop deliveries to a webhook; answers what was removed."""
    return await units.remove_webhook(unit, webhook_id, staff)


# --- work lists (newest first) ------------------------------------------------------------


@router.get("/declarations", response_model=Page[DeclarationListed], responses=LISTED)
async def list_declarations(
    units: Units,
    staff: Staff,
    unit: UnitParam = None,
    status: DeclarationFilter | None = None,
    since: Since = None,
    until: Until = None,
    cursor: ListCursor = None,
    limit: Limit = 50,
) -> Page[DeclarationListed]:
    """Declarations of people living in the unit (and, for a province, travelling to it)."""
    return await units.declarations(staff, unit, status, since, until, cursor, limit)


@router.get("/cases", response_model=Page[CasePublic], responses=LISTED)
async def list_cases(
    units: Units,
    staff: Staff,
    unit: UnitParam = None,
    status: CaseFilter | None = None,
    since: Since = None,
    until: Until = None,
    cursor: ListCursor = None,
    limit: Limit = 50,
) -> Page[CasePublic]:
    """Cases of people living in the unit; `status` a classification, or `open` (no
    outcome yet)."""
    return await units.cases(staff, unit, status, since, until, cursor, limit)


@router.get("/contacts", response_model=Page[ContactRecord], responses=LISTED)
async def list_contacts(
    units: Units,
    staff: Staff,
    unit: UnitParam = None,
    status: ContactFilter | None = None,
    due: Annotated[
        str | None,
        Query(pattern="^today$", description="`today`: a follow-up is due today, not recorded"),
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: ListCursor = None,
    limit: Limit = 50,
) -> Page[ContactRecord]:
    """Contacts living in the unit and contacts of the unit's cases."""
    return await units.contacts(staff, unit, status, due == "today", since, until, cursor, limit)


@router.get("/quarantine-orders", response_model=Page[QuarantineOrder], responses=LISTED)
async def list_quarantine_orders(
    units: Units,
    staff: Staff,
    unit: UnitParam = None,
    status: QuarantineStatus | None = None,
    ending_within_days: Annotated[
        int | None, Query(ge=0, le=60, description="Ending between now and this many days")
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: ListCursor = None,
    limit: Limit = 50,
) -> Page[QuarantineOrder]:
    return await units.quarantine_orders(
        staff, unit, status, ending_within_days, since, until, cursor, limit
    )


@router.get("/venues", response_model=Page[VenuePublic], responses=LISTED)
async def list_venues(
    units: Units,
    staff: Staff,
    unit: UnitParam = None,
    status: VenueFilter | None = None,
    since: Since = None,
    until: Until = None,
    cursor: ListCursor = None,
    limit: Limit = 50,
) -> Page[VenuePublic]:
    """Venues registered in the unit; `inactive` lists the withdrawn ones."""
    return await units.venues(staff, unit, status, since, until, cursor, limit)
