"""Dishonest-declaration flags: listed per unit for the police and the health
stations, read with their evidence, and acted on (confirmed, dismissed with a
reason, referred, reopened), every change kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from dichte.api.deps import Flags, Staff, Units
from dichte.api.errors import documented
from dichte.domain.flags import Flag, FlagAction, FlagRule, FlagStatus
from dichte.services.units import Page

router = APIRouter(tags=["flags"])


@router.get("/flags", response_model=Page[Flag], responses=documented(401, 403, 404, 422, 503))
async def list_flags(
    units: Units,
    staff: Staff,
    unit: Annotated[
        str | None,
        Query(max_length=40, description="commune-<code>, centre-<code> or province-<code>"),
    ] = None,
    status: FlagStatus | None = None,
    rule: FlagRule | None = None,
    since: Annotated[datetime | None, Query(description="Raised at or after")] = None,
    until: Annotated[datetime | None, Query(description="Raised at or before")] = None,
    cursor: Annotated[str | None, Query(max_length=240)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[Flag]:
    """Flags of people living in the unit or seen there, newest first."""
    return await units.flags(staff, unit, status, rule, since, until, cursor, limit)


@router.get("/flags/{flag_id}", response_model=Flag, responses=documented(401, 403, 404, 422, 503))
async def read_flag(flag_id: str, flags: Flags, staff: Staff) -> Flag:
    return await flags.read(flag_id, staff)


@router.patch(
    "/flags/{flag_id}",
    response_model=Flag,
    responses=documented(400, 401, 403, 404, 409, 413, 422, 503),
)
async def act_on_flag(flag_id: str, body: FlagAction, flags: Flags, staff: Staff) -> Flag:
    """Set the flag's status (a dismissal says why); the change joins its history."""
    return await flags.act(flag_id, body, staff)
