"""Provinces and communes for the declaration form's pickers."""

from __future__ import annotations

from fastapi import APIRouter

from domain import admin_units
from domain.errors import DomainError

router = APIRouter(prefix="/admin-units", tags=["admin units"])


@router.get("/provinces")
async def list_provinces() -> list[dict[str, object]]:
    return [{"code": u.code, "name": u.name} for u in admin_units.provinces()]


@router.get("/provinces/{province_code}/communes")
async def list_communes(province_code: int) -> list[dict[str, object]]:
    if admin_units.province(province_code) is None:
        raise DomainError.single(
            "province_code",
            "province_unknown",
            "Mã tỉnh/thành phố không tồn tại.",
            "Unknown province code.",
            status=404,
        )
    return [{"code": u.code, "name": u.name} for u in admin_units.communes_of(province_code)]
