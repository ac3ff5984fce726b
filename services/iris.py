"""Whose eye is this? Enrolment, 1:N identification and 1:1 comparison of iris images
on top of the `IrisEncoder` deployment (through an `IrisEncoding` client) and the
sealed iris gallery.

Rules, in one place:
- an eye image is used only when its iris passes every quality check (size, pupil
  ratio, gaze, visible fraction, focus); otherwise it is refused with the reason, never
  encoded into a code that could mis-match;
- two irises are the same eye (1:1) when their normalised Hamming distance (best
  rotation within ±22.5°, Daugman's normalisation for the bits compared) is at or
  below the threshold (`DICHTE_IRIS_MATCH_THRESHOLD`, 0.37 by default);
- enrolment is per eye (left, right) and replaces that eye's previous template;
- identification (1:N) answers the top-k enrolled eyes with their distances and names
  the closest only when it is within the identification threshold for the gallery's
  size (`code.identification_threshold`: lower as the gallery grows, so a stranger is
  named as someone enrolled in at most `DICHTE_IRIS_IDENTIFICATION_FPIR` of searches,
  1 % by default); otherwise the eye is "unknown".
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, cast

from pydantic import BaseModel, Field

from dichte.domain.errors import DomainError
from dichte.domain.templates import Eye, IrisTemplate
from dichte.models.errors import InputError, IrisError
from dichte.models.iris.code import (
    DEGREES_PER_SHIFT,
    IMPOSTOR_DOF,
    TARGET_FPIR,
    distance,
    identification_threshold,
)
from dichte.models.results import EncodedIris, IrisQuality, quality_detail
from dichte.services.faces import InferenceBusy, Photo, refused_input

if TYPE_CHECKING:  # the pipeline loads OpenCV and ONNX Runtime: API replicas never do
    from dichte.models.iris.code import IrisCode
    from dichte.services.gallery import IrisSearch


class IrisEncoding(Protocol):
    async def encode_iris(self, photo: Photo) -> EncodedIris: ...


class IrisGalleryClient(Protocol):
    async def enroll(
        self, person_id: str, eye: Eye, code: IrisCode, source: str
    ) -> IrisTemplate: ...
    async def search(self, code: IrisCode, k: int) -> IrisSearch: ...
    async def forget(self, person_id: str) -> bool: ...
    async def enrolled(self, person_ids: list[str]) -> set[str]: ...


class IrisQualityOut(BaseModel):
    ok: bool
    reasons: list[str]
    iris_radius_px: float
    pupil_ratio: float
    usable: float = Field(description="Fraction of the iris that is visible texture")
    focus: float
    centre_offset: float = Field(description="Pupil-to-limbus centre distance, in iris radii")
    pupil_aspect: float = Field(description="Minor / major axis of the pupil (1 = round)")

    @classmethod
    def of(cls, q: IrisQuality) -> IrisQualityOut:
        return cls(
            ok=q.ok,
            reasons=list(q.reasons),
            iris_radius_px=round(q.iris_radius_px, 1),
            pupil_ratio=round(q.pupil_ratio, 3),
            usable=round(q.usable, 3),
            focus=round(q.focus, 3),
            centre_offset=round(q.centre_offset, 3),
            pupil_aspect=round(q.pupil_aspect, 3),
        )


class IrisOut(BaseModel):
    pupil: list[float] = Field(description="Centre x, y and radius in the image's pixels")
    iris: list[float] = Field(description="Limbus centre x, y and radius")
    quality: IrisQualityOut

    @classmethod
    def of(cls, e: EncodedIris) -> IrisOut:
        return cls(
            pupil=[round(float(v), 1) for v in e.pupil],
            iris=[round(float(v), 1) for v in e.iris],
            quality=IrisQualityOut.of(e.quality),
        )


class IrisComparison(BaseModel):
    hd: float = Field(description="Normalised Hamming distance (0 = identical, ~0.45 = unrelated)")
    same: bool
    threshold: float
    rotation_deg: float = Field(description="How far image B's eye is turned from image A's")
    bits_compared: int
    irises: list[IrisOut]


class IrisEnrollment(BaseModel):
    person_id: str
    eye: Eye
    source: str
    enrolled_at: datetime
    expires_at: datetime
    iris: IrisOut


class IrisCandidate(BaseModel):
    person_id: str
    eye: Eye
    hd: float


class IrisIdentification(BaseModel):
    threshold: float = Field(description="The identification threshold for this gallery's size")
    gallery_size: int = Field(description="Enrolled eyes searched")
    identified: bool
    person_id: str | None = Field(description="Only when the closest is within the threshold")
    eye: Eye | None
    candidates: list[IrisCandidate] = Field(description="Closest first")
    iris: IrisOut


class IrisForgotten(BaseModel):
    forgotten: bool = Field(description="False when no iris was enrolled")


def usable(encoded: EncodedIris, field: str) -> EncodedIris:
    """The encoded eye, or a 422 on `field` naming the first quality problem."""
    q = encoded.quality
    if not q.ok:
        raise refused_input(field, IrisError(q.reasons[0], quality_detail(q)))
    return encoded


class IrisService:
    def __init__(
        self,
        encoder: IrisEncoding,
        gallery: IrisGalleryClient | None,
        threshold: float,
        fpir: float = TARGET_FPIR,
        dof: int = IMPOSTOR_DOF,
    ) -> None:
        self._encoder = encoder
        self._gallery = gallery
        self.threshold = threshold
        self.fpir = fpir
        self.dof = dof

    def _gallery_client(self) -> IrisGalleryClient:
        if self._gallery is None:
            raise RuntimeError("this IrisService has no gallery")
        return self._gallery

    async def encode(self, photo: Photo, field: str = "image") -> EncodedIris:
        """A usable eye's code; refusals are 422 on `field`, a full pool 503 busy."""
        try:
            encoded = await self._encoder.encode_iris(photo)
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input(field, e) from None
        return usable(encoded, field)

    async def compare(self, a: Photo, b: Photo) -> IrisComparison:
        both = await asyncio.gather(
            self.encode(a, "image_a"), self.encode(b, "image_b"), return_exceptions=True
        )
        for result in both:  # image_a's refusal first, as a reader of the form expects
            if isinstance(result, BaseException):
                raise result
        ea, eb = cast(list[EncodedIris], both)
        hd, shift, bits = distance(ea.code, eb.code)
        return IrisComparison(
            hd=round(hd, 4),
            same=hd <= self.threshold,
            threshold=self.threshold,
            rotation_deg=round(shift * DEGREES_PER_SHIFT, 1),
            bits_compared=bits,
            irises=[IrisOut.of(ea), IrisOut.of(eb)],
        )

    async def enroll(self, person_id: str, eye: Eye, photo: Photo, source: str) -> IrisEnrollment:
        encoded = await self.encode(photo)
        t = await self._gallery_client().enroll(person_id, eye, encoded.code, source)
        return IrisEnrollment(
            person_id=person_id,
            eye=t.eye,
            source=t.source,
            enrolled_at=datetime.fromtimestamp(t.enrolled_at, UTC),
            expires_at=datetime.fromtimestamp(t.expires_at, UTC),
            iris=IrisOut.of(encoded),
        )

    async def identify(self, photo: Photo, k: int) -> IrisIdentification:
        encoded = await self.encode(photo)
        matches, size = await self._gallery_client().search(encoded.code, k)
        threshold = identification_threshold(size, self.threshold, self.fpir, dof=self.dof)
        best = matches[0] if matches and matches[0][2] <= threshold else None
        return IrisIdentification(
            threshold=round(threshold, 4),
            gallery_size=size,
            identified=best is not None,
            person_id=best[0] if best else None,
            eye=Eye(best[1]) if best else None,
            candidates=[
                IrisCandidate(person_id=p, eye=Eye(eye), hd=round(hd, 4)) for p, eye, hd in matches
            ],
            iris=IrisOut.of(encoded),
        )

    async def forget(self, person_id: str) -> IrisForgotten:
        return IrisForgotten(forgotten=await self._gallery_client().forget(person_id))
