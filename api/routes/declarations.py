"""Health declarations: public submit, staff read, and the declaration's QR code."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Header, Response
from pydantic import BaseModel

from api.deps import ApiContext, Context, Staff
from domain.declaration import DeclarationCreate, check_declaration, today_in_vietnam
from domain.errors import DomainError
from domain.records import DeclarationRecord, can_read
from domain.tokens import sign_qr

router = APIRouter(prefix="/declarations", tags=["declarations"])

_ID = re.compile(r"^[0-9a-f]{32}$")


class DeclarationReceipt(BaseModel):
    id: str
    created_at: datetime
    qr_token: str
    expires_at: datetime
    qr_svg_url: str
    qr_png_url: str


class DeclarationPublic(DeclarationReceipt):
    declaration: DeclarationCreate


def _receipt(ctx: ApiContext, record: DeclarationRecord) -> DeclarationReceipt:
    claims = record.qr_claims(ctx.qr_ttl)
    base = f"/api/v1/declarations/{record.id}"
    return DeclarationReceipt(
        id=record.id,
        created_at=record.created_at,
        qr_token=sign_qr(ctx.signing_key, claims),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        qr_svg_url=f"{base}/qr.svg",
        qr_png_url=f"{base}/qr.png",
    )


def _not_found() -> DomainError:
    return DomainError.single(
        "id", "not_found", "Không tìm thấy tờ khai.", "No such declaration.", status=404
    )


async def _load(ctx: ApiContext, declaration_id: str) -> DeclarationRecord:
    if not _ID.match(declaration_id):
        raise _not_found()
    raw = await ctx.declarations.get(declaration_id)
    if raw is None:
        raise _not_found()
    return DeclarationRecord.model_validate_json(raw)


@router.post(
    "",
    status_code=201,
    response_model=DeclarationReceipt,
    responses={
        200: {"description": "A retry: the first record, unchanged", "model": DeclarationReceipt}
    },
)
async def submit_declaration(
    body: DeclarationCreate,
    ctx: Context,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    errors = check_declaration(body, today_in_vietnam())
    if errors:
        ctx.metrics.declaration("rejected")
        raise DomainError(errors)
    record = DeclarationRecord.new(body)
    try:
        stored = await ctx.declarations.submit(record.to_write(idempotency_key))
    except DomainError:
        ctx.metrics.declaration("failed")
        raise
    if not stored.created:  # a retry: answer with the first record
        record = DeclarationRecord.model_validate_json(stored.record_json)
    ctx.metrics.declaration("created" if stored.created else "replayed")
    # Serialised here, once, by pydantic's own encoder (the hot path of the system).
    return Response(
        _receipt(ctx, record).model_dump_json(),
        media_type="application/json",
        status_code=201 if stored.created else 200,
    )


@router.get("/{declaration_id}", response_model=DeclarationPublic)
async def read_declaration(declaration_id: str, ctx: Context, staff: Staff) -> dict[str, Any]:
    record = await _load(ctx, declaration_id)
    if not can_read(staff, record):
        raise DomainError.single(
            "id",
            "forbidden",
            "Tờ khai này nằm ngoài địa bàn của bạn.",
            "This declaration is outside your area.",
            status=403,
        )
    return {**_receipt(ctx, record).model_dump(), "declaration": record.declaration}


# Error correction M survives a scratched phone screen and keeps the code small enough
# to scan fast. SVG for screens, PNG for printing and messaging apps.
_QR_FORMATS = {
    "svg": ("image/svg+xml", {"scale": 6, "border": 4, "xmldecl": False}),
    "png": ("image/png", {"scale": 8, "border": 4}),
}


@router.get(
    "/{declaration_id}/qr.{image_format}",
    response_class=Response,
    responses={200: {"content": {media: {} for media, _ in _QR_FORMATS.values()}}},
)
async def declaration_qr(
    declaration_id: str, image_format: Literal["svg", "png"], ctx: Context
) -> Response:
    """Public: the id is 128 random bits, so knowing it is the permission."""
    record = await _load(ctx, declaration_id)
    media_type, options = _QR_FORMATS[image_format]
    buf = io.BytesIO()
    qr = segno.make_qr(sign_qr(ctx.signing_key, record.qr_claims(ctx.qr_ttl)), error="m")
    qr.save(buf, kind=image_format, **options)
    return Response(buf.getvalue(), media_type=media_type)
