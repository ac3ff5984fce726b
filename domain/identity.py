"""Identity documents and phone numbers as a Vietnamese clerk checks them."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from dichte.domain.admin_units import CCCD_PROVINCE_CODES
from dichte.domain.errors import FieldError


class DocumentType(StrEnum):
    CCCD = "cccd"  # citizen identity card, 12 digits
    CMND = "cmnd"  # old identity card, 9 digits
    PASSPORT = "passport"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


DocumentNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]

_PASSPORT = re.compile(r"^[A-Z0-9]{6,12}$")
# Mobile prefixes in use since the 2018 renumbering (03x, 05x, 07x, 08x, 09x).
_MOBILE = re.compile(r"^0(3[2-9]|5[25689]|7[06-9]|8[1-9]|9\d)\d{7}$")


def normalize_document_number(number: str) -> str:
    return re.sub(r"[\s.-]", "", number).upper()


def document_hash(document_type: DocumentType, number: str) -> bytes:
    """16-byte digest of a document, carried in QR tokens instead of the number itself."""
    material = f"{document_type.value}:{normalize_document_number(number)}".encode()
    return hashlib.sha256(material).digest()[:16]


def normalize_phone(phone: str) -> str:
    """'+84 912-345-678' and '0912345678' are the same number; store the domestic form."""
    digits = re.sub(r"[\s.()-]", "", phone)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


def check_phone(phone: str) -> list[FieldError]:
    if _MOBILE.match(normalize_phone(phone)):
        return []
    return [FieldError.of("phone", "phone_invalid")]


def _century_sex_digit(birth: date, sex: Sex) -> int | None:
    """The CCCD's 4th digit: 0/1 male/female born 1900-1999, 2/3 for 2000-2099, ...;
    8/9 for 1800-1899."""
    base = {18: 8, 19: 0, 20: 2, 21: 4, 22: 6}.get(birth.year // 100)
    if base is None:
        return None
    return base + (1 if sex is Sex.FEMALE else 0)


def check_document(
    document_type: DocumentType,
    number: str,
    nationality: str,
    birth: date,
    sex: Sex,
) -> list[FieldError]:
    field = "document_number"
    n = normalize_document_number(number)
    if document_type is DocumentType.PASSPORT:
        errors = []
        if not _PASSPORT.match(n):
            errors.append(FieldError.of(field, "passport_format"))
        if not re.fullmatch(r"[A-Z]{2}", nationality.upper()):
            errors.append(FieldError.of("nationality", "nationality_required"))
        return errors
    if document_type is DocumentType.CMND:
        if re.fullmatch(r"\d{9}", n):
            return []
        return [FieldError.of(field, "cmnd_format")]
    if not re.fullmatch(r"\d{12}", n):
        return [FieldError.of(field, "cccd_format")]
    if n[:3] not in CCCD_PROVINCE_CODES:
        return [FieldError.of(field, "cccd_province_unknown", prefix=n[:3])]
    errors = []
    expected = _century_sex_digit(birth, sex)
    digit = int(n[3])
    if expected is None or digit // 2 != expected // 2:
        errors.append(FieldError.of(field, "cccd_century_mismatch"))
    elif digit != expected:
        errors.append(FieldError.of(field, "cccd_sex_mismatch"))
    if n[4:6] != f"{birth.year % 100:02d}":
        errors.append(
            FieldError.of(field, "cccd_birth_year_mismatch", digits=n[4:6], year=birth.year)
        )
    return errors
