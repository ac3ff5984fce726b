"""Irises: compare two eye images, enrol a consenting person's eye, identify 1:N,
forget.

Eye images (near-infrared, as iris cameras take them) are multipart uploads handed to
the `IrisEncoder` deployment as bytes; they are decoded there with bounded memory and
never stored: only the sealed code of an enrolled eye is kept, for the retention
period. An image whose iris cannot give a reliable code is refused with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from dichte.api.deps import Declarations, Irises, MaybeStaff, PersonToken, ReceiptSecret, Staff
from dichte.api.errors import documented
from dichte.api.uploads import ImageFile
from dichte.domain.templates import Eye, TemplateSources
from dichte.services.iris import (
    IrisComparison,
    IrisEnrollment,
    IrisForgotten,
    IrisIdentification,
)

router = APIRouter(prefix="/iris", tags=["iris"])


@router.post("/compare", response_model=IrisComparison, responses=documented(400, 413, 422, 503))
async def compare_irises(iris: Irises, image_a: ImageFile, image_b: ImageFile) -> IrisComparison:
    """Are the irises of two eye images the same eye? `hd` is the normalised Hamming
    distance at the best rotation; `same` when it is at or below `threshold`."""
    return await iris.compare(await image_a.read(), await image_b.read())


@router.post(
    "/enroll",
    status_code=201,
    response_model=IrisEnrollment,
    responses=documented(400, 401, 403, 404, 410, 413, 422, 503),
)
async def enroll_iris(
    iris: Irises,
    declarations: Declarations,
    staff: MaybeStaff,
    image: ImageFile,
    eye: Annotated[Eye, Form(description="Which eye the image shows")],
    person_token: PersonToken,
    receipt_secret: ReceiptSecret = None,
) -> IrisEnrollment:
    """Staff at a checkpoint enrol the eye of a person who showed a valid QR (with consent
    in their declaration), or the citizen with their QR and receipt secret. Enrolling
    an eye again replaces its template."""
    person_id = await declarations.person_of(
        person_token, receipt=receipt_secret, staff=staff, needs_consent=True
    )
    source = TemplateSources.CHECKPOINT if staff else TemplateSources.DECLARATION
    return await iris.enroll(person_id, eye, await image.read(), source)


@router.post(
    "/identify", response_model=IrisIdentification, responses=documented(400, 401, 413, 422, 503)
)
async def identify_iris(
    iris: Irises,
    _: Staff,
    image: ImageFile,
    k: Annotated[int, Form(ge=1, le=20)] = 5,
) -> IrisIdentification:
    """The k closest enrolled eyes; `person_id` only when the closest is within the
    threshold, else the eye is unknown."""
    return await iris.identify(await image.read(), k)


@router.post(
    "/forget",
    response_model=IrisForgotten,
    responses=documented(400, 401, 403, 404, 410, 413, 422, 503),
)
async def forget_iris(
    iris: Irises,
    declarations: Declarations,
    staff: MaybeStaff,
    person_token: PersonToken,
    receipt_secret: ReceiptSecret = None,
) -> IrisForgotten:
    """A citizen withdraws (their QR and receipt secret; or staff on their behalf): both
    eyes' templates are deleted at once."""
    person_id = await declarations.person_of(
        person_token, receipt=receipt_secret, staff=staff, needs_consent=False
    )
    return await iris.forget(person_id)
