"""The rules a clerk applies to a health declaration, one case per rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dichte.domain import admin_units
from dichte.domain.clock import today_in_vietnam
from dichte.domain.declaration import DeclarationCreate, check_declaration
from tests.factories import DONG_HOI_WARD, HUE, QUANG_TRI, declaration

TODAY = today_in_vietnam()


def codes(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in check_declaration(DeclarationCreate(**body), TODAY)}


def test_quang_tri_is_province_44_with_78_communes() -> None:
    # The July-2025 two-level units: Quảng Trị merged with Quảng Bình as province 44.
    assert admin_units.province(QUANG_TRI).name == "Quảng Trị"
    assert len(admin_units.communes_of(QUANG_TRI)) == 78


def test_cccd_codes_are_the_63_pre_2025_provinces() -> None:
    assert len(admin_units.CCCD_PROVINCE_CODES) == 63
    assert admin_units.CCCD_PROVINCE_CODES["001"] == "Hà Nội"
    assert admin_units.CCCD_PROVINCE_CODES["044"] == "Quảng Bình"
    assert admin_units.CCCD_PROVINCE_CODES["045"] == "Quảng Trị"
    assert admin_units.CCCD_PROVINCE_CODES["096"] == "Cà Mau"


VALID = {
    "cccd male 1990": {},
    "cccd female 2001": {
        "document_number": "001301000123",
        "sex": "female",
        "date_of_birth": "2001-02-03",
    },
    "cccd male 2000s from Cà Mau": {
        "document_number": "096205009999",
        "date_of_birth": "2005-12-31",
    },
    "old cmnd 9 digits": {"document_type": "cmnd", "document_number": "197123456"},
    "passport with nationality": {
        "document_type": "passport",
        "document_number": "P1234567",
        "nationality": "LA",
    },
    "phone in +84 form": {"phone": "+84 912 345 678"},
    "cccd with spaces": {"document_number": "045 090 123 456"},
    "motorbike plate": {"vehicle": {"type": "motorbike", "plate": "74-B1 234.56"}},
    "on foot without plate": {"vehicle": {"type": "on_foot"}},
    "coming from abroad": {"coming_from": {"country": "LA", "detail": "Savannakhet"}},
    "travel 14 days ago": {
        "travel_history": [{"province_code": HUE, "date": str(TODAY - timedelta(days=14))}]
    },
}


@pytest.mark.parametrize("overrides", VALID.values(), ids=VALID.keys())
def test_valid_declarations_pass(overrides: dict[str, Any]) -> None:
    assert codes(declaration(**overrides)) == set()


INVALID = {
    "cccd 11 digits": ({"document_number": "04509012345"}, ("document_number", "cccd_format")),
    "cccd unknown province code 003": (
        {"document_number": "003090123456"},
        ("document_number", "cccd_province_unknown"),
    ),
    "cccd uses a new 34-province code 097": (
        {"document_number": "097090123456"},
        ("document_number", "cccd_province_unknown"),
    ),
    "cccd birth year differs": (
        {"document_number": "045091123456"},
        ("document_number", "cccd_birth_year_mismatch"),
    ),
    "cccd says female, form says male": (
        {"document_number": "045190123456"},
        ("document_number", "cccd_sex_mismatch"),
    ),
    "cccd century 2000s for a 1990 birth": (
        {"document_number": "045290123456"},
        ("document_number", "cccd_century_mismatch"),
    ),
    "cmnd 12 digits": (
        {"document_type": "cmnd", "document_number": "045090123456"},
        ("document_number", "cmnd_format"),
    ),
    "passport too short": (
        {"document_type": "passport", "document_number": "P12"},
        ("document_number", "passport_format"),
    ),
    "landline, not mobile": ({"phone": "02333123456"}, ("phone", "phone_invalid")),
    "mobile with unused prefix 01x": ({"phone": "0123456789"}, ("phone", "phone_invalid")),
    "unknown residence province": (
        {"residence": {"province_code": 99, "commune_code": DONG_HOI_WARD}},
        ("residence.province_code", "province_unknown"),
    ),
    "unknown commune": (
        {"residence": {"province_code": QUANG_TRI, "commune_code": 1}},
        ("residence.commune_code", "commune_unknown"),
    ),
    "commune of another province": (
        {"residence": {"province_code": HUE, "commune_code": DONG_HOI_WARD}},
        ("residence.commune_code", "commune_not_in_province"),
    ),
    "birth in the future": (
        {"date_of_birth": str(TODAY + timedelta(days=1))},
        ("date_of_birth", "date_in_future"),
    ),
    "travel in the future": (
        {"travel_history": [{"province_code": HUE, "date": str(TODAY + timedelta(days=1))}]},
        ("travel_history.0.date", "date_in_future"),
    ),
    "travel 15 days ago": (
        {"travel_history": [{"province_code": HUE, "date": str(TODAY - timedelta(days=15))}]},
        ("travel_history.0.date", "travel_date_too_old"),
    ),
    "travel to unknown province": (
        {"travel_history": [{"province_code": 0, "date": str(TODAY)}]},
        ("travel_history.0.province_code", "province_unknown"),
    ),
    "car without plate": (
        {"vehicle": {"type": "car", "plate": ""}},
        ("vehicle.plate", "plate_required"),
    ),
    "car with a foreign-looking plate": (
        {"vehicle": {"type": "car", "plate": "ABC-1234"}},
        ("vehicle.plate", "plate_invalid"),
    ),
    "test dated tomorrow": (
        {
            "latest_test": {
                "type": "pcr",
                "date": str(TODAY + timedelta(days=1)),
                "result": "negative",
            }
        },
        ("latest_test.date", "date_in_future"),
    ),
    "unknown destination province": (
        {"going_to": {"province_code": 77}},
        ("going_to.province_code", "province_unknown"),
    ),
}


@pytest.mark.parametrize(("overrides", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid_declarations_name_field_and_rule(
    overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in codes(declaration(**overrides))


def test_every_problem_is_reported_at_once() -> None:
    found = codes(
        declaration(phone="12", document_number="999090123456", vehicle={"type": "truck"})
    )
    assert {
        ("phone", "phone_invalid"),
        ("document_number", "cccd_province_unknown"),
        ("vehicle.plate", "plate_required"),
    } <= found


TYPE_ERRORS = {
    "missing name": {"full_name": None},
    "unknown sex": {"sex": "x"},
    "date not a date": {"date_of_birth": "17/05/1990"},
    "extra field": {"favourite_colour": "blue"},
    "negative doses": {"vaccination_doses": -1},
}


@pytest.mark.parametrize("overrides", TYPE_ERRORS.values(), ids=TYPE_ERRORS.keys())
def test_malformed_fields_are_refused_by_the_schema(overrides: dict[str, Any]) -> None:
    body = declaration(**overrides)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ValidationError):
        DeclarationCreate(**body)


def test_resubmitting_the_same_content_gives_the_same_hash() -> None:
    a = DeclarationCreate(**declaration(phone="0912345678"))
    b = DeclarationCreate(**declaration(phone="+84 912 345 678"))
    c = DeclarationCreate(**declaration(phone="0987654321"))
    assert a.content_hash() == b.content_hash() != c.content_hash()
