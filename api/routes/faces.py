"""Faces: detect, verify two photos, enrol a consenting person, identify 1:N, forget.

Photos are multipart uploads handed to the inference deployments as bytes; they are
decoded there with bounded memory (the header is checked before any pixel is
allocated) and never stored: only the sealed template of an enrolled person is kept,
for the retention period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from dichte.api.deps import Declarations, Faces, MaybeStaff, PersonToken, ReceiptSecret, Staff
from dichte.api.errors import documented
from dichte.api.uploads import ImageFile
from dichte.domain.templates import TemplateSources
from dichte.services.faces import (
    Enrollment,
    FacesDetected,
    FaceVerification,
    Forgotten,
    Identification,
)

router = APIRouter(prefix="/faces", tags=["faces"])


@router.post("/detect", response_model=FacesDetected, responses=documented(400, 413, 422, 503))
async def detect_faces(faces: Faces, image: ImageFile) -> FacesDetected:
    return await faces.detect(await image.read())


@router.post("/verify", response_model=FaceVerification, responses=documented(400, 413, 422, 503))
async def verify_faces(faces: Faces, image_a: ImageFile, image_b: ImageFile) -> FaceVerification:
    return await faces.verify(await image_a.read(), await image_b.read())


@router.post(
    "/enroll",
    status_code=201,
    response_model=Enrollment,
    responses=documented(400, 401, 403, 404, 410, 413, 422, 503),
)
async def enroll_face(
    faces: Faces,
    declarations: Declarations,
    staff: MaybeStaff,
    image: ImageFile,
    person_token: PersonToken,
    receipt_secret: ReceiptSecret = None,
) -> Enrollment:
    """A citizen's consented selfie (their QR and receipt secret), or staff capturing the
    face at a checkpoint from a person who showed a valid QR (with consent in their
    declaration)."""
    person_id = await declarations.person_of(
        person_token, receipt=receipt_secret, staff=staff, needs_consent=True
    )
    source = TemplateSources.CHECKPOINT if staff else TemplateSources.DECLARATION
    return await faces.enroll(person_id, await image.read(), source)


@router.post(
    "/identify", response_model=Identification, responses=documented(400, 401, 413, 422, 503)
)
async def identify_faces(
    faces: Faces,
    _: Staff,
    image: ImageFile,
    k: Annotated[int, Form(ge=1, le=20)] = 5,
) -> Identification:
    """Every face in the photo with its k closest enrolled persons; `person_id` only
    when the best clears the match threshold, else the face is unknown."""
    return await faces.identify(await image.read(), k)


@router.post(
    "/forget",
    response_model=Forgotten,
    responses=documented(400, 401, 403, 404, 410, 413, 422, 503),
)
async def forget_face(
    faces: Faces,
    declarations: Declarations,
    staff: MaybeStaff,
    person_token: PersonToken,
    receipt_secret: ReceiptSecret = None,
) -> Forgotten:
    """A citizen withdraws (their QR and receipt secret; or staff on their behalf): the
    template is deleted at once."""
    person_id = await declarations.person_of(
        person_token, receipt=receipt_secret, staff=staff, needs_consent=False
    )
    return await faces.forget(person_id)
