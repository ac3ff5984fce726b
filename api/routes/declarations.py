"""Health declarations: public submit, staff read, and the declaration's QR code."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Response

from dichte.api.deps import Declarations, Staff
from dichte.api.errors import documented
from dichte.api.qr_images import QR_MEDIA, qr_image
from dichte.domain.declaration import DeclarationCreate
from dichte.services.declarations import DeclarationPublic, SubmitReceipt

router = APIRouter(prefix="/declarations", tags=["declarations"])


@router.post(
    "",
    status_code=201,
    response_model=SubmitReceipt,
    responses={
        200: {"description": "A retry: the first record, unchanged", "model": SubmitReceipt},
        **documented(400, 409, 413, 422, 503),
    },
)
async def submit_declaration(
    body: DeclarationCreate,
    declarations: Declarations,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Identifies this submit for 24 h (retries)"),
    ] = None,
) -> Response:
    receipt, created = await declarations.submit(body, idempotency_key)
    # Serialised here, once, by pydantic's own encoder (the hot path of the system).
    return Response(
        receipt.model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )


@router.get(
    "/{declaration_id}",
    response_model=DeclarationPublic,
    responses=documented(401, 403, 404, 422, 503),
)
async def read_declaration(
    declaration_id: str, declarations: Declarations, staff: Staff
) -> DeclarationPublic:
    return await declarations.read(declaration_id, staff)


@router.get(
    "/{declaration_id}/qr.{image_format}",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in QR_MEDIA.values()}, "description": "QR"},
        **documented(404, 422, 503),
    },
)
async def declaration_qr(
    declaration_id: str, image_format: Literal["svg", "png"], declarations: Declarations
) -> Response:
    """Public: the id is 128 random bits, so knowing it is the permission."""
    token = await declarations.qr_token(declaration_id)
    return Response(qr_image(token, image_format), media_type=QR_MEDIA[image_format])
