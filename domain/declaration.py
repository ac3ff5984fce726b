"""The health declaration (after tokhaiyte.vn and the DHIS2 Points-of-Entry form).

`DeclarationCreate` parses types; `check_declaration` applies the rules a clerk
applies, returning every problem at once so the citizen fixes them in one go.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dichte.domain import admin_units
from dichte.domain.errors import FieldError
from dichte.domain.identity import (
    DocumentType,
    Sex,
    check_document,
    check_phone,
    normalize_document_number,
    normalize_phone,
)

TRAVEL_HISTORY_DAYS = 14
MAX_AGE_YEARS = 130

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VehicleType(StrEnum):
    CAR = "car"
    MOTORBIKE = "motorbike"
    TRUCK = "truck"
    BUS = "bus"
    BICYCLE = "bicycle"
    ON_FOOT = "on_foot"
    TRAIN = "train"
    PLANE = "plane"
    BOAT = "boat"
    OTHER = "other"


PLATED_VEHICLES = {VehicleType.CAR, VehicleType.MOTORBIKE, VehicleType.TRUCK, VehicleType.BUS}


class DiagnosticTest(StrEnum):
    PCR = "pcr"
    RAPID_ANTIGEN = "rapid_antigen"


class DiagnosticResult(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    PENDING = "pending"


class Residence(Strict):
    province_code: int = Field(description="Province code (34 units since July 2025)")
    commune_code: int = Field(description="Commune/ward code inside that province")
    street: Text = Field(default="", description="House number and street")


class Place(Strict):
    province_code: int | None = Field(default=None, description="Province, when in Vietnam")
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] = Field(
        default="VN", description="ISO 3166-1 alpha-2 country code"
    )
    detail: Text = Field(default="", description="Address or place name")


class Vehicle(Strict):
    type: VehicleType
    plate: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)] = ""


class TravelStop(Strict):
    province_code: int
    date: date


class Symptoms(Strict):
    fever: bool = False
    cough: bool = False
    shortness_of_breath: bool = False
    sore_throat: bool = False
    loss_of_taste_smell: bool = False
    fatigue: bool = False
    other: Text = ""

    def any(self) -> bool:
        return any(
            (
                self.fever,
                self.cough,
                self.shortness_of_breath,
                self.sore_throat,
                self.loss_of_taste_smell,
                self.fatigue,
                bool(self.other),
            )
        )


class Exposure(Strict):
    contact_with_case: bool = False
    been_in_outbreak_area: bool = False


class LatestTest(Strict):
    type: DiagnosticTest
    date: date
    result: DiagnosticResult


class DeclarationCreate(Strict):
    full_name: Name
    document_type: DocumentType
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
    nationality: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] = "VN"
    date_of_birth: date
    sex: Sex
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
    residence: Residence
    coming_from: Place
    going_to: Place
    vehicle: Vehicle
    checkpoint_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    travel_history: list[TravelStop] = Field(default_factory=list, max_length=30)
    symptoms: Symptoms = Field(default_factory=Symptoms)
    exposure: Exposure = Field(default_factory=Exposure)
    vaccination_doses: int = Field(default=0, ge=0, le=10)
    latest_test: LatestTest | None = None
    biometric_consent: bool = False

    def normalized(self) -> DeclarationCreate:
        """The stored form: document number without separators, domestic phone form."""
        return self.model_copy(
            update={
                "document_number": normalize_document_number(self.document_number),
                "phone": normalize_phone(self.phone),
                "nationality": self.nationality.upper(),
            }
        )

    def content_hash(self) -> str:
        """Same content, same hash: a resubmitted body is recognised as a retry."""
        # pydantic writes fields in declaration order: a canonical form without sorting.
        return hashlib.sha256(self.normalized().model_dump_json().encode()).hexdigest()


def _future(field: str) -> FieldError:
    return FieldError.of(field, "date_in_future")


def _check_place(field: str, place: Place) -> list[FieldError]:
    if place.country.upper() != "VN" or place.province_code is None:
        if place.country.upper() == "VN" and place.province_code is None and not place.detail:
            return [FieldError.of(field, "place_required")]
        return []
    if admin_units.province(place.province_code) is None:
        return [FieldError.of(f"{field}.province_code", "province_unknown")]
    return []


def check_declaration(d: DeclarationCreate, today: date) -> list[FieldError]:
    """Every rule a clerk applies to a declaration; an empty list means it is acceptable."""
    errors: list[FieldError] = []
    if d.date_of_birth > today:
        errors.append(_future("date_of_birth"))
    elif today.year - d.date_of_birth.year > MAX_AGE_YEARS:
        errors.append(FieldError.of("date_of_birth", "date_of_birth_implausible"))
    else:
        errors += check_document(
            d.document_type, d.document_number, d.nationality, d.date_of_birth, d.sex
        )
    errors += check_phone(d.phone)

    if admin_units.province(d.residence.province_code) is None:
        errors.append(FieldError.of("residence.province_code", "province_unknown"))
    else:
        owner = admin_units.commune_province(d.residence.commune_code)
        if owner is None:
            errors.append(FieldError.of("residence.commune_code", "commune_unknown"))
        elif owner != d.residence.province_code:
            errors.append(FieldError.of("residence.commune_code", "commune_not_in_province"))
    errors += _check_place("coming_from", d.coming_from)
    errors += _check_place("going_to", d.going_to)

    if d.vehicle.type in PLATED_VEHICLES:
        plate = d.vehicle.plate.replace(" ", "")
        if not plate:
            errors.append(FieldError.of("vehicle.plate", "plate_required"))
        elif not _plate_ok(plate):
            errors.append(FieldError.of("vehicle.plate", "plate_invalid"))

    oldest = today - timedelta(days=TRAVEL_HISTORY_DAYS)
    for i, stop in enumerate(d.travel_history):
        field = f"travel_history.{i}"
        if admin_units.province(stop.province_code) is None:
            errors.append(FieldError.of(f"{field}.province_code", "province_unknown"))
        if stop.date > today:
            errors.append(_future(f"{field}.date"))
        elif stop.date < oldest:
            errors.append(
                FieldError.of(f"{field}.date", "travel_date_too_old", days=TRAVEL_HISTORY_DAYS)
            )
    if d.latest_test is not None and d.latest_test.date > today:
        errors.append(_future("latest_test.date"))
    return errors


def _plate_ok(plate: str) -> bool:
    """Province number (2 digits), a series of letters (and a digit for motorbikes),
    then 4-5 digits: 74A-123.45, 74A12345, 74-B1 234.56, 29LD-012.34."""
    compact = re.sub(r"[.\-]", "", plate.upper())
    return re.fullmatch(r"\d{2}[A-Z]{1,2}\d?\d{4,5}", compact) is not None
