"""Cases (F0), contacts (F1), follow-up and quarantine, after WHO Go.Data's model."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dichte.domain.clock import VIETNAM_TZ, in_future
from dichte.domain.declaration import DiagnosticResult, DiagnosticTest, Symptoms
from dichte.domain.errors import FieldError
from dichte.domain.identity import DocumentNumber, DocumentType
from dichte.domain.tracing import Contact as TracedContact
from dichte.domain.tracing import Exposure, OutbreakSettings, infectious_window


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Classification(StrEnum):
    SUSPECTED = "suspected"
    PROBABLE = "probable"
    CONFIRMED = "confirmed"
    NOT_A_CASE = "not_a_case"


class Outcome(StrEnum):
    RECOVERED = "recovered"
    DIED = "died"


class IsolationPlace(StrEnum):
    HOME = "home"
    FACILITY = "facility"
    HOSPITAL = "hospital"


class LabTest(Frozen):
    type: DiagnosticTest
    date: date
    result: DiagnosticResult
    lab: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""


class CaseChanges(Frozen):
    """What staff may set or change on a case."""

    classification: Classification | None = None
    onset_date: date | None = None
    first_positive_sample_date: date | None = None
    isolation_at: datetime | None = None
    isolation_place: IsolationPlace | None = None
    tests: list[LabTest] | None = Field(default=None, max_length=50)
    outcome: Outcome | None = None
    outcome_date: date | None = None


class CaseCreate(CaseChanges):
    classification: Classification = Classification.SUSPECTED
    document_type: DocumentType = DocumentType.CCCD
    document_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None
    ) = None
    declaration_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    commune_code: int | None = None  # for a person who never declared


class CaseFields(Frozen):
    """What a case record holds (the stored form and the public one share it)."""

    id: str
    person_id: str
    document_number: str
    full_name: str
    commune_code: int | None
    province_code: int | None
    classification: Classification
    onset_date: date | None = None
    first_positive_sample_date: date | None = None
    isolation_at: datetime | None = None
    isolation_place: IsolationPlace | None = None
    tests: list[LabTest] = Field(default_factory=list)
    outcome: Outcome | None = None
    outcome_date: date | None = None
    source_case_id: str | None = None  # converted from a contact of this case
    created_at: datetime
    confirmed_at: datetime | None = None


class Case(CaseFields):
    def onset(self) -> date | None:
        """Symptom onset, else the first positive sample (given, or the earliest positive test)."""
        if self.onset_date:
            return self.onset_date
        if self.first_positive_sample_date:
            return self.first_positive_sample_date
        positives = [t.date for t in self.tests if t.result is DiagnosticResult.POSITIVE]
        return min(positives) if positives else None

    def window(self, s: OutbreakSettings, now: datetime) -> tuple[int, int] | None:
        onset = self.onset()
        if onset is None:
            return None
        start = int(datetime.combine(onset, time(), VIETNAM_TZ).timestamp())
        if self.isolation_at is not None:
            end = int(self.isolation_at.timestamp())
        else:  # not isolated yet: infectious up to and including this second
            end = int(now.timestamp()) + 1
        return infectious_window(start, end, s)

    def changed(self, changes: CaseChanges, now: datetime) -> Case:
        """The case with the changes applied: fields given replace the old values, lab
        tests given are added to those on record (a test already there is not doubled).
        Validated again as a whole, so the result is as typed as a new case."""
        update = changes.model_dump(exclude_none=True, exclude={"tests"})
        if changes.tests:
            update["tests"] = [
                *self.tests,
                *(t for t in changes.tests if t not in self.tests),
            ]
        if changes.classification is Classification.CONFIRMED and self.confirmed_at is None:
            update["confirmed_at"] = now
        return Case.model_validate({**self.model_dump(), **update})


def check_case_changes(c: CaseChanges, today: date, now: datetime) -> list[FieldError]:
    errors = [
        FieldError.of(name, "date_in_future")
        for name in ("onset_date", "first_positive_sample_date", "outcome_date")
        if getattr(c, name) is not None and getattr(c, name) > today
    ]
    if c.isolation_at is not None and in_future(c.isolation_at, now):
        errors.append(FieldError.of("isolation_at", "date_in_future"))
    errors += [
        FieldError.of(f"tests.{i}.date", "date_in_future")
        for i, t in enumerate(c.tests or [])
        if t.date > today
    ]
    return errors


def check_confirmable(case: Case) -> list[FieldError]:
    """A confirmed case is traced: it needs an onset or a positive sample date."""
    if case.classification is Classification.CONFIRMED and case.onset() is None:
        return [FieldError.of("onset_date", "onset_required")]
    return []


def new_case_id() -> str:
    return secrets.token_hex(16)


class FollowUpStatus(StrEnum):
    PENDING = "pending"
    SEEN_OK = "seen_ok"
    SEEN_WITH_SYMPTOMS = "seen_with_symptoms"
    NOT_SEEN = "not_seen"


class FollowUp(Frozen):
    date: date
    status: FollowUpStatus = FollowUpStatus.PENDING
    symptoms: Symptoms | None = None
    temperature_c: float | None = None
    note: str = ""


class FollowUpRecord(Frozen):
    date: date
    status: FollowUpStatus
    symptoms: Symptoms = Field(default_factory=Symptoms)
    temperature_c: float | None = Field(default=None, ge=30, le=45)
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class ExposureOut(Frozen):
    kind: str
    at: datetime
    place: str  # venue id or checkpoint id
    with_person: str


class ContactRecord(Frozen):
    id: str
    case_id: str
    person_id: str
    document_number: str
    full_name: str
    commune_code: int | None
    province_code: int | None
    exposures: list[ExposureOut]
    first_exposure: datetime
    last_exposure: datetime
    follow_ups: list[FollowUp]
    converted_case_id: str | None = None

    def recorded(self, record: FollowUpRecord) -> ContactRecord:
        days = [f.date for f in self.follow_ups]
        if record.date not in days:
            raise ValueError("not a follow-up day of this contact")
        follow_ups = [
            FollowUp(
                date=f.date,
                status=record.status,
                symptoms=record.symptoms,
                temperature_c=record.temperature_c,
                note=record.note,
            )
            if f.date == record.date
            else f
            for f in self.follow_ups
        ]
        return self.model_copy(update={"follow_ups": follow_ups})


def contact_id(case_id: str, person_id: str) -> str:
    """Deterministic: tracing the same case twice yields the same contact records."""
    return hashlib.sha256(f"{case_id}:{person_id}".encode()).hexdigest()[:32]


def follow_up_days(last_exposure: datetime, s: OutbreakSettings) -> list[date]:
    """One follow-up a day for the follow-up period, from the day after the last exposure
    (Go.Data's convention), in Vietnam dates."""
    first = last_exposure.astimezone(VIETNAM_TZ).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range(s.follow_up_days)]


def exposures_out(contact: TracedContact) -> list[ExposureOut]:
    return [
        ExposureOut(
            kind=e.kind,
            at=datetime.fromtimestamp(e.at, UTC),
            place=e.venue,
            with_person=e.source_person,
        )
        for e in sorted(contact.exposures, key=lambda e: e.at)
    ]


class ManualExposureKind(StrEnum):
    HOUSEHOLD = "household"
    MANUAL = "manual"  # named by the case at interview, or found by other means


class ManualContactCreate(Frozen):
    """A contact staff record by hand: the case's household, or a person the case names."""

    document_type: DocumentType = DocumentType.CCCD
    document_number: DocumentNumber
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    commune_code: int | None = None
    kind: ManualExposureKind
    at: datetime  # when they were last together
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


def traced_contact(record: ContactRecord) -> TracedContact:
    """A recorded contact as the tracing rule sees it (to seed F2)."""
    return TracedContact(
        record.person_id,
        [Exposure(e.kind, int(e.at.timestamp()), e.place, e.with_person) for e in record.exposures],
    )


class QuarantineKind(StrEnum):
    HOME = "home"
    FACILITY = "facility"


class QuarantineStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class QuarantineOrderCreate(Frozen):
    document_type: DocumentType = DocumentType.CCCD
    document_number: DocumentNumber
    kind: QuarantineKind
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    start: datetime
    end: datetime


class QuarantineChange(Frozen):
    status: QuarantineStatus
    end: datetime | None = None


class QuarantineOrder(Frozen):
    id: str
    person_id: str
    kind: QuarantineKind
    place: str
    start: datetime
    end: datetime
    status: QuarantineStatus = QuarantineStatus.ACTIVE
    commune_code: int | None = None
    province_code: int | None = None


def quarantine_changes(order: QuarantineOrder) -> dict[str, int]:
    """What an order adds to its commune's number under quarantine, per Vietnam day:
    +1 on the day it starts, −1 on the day it ends (so a person counts on the days
    from the start day up to, not including, the end day); nothing once cancelled."""
    if order.status is QuarantineStatus.CANCELLED:
        return {}
    start = order.start.astimezone(VIETNAM_TZ).date().isoformat()
    end = order.end.astimezone(VIETNAM_TZ).date().isoformat()
    return {} if start == end else {start: 1, end: -1}


def follow_ups_done_change(before: ContactRecord, after: ContactRecord) -> dict[str, int]:
    """Per follow-up day, +1 where a follow-up was done (any status but pending) and
    was not before, −1 for the reverse."""
    was = {f.date: f.status is not FollowUpStatus.PENDING for f in before.follow_ups}
    out = {}
    for f in after.follow_ups:
        now_done = f.status is not FollowUpStatus.PENDING
        if now_done != was.get(f.date, False):
            out[f.date.isoformat()] = 1 if now_done else -1
    return out


def quarantine_start(orders: list[QuarantineOrder]) -> int | None:
    """When a person's quarantine began: the earliest order not cancelled (it bounds
    the stays of an F1 that can pass the infection on)."""
    starts = [
        int(o.start.timestamp()) for o in orders if o.status is not QuarantineStatus.CANCELLED
    ]
    return min(starts) if starts else None


class ConversionCreate(CaseChanges):
    """A contact fell ill: the case opened for them. A confirmed conversion needs an
    onset or a positive sample date: given here, or the person's latest positive test."""

    classification: Classification = Classification.SUSPECTED


# --- what the API answers ------------------------------------------------------------


class CasePublic(CaseFields):
    onset: date | None = Field(description="Symptom onset, else the first positive sample")
    contacts_recorded: int | None = Field(
        None, description="F1 contact records created by this request (on confirmation)"
    )

    @classmethod
    def of(cls, case: Case, recorded: int | None = None) -> CasePublic:
        return cls(**case.model_dump(), onset=case.onset(), contacts_recorded=recorded)


class TracedPerson(Frozen):
    person_id: str
    document_number: str
    full_name: str
    first_exposure: datetime
    exposures: list[ExposureOut]
    contact_id: str | None = Field(description="The F1 contact record, once recorded")


class TracedContacts(Frozen):
    f1: list[TracedPerson]
    f2: list[TracedPerson]


WAVE_MAX_CASES = 1000  # cases in one POST /cases/trace


class TraceWave(Frozen):
    """Cases confirmed together (a cluster), traced at once."""

    case_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=WAVE_MAX_CASES, description="Repeated ids are traced once"
    )
    depth: int = Field(2, ge=1, le=2, description="1: F1 only; 2: F1 and F2")


class WaveResult(Frozen):
    """One case of a wave, sent as soon as it is traced."""

    case_id: str
    status: int = Field(description="200, or the status a single trace of it would answer")
    contacts: TracedContacts | None = None
    errors: list[dict[str, str]] | None = Field(None, description="The one error shape")
    ms: float = Field(description="Time this case took, queueing for a trace slot excluded")


class ChainNode(Frozen):
    id: str  # person id
    kind: str = Field(description="case (F0 or a contact since converted), f1 or f2")
    label: str
    case_id: str | None = None
    classification: Classification | None = None
    onset: date | None = None


class ChainEdge(Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str = Field(alias="from", description="The person met (the case or an F1)")
    to: str
    at: datetime
    kind: str
    place: str


class Chain(Frozen):
    case_id: str
    nodes: list[ChainNode]
    edges: list[ChainEdge]
