"""Check-ins and check-outs at QR points: who, where, when, and the time rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dichte.domain.clock import VIETNAM_TZ, in_future
from dichte.domain.errors import FieldError
from dichte.domain.identity import DocumentNumber, DocumentType

BACKDATE_LIMIT = timedelta(days=14)
Token = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class CheckinCreate(BaseModel):
    """A scan of a venue's QR. The citizen sends their declaration QR token; a staff
    member checking in a person without a smartphone sends the document or phone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    venue_code: Token = Field(description="The venue's signed code, or the check-in link")
    person_token: Token | None = Field(None, description="The citizen's declaration QR token")
    document_type: DocumentType = DocumentType.CCCD
    document_number: DocumentNumber | None = Field(
        None, description="Staff only: the person's document number"
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = Field(
        None, description="Staff only: the phone number of the person's declaration"
    )
    at: datetime | None = Field(
        None, description="When the scan happened (queued offline or imported); default now"
    )


def scan_time(at: datetime | None, now: datetime) -> datetime:
    """Naive times are Vietnam time (what a clerk types)."""
    if at is None:
        return now
    return at.replace(tzinfo=VIETNAM_TZ) if at.tzinfo is None else at


def check_scan(body: CheckinCreate, now: datetime) -> list[FieldError]:
    errors: list[FieldError] = []
    given = [x for x in (body.person_token, body.document_number, body.phone) if x]
    if len(given) != 1:
        errors.append(FieldError.of("person_token", "person_required"))
    at = scan_time(body.at, now)
    if in_future(at, now):
        errors.append(FieldError.of("at", "date_in_future"))
    elif at < now - BACKDATE_LIMIT:
        errors.append(FieldError.of("at", "checkin_too_old", days=BACKDATE_LIMIT.days))
    return errors
