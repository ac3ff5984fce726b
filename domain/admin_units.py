"""Administrative units.

Residence uses the two-level units in force since July 2025 (34 provinces and
their communes, from the `vietnam-provinces` package). The citizen identity card
(CCCD) still encodes the place of birth registration with the Ministry of Public
Security's codes of the 63 provinces that existed before 2025, so those are
listed here as the Ministry published them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vietnam_provinces import Province, Ward


@dataclass(frozen=True)
class Unit:
    code: int
    name: str


@cache
def provinces() -> tuple[Unit, ...]:
    return tuple(
        sorted((Unit(int(p.code), p.name) for p in Province.iter_all()), key=lambda u: u.code)
    )


@cache
def _province_by_code() -> dict[int, Unit]:
    return {u.code: u for u in provinces()}


@cache
def _commune_index() -> dict[int, tuple[int, str]]:
    """commune code -> (province code, name)."""
    return {int(w.code): (int(w.province_code), w.name) for w in Ward.iter_all()}


def province(code: int) -> Unit | None:
    return _province_by_code().get(code)


def commune_province(commune_code: int) -> int | None:
    """The province a commune belongs to, or None for an unknown commune."""
    entry = _commune_index().get(commune_code)
    return entry[0] if entry else None


def commune_name(commune_code: int) -> str | None:
    entry = _commune_index().get(commune_code)
    return entry[1] if entry else None


@cache
def communes_of(province_code: int) -> tuple[Unit, ...]:
    return tuple(
        sorted(
            (
                Unit(code, name)
                for code, (prov, name) in _commune_index().items()
                if prov == province_code
            ),
            key=lambda u: u.name,
        )
    )


# Place-of-birth-registration codes printed as the first three digits of a CCCD
# (Ministry of Public Security, Circular 07/2016/TT-BCA, 63 provinces).
CCCD_PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}
