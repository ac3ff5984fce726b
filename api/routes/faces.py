"""Faces: detect, verify two photos, enrol a consenting person, identify 1:N, forget.

Photos are multipart uploads; they are decoded with bounded memory (the header is
checked before any pixel is allocated) and never stored: only the sealed template of
an enrolled person is kept, for the retention period."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form

from actors.face_service import FaceService
from api.deps import ApiContext, Context, MaybeStaff, Staff
from api.uploads import ImageFile, read_image
from domain.errors import DomainError
from domain.records import DeclarationRecord
from domain.templates import TemplateSources
from domain.tokens import verify_qr

router = APIRouter(prefix="/faces", tags=["faces"])


def _service(ctx: ApiContext) -> FaceService:
    if ctx.faces is None:
        raise DomainError.single(
            "request",
            "faces_unavailable",
            "Dịch vụ nhận diện khuôn mặt chưa chạy.",
            "Face recognition is not running on this server.",
            status=503,
        )
    return ctx.faces


@router.post("/detect")
async def detect_faces(ctx: Context, image: ImageFile) -> dict[str, Any]:
    frame = await read_image(image, "image", ctx.max_image_pixels)
    seen = await _service(ctx).detect(frame)
    return {
        "width": int(frame.shape[1]),
        "height": int(frame.shape[0]),
        "faces": [s.as_dict() for s in seen],
    }


@router.post("/verify")
async def verify_faces(ctx: Context, image_a: ImageFile, image_b: ImageFile) -> dict[str, Any]:
    a = await read_image(image_a, "image_a", ctx.max_image_pixels)
    b = await read_image(image_b, "image_b", ctx.max_image_pixels)
    return await _service(ctx).verify(a, b)


async def _consenting_person(ctx: ApiContext, person_token: str) -> str:
    """The person a declaration QR names, if their declaration consents to enrolment."""
    claims = verify_qr(ctx.signing_key.public_key(), person_token, field="person_token")
    raw = await ctx.declarations.get(claims.declaration_id)
    if raw is None:
        raise DomainError.single(
            "person_token",
            "not_found",
            "Không tìm thấy tờ khai của mã QR này.",
            "The declaration of this QR code is not on record.",
            status=404,
        )
    if not DeclarationRecord.model_validate_json(raw).declaration.biometric_consent:
        raise DomainError.single(
            "person_token",
            "no_consent",
            "Người khai không đồng ý đăng ký sinh trắc học.",
            "The declaration does not consent to biometric enrolment.",
            status=403,
        )
    return claims.document_hash.hex()


@router.post("/enroll", status_code=201)
async def enroll_face(
    ctx: Context,
    staff: MaybeStaff,
    image: ImageFile,
    person_token: Annotated[str, Form(max_length=300, description="The person's declaration QR")],
) -> dict[str, Any]:
    """A citizen's consented selfie, or staff capturing the face at a checkpoint from a
    person who showed a valid QR (with consent in their declaration) ."""
    person_id = await _consenting_person(ctx, person_token)
    frame = await read_image(image, "image", ctx.max_image_pixels)
    source = TemplateSources.CHECKPOINT if staff else TemplateSources.DECLARATION
    return await _service(ctx).enroll(person_id, frame, source)


@router.post("/identify")
async def identify_faces(
    ctx: Context,
    _: Staff,
    image: ImageFile,
    k: Annotated[int, Form(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Every face in the photo with its k closest enrolled persons; `person_id` only
    when the best clears the match threshold, else the face is unknown."""
    frame = await read_image(image, "image", ctx.max_image_pixels)
    service = _service(ctx)
    return {"threshold": service.threshold, "faces": await service.identify(frame, k)}


@router.post("/forget")
async def forget_face(
    ctx: Context,
    person_token: Annotated[str, Form(max_length=300, description="The person's declaration QR")],
) -> dict[str, Any]:
    """A citizen withdraws: their template is deleted at once."""
    claims = verify_qr(ctx.signing_key.public_key(), person_token, field="person_token")
    return {"forgotten": await _service(ctx).forget(claims.document_hash.hex())}
