"""Check-ins and check-outs at QR points: who, where, when, and the time rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from domain.declaration import VIETNAM_TZ
from domain.errors import FieldError
from domain.identity import DocumentType

BACKDATE_LIMIT = timedelta(days=14)
Token = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
CLOCK_SKEW = timedelta(minutes=2)


class CheckinCreate(BaseModel):
    """A scan of a venue's QR. The citizen sends their declaration QR token; a staff
    member checking in a person without a smartphone sends the document or phone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    venue_code: Token
    person_token: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None
    ) = None
    document_type: DocumentType = DocumentType.CCCD
    document_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None
    ) = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    at: datetime | None = None  # for scans queued offline or imported; default now


def scan_time(at: datetime | None, now: datetime) -> datetime:
    """Naive times are Vietnam time (what a clerk types)."""
    if at is None:
        return now
    return at.replace(tzinfo=VIETNAM_TZ) if at.tzinfo is None else at


def check_scan(body: CheckinCreate, now: datetime) -> list[FieldError]:
    errors: list[FieldError] = []
    given = [x for x in (body.person_token, body.document_number, body.phone) if x]
    if len(given) != 1:
        errors.append(
            FieldError(
                "person_token",
                "person_required",
                "Cần đúng một trong: mã QR tờ khai, số giấy tờ, hoặc số điện thoại.",
                "Give exactly one of: declaration QR token, document number, or phone.",
            )
        )
    at = scan_time(body.at, now)
    if at > now + CLOCK_SKEW:
        errors.append(
            FieldError(
                "at",
                "date_in_future",
                "Thời điểm không được ở tương lai.",
                "The time cannot be in the future.",
            )
        )
    elif at < now - BACKDATE_LIMIT:
        errors.append(
            FieldError(
                "at",
                "checkin_too_old",
                "Chỉ nhận lượt quét trong 14 ngày gần nhất.",
                "Only scans from the last 14 days are accepted.",
            )
        )
    return errors


def now_utc() -> datetime:
    return datetime.now(UTC)
