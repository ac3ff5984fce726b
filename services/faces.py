"""Who is this? Detection, verification, enrolment and 1:N identification on top of the
inference deployments (through an `Inference` client) and the sealed gallery.

Rules, in one place:
- the face used from a photo is the largest detected one (a selfie, a driver at the
  window); a photo without a face is refused, not guessed;
- an enrolment needs a face of usable quality (the 32-px eye distance screening also
  asks, not blurred, not turned away);
- two faces are the same person when their cosine similarity ≥ the threshold
  (`DICHTE_FACE_MATCH_THRESHOLD`, SFace's published 0.363 by default);
- identification answers the top-k enrolled persons with their scores and names the
  best one only when it clears the threshold; otherwise the person is "unknown".
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
from pydantic import BaseModel, Field

from dichte.domain.errors import DomainError, FieldError
from dichte.domain.templates import Template
from dichte.models.errors import InputError
from dichte.models.results import SeenFace, Sight

if TYPE_CHECKING:  # the gallery's search loads ONNX Runtime: API replicas never need it
    from dichte.services.gallery import Match

Photo = bytes | np.ndarray  # an encoded upload, or a decoded BGR frame (a camera's)


class InferenceBusy(Exception):
    """Back-pressure: the inference client (or the deployment's queue) is full now."""


class Inference(Protocol):
    async def see(self, photo: Photo) -> Sight: ...
    async def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


class GalleryClient(Protocol):
    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template: ...
    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]: ...
    async def forget(self, person_id: str) -> bool: ...
    async def enrolled(self, person_ids: list[str]) -> set[str]: ...


def refused_input(field: str, e: InputError) -> DomainError:
    """A file we cannot read (a photo, a thermal frame): 422 on its field, with why."""
    return DomainError([FieldError(field, e.code, e.message_vi, e.message_en)])


class FaceQuality(BaseModel):
    ok: bool
    reasons: list[str]
    eye_distance_px: float
    sharpness: float
    roll_deg: float
    yaw: float


class FaceOut(BaseModel):
    box: list[float] = Field(description="x, y, width, height in the photo's pixels")
    landmarks: list[list[float]] = Field(
        description="right eye, left eye, nose tip, right and left mouth corners"
    )
    score: float
    quality: FaceQuality

    @classmethod
    def of(cls, seen: SeenFace) -> FaceOut:
        q = seen.quality
        return cls(
            box=[round(float(v), 1) for v in seen.face.box],
            landmarks=np.round(seen.face.landmarks, 1).tolist(),
            score=round(float(seen.face.score), 4),
            quality=FaceQuality(
                ok=q.ok,
                reasons=list(q.reasons),
                eye_distance_px=round(q.eye_distance_px, 1),
                sharpness=round(q.sharpness, 1),
                roll_deg=round(q.roll_deg, 1),
                yaw=round(q.yaw, 3),
            ),
        )


class FacesDetected(BaseModel):
    width: int
    height: int
    faces: list[FaceOut] = Field(description="Largest first")


class FaceVerification(BaseModel):
    same: bool
    score: float
    threshold: float
    faces: list[FaceOut]


class Enrollment(BaseModel):
    person_id: str
    source: str
    enrolled_at: datetime
    expires_at: datetime
    face: FaceOut


class Candidate(BaseModel):
    person_id: str
    score: float


class IdentifiedFace(FaceOut):
    identified: bool
    person_id: str | None = Field(description="Only when the best score clears the threshold")
    candidates: list[Candidate]


class Identification(BaseModel):
    threshold: float
    faces: list[IdentifiedFace]


class Forgotten(BaseModel):
    forgotten: bool = Field(description="False when no template was enrolled")


class FaceService:
    def __init__(
        self, inference: Inference, gallery: GalleryClient | None, threshold: float
    ) -> None:
        self._inference = inference
        self._gallery = gallery
        self.threshold = threshold

    def _gallery_client(self) -> GalleryClient:
        if self._gallery is None:
            raise RuntimeError("this FaceService has no gallery")
        return self._gallery

    async def _see(self, photo: Photo, field: str) -> Sight:
        try:
            return await self._inference.see(photo)
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None
        except InputError as e:
            raise refused_input(field, e) from None

    async def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        try:
            return await self._inference.embed(crops)
        except InferenceBusy:
            raise DomainError.of("request", "busy") from None

    async def detect(self, photo: Photo, field: str = "image") -> FacesDetected:
        sight = await self._see(photo, field)
        return FacesDetected(
            width=sight.width, height=sight.height, faces=[FaceOut.of(s) for s in sight.faces]
        )

    async def _largest(self, photo: Photo, field: str) -> tuple[SeenFace, np.ndarray]:
        sight = await self._see(photo, field)
        if not sight.faces:
            raise DomainError.of(field, "no_face")
        main = sight.faces[0]
        return main, (await self._embed([main.crop]))[0]

    async def verify(self, a: Photo, b: Photo) -> FaceVerification:
        both = await asyncio.gather(
            self._largest(a, "image_a"), self._largest(b, "image_b"), return_exceptions=True
        )
        for result in both:  # image_a's refusal first, as a reader of the form expects
            if isinstance(result, BaseException):
                raise result
        (fa, ea), (fb, eb) = cast(list[tuple[SeenFace, np.ndarray]], both)
        score = float(np.dot(ea, eb))
        return FaceVerification(
            same=score >= self.threshold,
            score=round(score, 4),
            threshold=self.threshold,
            faces=[FaceOut.of(fa), FaceOut.of(fb)],
        )

    async def enroll(self, person_id: str, photo: Photo, source: str) -> Enrollment:
        seen, embedding = await self._largest(photo, "image")
        if not seen.quality.ok:
            raise DomainError.of("image", "poor_quality", reasons=", ".join(seen.quality.reasons))
        t = await self._gallery_client().enroll(person_id, embedding, source)
        return Enrollment(
            person_id=person_id,
            source=t.source,
            enrolled_at=datetime.fromtimestamp(t.enrolled_at, UTC),
            expires_at=datetime.fromtimestamp(t.expires_at, UTC),
            face=FaceOut.of(seen),
        )

    async def identify(self, photo: Photo, k: int) -> Identification:
        """Every face in the photo, each with its top-k enrolled candidates."""
        sight = await self._see(photo, "image")
        if not sight.faces:
            return Identification(threshold=self.threshold, faces=[])
        embeddings = await self._embed([s.crop for s in sight.faces])
        results = await self._gallery_client().search(embeddings, k)
        out = []
        for s, matches in zip(sight.faces, results, strict=True):
            best = matches[0] if matches and matches[0][1] >= self.threshold else None
            out.append(
                IdentifiedFace(
                    **FaceOut.of(s).model_dump(),
                    identified=best is not None,
                    person_id=best[0] if best else None,
                    candidates=[Candidate(person_id=p, score=round(sc, 4)) for p, sc in matches],
                )
            )
        return Identification(threshold=self.threshold, faces=out)

    async def forget(self, person_id: str) -> Forgotten:
        return Forgotten(forgotten=await self._gallery_client().forget(person_id))
