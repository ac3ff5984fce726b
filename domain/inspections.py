"""Field inspection of QR check-in points: what a visit records, when a venue is due
for one, and what the inspector's list puts first.

A venue is compliant when its latest inspection found the poster displayed. It is
due for a visit when it was registered but never scanned, when its latest visit
found no poster, when it was never inspected, or when its latest visit is older than
`INSPECTION_INTERVAL`; the list orders them in that order, oldest first within each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

INSPECTION_INTERVAL = timedelta(days=30)


class InspectionCreate(BaseModel):
    """What an inspector records at a venue (with an optional photo). Sent as a form
    beside the photo's file: other form fields are not this model's and are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    poster_displayed: bool = Field(description="The venue's QR poster is displayed where seen")
    people_present: int = Field(ge=0, le=100_000)
    scans_seen_last_hour: int = Field(ge=0, le=100_000)
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class Inspection(InspectionCreate):
    id: str
    venue_id: str
    commune_code: int
    at: datetime
    by: str  # the inspector's token subject
    role: str
    photo: bool = Field(description="A photo was kept (GET …/inspections/{id}/photo)")


class VenueFlag(StrEnum):
    NEVER_SCANNED = "never_scanned"  # registered, no check-in on record
    POSTER_MISSING = "poster_missing"  # the latest visit found no poster
    NEVER_INSPECTED = "never_inspected"
    INSPECTION_OVERDUE = "inspection_overdue"


@dataclass(frozen=True)
class VenueState:
    venue_id: str
    registered_at: datetime
    last_scan: datetime | None
    last_inspection: datetime | None
    compliant: bool | None  # the latest visit's finding (None: never inspected)


def venue_flags(v: VenueState, now: datetime) -> list[VenueFlag]:
    flags = []
    if v.last_scan is None:
        flags.append(VenueFlag.NEVER_SCANNED)
    if v.compliant is False:
        flags.append(VenueFlag.POSTER_MISSING)
    if v.last_inspection is None:
        flags.append(VenueFlag.NEVER_INSPECTED)
    elif now - v.last_inspection >= INSPECTION_INTERVAL:
        flags.append(VenueFlag.INSPECTION_OVERDUE)
    return flags


_ORDER = list(VenueFlag)


def visit_order(v: VenueState, now: datetime) -> tuple[int, datetime]:
    """The sort key of the inspector's list: the first flag a venue has (in the order
    of `VenueFlag`; venues with none last), then the oldest visit (or registration)."""
    flags = venue_flags(v, now)
    tier = min((_ORDER.index(f) for f in flags), default=len(_ORDER))
    return tier, v.last_inspection or v.registered_at
