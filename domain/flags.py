"""Dishonest-declaration flags: the rules, each with its reason code and the evidence
that triggered it, and what staff do with a flag.

A rule is a plain function of a declaration and the records that bear on it; it
returns the evidence that contradicts the declaration (empty: nothing to flag). The
rules are evaluated when evidence arrives (services.flags): a declaration is checked
against what was recorded before it, and a check-in, passage or screening recorded
later is checked against the declarations it bears on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from dichte.domain import admin_units
from dichte.domain.clock import VIETNAM_TZ
from dichte.domain.declaration import TRAVEL_HISTORY_DAYS, DeclarationCreate
from dichte.domain.screening import Reason, ScreeningEvent

# The period a declaration's travel history and contact answer speak for.
DECLARED_PERIOD = timedelta(days=TRAVEL_HISTORY_DAYS)


class FlagRule(StrEnum):
    # Checked in or seen at a checkpoint, within the declared period, in a province
    # the declaration does not name (residence, from, to, or a travel stop).
    UNDECLARED_TRAVEL = "undeclared_travel"
    # Declared no fever and no symptom; a checkpoint measured a fever the same day.
    UNDECLARED_FEVER = "undeclared_fever"
    # Declared no contact with a case while already recorded as F1 (a contact whose
    # last exposure is within the declared period), before the declaration.
    UNDECLARED_CONTACT = "undeclared_contact"
    # A declaration's QR shown at a checkpoint by someone whose face matched another
    # enrolled person.
    BORROWED_QR = "borrowed_qr"


class FlagStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    REFERRED = "referred"  # handed to the police investigation / another authority


class EvidenceKind(StrEnum):
    CHECKIN = "checkin"
    PASSAGE = "passage"
    SCREENING = "screening"
    CONTACT = "contact"


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EvidenceKind
    # what was seen: a check-in as "venue|unix time" (the person is the flag's), the
    # checkpoint of a passage, a screening event's id, a contact record's id
    record: str
    at: datetime
    place: str = ""  # venue or checkpoint id
    province_code: int | None = None
    detail: str = ""

    def key(self) -> str:
        return f"{self.kind.value}|{self.record}|{int(self.at.timestamp())}"


class FlagChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: FlagStatus
    by: str  # the staff token's subject (or "system" for the rule that raised it)
    role: str
    at: datetime
    reason: str = ""


class Flag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    rule: FlagRule
    person_id: str
    declaration_id: str
    commune_code: int | None  # where the person lives (their station and police)
    province_code: int | None
    place_commune_code: int | None = None  # where the evidence was seen, when it says
    evidence: list[Evidence]
    raised_at: datetime
    status: FlagStatus = FlagStatus.OPEN
    history: list[FlagChange]

    def with_evidence(self, more: Iterable[Evidence]) -> Flag:
        known = {e.key() for e in self.evidence}
        added = [e for e in more if e.key() not in known]
        if not added:
            return self
        evidence = sorted([*self.evidence, *added], key=lambda e: e.at)
        return self.model_copy(update={"evidence": evidence})

    def changed(self, change: FlagChange) -> Flag:
        return self.model_copy(update={"status": change.status, "history": [*self.history, change]})


class FlagAction(BaseModel):
    """What staff decide about a flag. A dismissal says why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: FlagStatus
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


def flag_id(rule: FlagRule, declaration_id: str, person_id: str) -> str:
    """One flag per rule, declaration and person: evidence found later joins it."""
    return hashlib.sha256(f"{rule.value}|{declaration_id}|{person_id}".encode()).hexdigest()[:32]


def raised_day(flag: Flag) -> str:
    """The Vietnam day a flag was raised (the reports count flags by it)."""
    return flag.raised_at.astimezone(VIETNAM_TZ).date().isoformat()


# --- the rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """Where a person was seen: a check-in at a venue or a passage at a checkpoint."""

    kind: EvidenceKind
    record: str
    place: str
    commune_code: int | None
    at: int  # unix seconds

    def evidence(self) -> Evidence:
        province = admin_units.commune_province(self.commune_code) if self.commune_code else None
        return Evidence(
            kind=self.kind,
            record=self.record,
            at=datetime.fromtimestamp(self.at, VIETNAM_TZ),
            place=self.place,
            province_code=province,
        )


def declared_provinces(d: DeclarationCreate) -> set[int]:
    """Every province a declaration names: residence, coming from, going to, stops."""
    named = {d.residence.province_code, *(s.province_code for s in d.travel_history)}
    for place in (d.coming_from, d.going_to):
        if place.province_code is not None:
            named.add(place.province_code)
    return named


def in_declared_period(declared_at: datetime, at: int) -> bool:
    """Whether a moment lies in the period a declaration's travel history covers: the
    days before it was made (the moment of declaring itself not included)."""
    end = int(declared_at.timestamp())
    return end - int(DECLARED_PERIOD.total_seconds()) <= at < end


def undeclared_travel(
    d: DeclarationCreate, declared_at: datetime, sightings: Iterable[Sighting]
) -> list[Evidence]:
    """Sightings in the declared period in provinces the declaration does not name."""
    named = declared_provinces(d)
    out = []
    for s in sightings:
        if not in_declared_period(declared_at, s.at) or s.commune_code is None:
            continue
        province = admin_units.commune_province(s.commune_code)
        if province is not None and province not in named:
            out.append(s.evidence())
    return out


def undeclared_fever(
    d: DeclarationCreate, declared_at: datetime, fevers: Iterable[Evidence]
) -> list[Evidence]:
    """Fevers measured at a checkpoint on the declaration's day, when it declared no
    fever and no symptom."""
    if d.symptoms.any():
        return []
    day = declared_at.astimezone(VIETNAM_TZ).date()
    return [f for f in fevers if f.at.astimezone(VIETNAM_TZ).date() == day]


@dataclass(frozen=True)
class RecordedContact:
    contact_id: str
    case_id: str
    recorded_at: int  # when the contact record was written
    last_exposure: int


def undeclared_contact(
    d: DeclarationCreate, declared_at: datetime, contacts: Iterable[RecordedContact]
) -> list[Evidence]:
    """Contact records written before the declaration, with an exposure in its period,
    when it declared no contact with a case."""
    if d.exposure.contact_with_case:
        return []
    end = int(declared_at.timestamp())
    return [
        Evidence(
            kind=EvidenceKind.CONTACT,
            record=c.contact_id,
            at=datetime.fromtimestamp(c.recorded_at, VIETNAM_TZ),
            detail=f"case {c.case_id}",
        )
        # recorded in the declaration's own second counts as before it: the record
        # times are whole seconds
        for c in contacts
        if c.recorded_at <= end and in_declared_period(declared_at, c.last_exposure)
    ]


def borrowed_qr(qr_person: str, face_person: str | None) -> bool:
    """A QR shown by someone whose face (or iris) is another enrolled person's."""
    return face_person is not None and face_person != qr_person


def borrower(event: ScreeningEvent) -> str | None:
    """Who showed someone else's QR, by the screening's evidence: the person the iris
    matched (`qr_iris_mismatch`), else the one the face matched (`qr_face_mismatch`)."""
    if Reason.QR_IRIS_MISMATCH in event.reasons and event.iris and event.iris.person_id:
        return event.iris.person_id
    if Reason.QR_FACE_MISMATCH in event.reasons:
        return event.face_person_id
    return None
