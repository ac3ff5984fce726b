"""The checkpoint's decision, one per person passing, in one place: `pass`, or
`secondary_screening` with every reason that applies. README's "Screening decision"
section describes exactly this code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    PASS = "pass"
    SECONDARY = "secondary_screening"


class Reason(StrEnum):
    FEVER = "fever"  # the core estimate is elevated (the thermal screen's line)
    NO_READING = "no_reading"  # no usable thermal frame of this person
    NO_DECLARATION = "no_declaration"  # no QR shown and the face names no declared person
    DECLARATION_EXPIRED = "declaration_expired"
    QR_FORGED = "qr_forged"  # a QR that is not a valid dichte token (altered, made up)
    QR_FACE_MISMATCH = "qr_face_mismatch"  # the QR's person's enrolled face is not this one
    QR_IRIS_MISMATCH = "qr_iris_mismatch"  # the QR's person's enrolled iris is not this one
    CASE_OR_CONTACT = "case_or_contact"  # a confirmed case, or an F1 under quarantine


class DeclarationStatus(StrEnum):
    VALID = "valid"
    NONE = "none"  # no QR, and no declaration known for the face
    EXPIRED = "expired"
    FORGED = "forged"


class Temperature(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    INVALID = "invalid"  # no usable frame (no thermal camera, turned away, occluded, ...)


@dataclass(frozen=True)
class PassageFacts:
    """What the cameras and the records established about one person passing."""

    temperature: Temperature
    declaration: DeclarationStatus
    qr_person: str | None  # whose declaration the (valid) QR shown names
    face_checked: bool  # a face of usable quality was searched in the gallery
    face_person: str | None  # whom it matched, when the best score cleared the threshold
    qr_person_enrolled: bool  # the QR's person has an enrolled face to compare with
    case_or_contact: bool
    iris_checked: bool = False  # a usable iris code (an iris camera's) was searched
    iris_person: str | None = None  # whom it matched, within the iris threshold
    qr_person_iris_enrolled: bool = False  # the QR's person has an enrolled iris


def decide(f: PassageFacts) -> tuple[Outcome, tuple[Reason, ...]]:
    """Secondary screening when any reason holds, in this order; else pass."""
    reasons: list[Reason] = []
    if f.temperature is Temperature.ELEVATED:
        reasons.append(Reason.FEVER)
    elif f.temperature is Temperature.INVALID:
        reasons.append(Reason.NO_READING)
    match f.declaration:
        case DeclarationStatus.NONE:
            reasons.append(Reason.NO_DECLARATION)
        case DeclarationStatus.EXPIRED:
            reasons.append(Reason.DECLARATION_EXPIRED)
        case DeclarationStatus.FORGED:
            reasons.append(Reason.QR_FORGED)
    # Someone else's QR: a usable face (iris) was compared and it is another enrolled
    # person, or the QR's person has an enrolled face (iris) and this one matched nobody.
    # Without a usable capture nothing is claimed (the officer sees the person anyway).
    # An iris match is the stronger evidence: when the iris names someone, the face's
    # answer is not used (an iris camera reads the eye at close range; a face may be
    # masked, turned or poorly lit).
    if (
        f.qr_person is not None
        and f.iris_checked
        and _other_person(f.qr_person, f.iris_person, f.qr_person_iris_enrolled)
    ):
        reasons.append(Reason.QR_IRIS_MISMATCH)
    if (
        f.qr_person is not None
        and f.face_checked
        and f.iris_person is None
        and _other_person(f.qr_person, f.face_person, f.qr_person_enrolled)
    ):
        reasons.append(Reason.QR_FACE_MISMATCH)
    if f.case_or_contact:
        reasons.append(Reason.CASE_OR_CONTACT)
    return (Outcome.SECONDARY if reasons else Outcome.PASS), tuple(reasons)


def _other_person(qr_person: str, matched: str | None, qr_person_enrolled: bool) -> bool:
    return (matched is not None and matched != qr_person) or (
        matched is None and qr_person_enrolled
    )


def identified(
    qr_person: str | None, iris_person: str | None, face_person: str | None
) -> tuple[str | None, str | None]:
    """(who passed, how we know: "qr", "iris" or "face"): the valid QR's person, else
    the one the iris matched, else the one the face matched (an iris match overrides a
    face's)."""
    for person, via in ((qr_person, "qr"), (iris_person, "iris"), (face_person, "face")):
        if person is not None:
            return person, via
    return None, None


# --- the event a passage leaves --------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventTemperature(_Frozen):
    core_c: float
    canthus_c: float
    uncertainty_c: float


class EventPerson(_Frozen):
    person_id: str
    score: float | None = Field(description="Face match score (cosine), when via face")
    via: str = Field(description="qr, iris or face")


class EventIris(_Frozen):
    """The iris camera's answer for a passage: the closest enrolled eye."""

    person_id: str | None = Field(description="Whom it matched, when within the threshold")
    eye: str | None = Field(description="left or right, of the closest enrolled eye")
    hd: float | None = Field(description="Normalised Hamming distance to the closest eye")


class EventDeclaration(_Frozen):
    status: DeclarationStatus
    declaration_id: str | None = None


class ScreeningEvent(_Frozen):
    event_id: str
    checkpoint_id: str
    lane: int
    camera_id: str
    at: datetime = Field(description="When the person was first seen")
    frames: tuple[int, int] = Field(description="First and last frame index of the passage")
    decision: Outcome
    reasons: list[Reason]
    temperature: EventTemperature | None
    person: EventPerson | None
    declaration: EventDeclaration
    enrolled: bool = Field(False, description="The face was enrolled on this passage")
    face_person_id: str | None = Field(
        None, description="The enrolled person the face matched, when not the QR's"
    )
    iris: EventIris | None = Field(
        None, description="The iris match, when the lane's iris camera gave a usable code"
    )
    decision_ms: int | None = Field(
        None, description="From the person's last frame to the decision, in milliseconds"
    )


def event_id(checkpoint_id: str, camera_id: str, first_at_ms: int, first_frame: int) -> str:
    """Deterministic: a camera that restarts and sends a passage again gets one event."""
    material = f"{checkpoint_id}|{camera_id}|{first_at_ms}|{first_frame}".encode()
    return hashlib.sha256(material).hexdigest()[:32]
