"""Provinces and communes for the declaration form's pickers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from dichte.api.errors import documented
from dichte.domain import admin_units
from dichte.domain.errors import not_found

router = APIRouter(prefix="/admin-units", tags=["admin units"])


class AdminUnit(BaseModel):
    code: int
    name: str


@router.get("/provinces", response_model=list[AdminUnit])
async def list_provinces() -> list[AdminUnit]:
    return [AdminUnit(code=u.code, name=u.name) for u in admin_units.provinces()]


@router.get(
    "/provinces/{province_code}/communes",
    response_model=list[AdminUnit],
    responses=documented(404, 422),
)
async def list_communes(province_code: int) -> list[AdminUnit]:
    if admin_units.province(province_code) is None:
        raise not_found("province_code", "province")
    return [AdminUnit(code=u.code, name=u.name) for u in admin_units.communes_of(province_code)]
