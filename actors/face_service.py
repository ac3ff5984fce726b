"""Who is this? Detection, verification, enrolment and 1:N identification on top of
the inference deployments (through an `InferencePool`) and the sealed gallery.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from actors.gallery import Match
from actors.inference_pool import PoolBusy
from domain.errors import DomainError
from domain.templates import Template
from models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    Face,
    FaceDetector,
    FaceEmbedder,
    Quality,
    align,
    quality,
)


class Inference(Protocol):
    async def detect(self, frame: np.ndarray) -> list[Face]: ...
    async def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


class GalleryClient(Protocol):
    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template: ...
    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]: ...
    async def forget(self, person_id: str) -> bool: ...


@dataclass(frozen=True)
class SeenFace:
    face: Face
    quality: Quality
    crop: np.ndarray  # aligned 112×112: what the quality was judged on and what is embedded

    def as_dict(self) -> dict[str, Any]:
        x, y, w, h = self.face.box
        q = self.quality
        return {
            "box": [round(v, 1) for v in (x, y, w, h)],
            "landmarks": np.round(self.face.landmarks, 1).tolist(),
            "score": round(float(self.face.score), 4),
            "quality": {
                "ok": q.ok,
                "reasons": list(q.reasons),
                "eye_distance_px": round(q.eye_distance_px, 1),
                "sharpness": round(q.sharpness, 1),
                "roll_deg": round(q.roll_deg, 1),
                "yaw": round(q.yaw, 3),
            },
        }


def _area(f: Face) -> float:
    return f.box[2] * f.box[3]


def busy() -> DomainError:
    return DomainError.single(
        "request",
        "busy",
        "Hệ thống nhận diện đang quá tải, vui lòng thử lại.",
        "Face recognition is at capacity; retry in a moment.",
        status=503,
    )


def no_face(field: str) -> DomainError:
    return DomainError.single(
        field, "no_face", "Không thấy khuôn mặt nào trong ảnh.", "No face found in the image."
    )


class LocalInference:
    """The models in this process (the CLI, a single machine): no Ray, no batching
    across callers."""

    def __init__(self, threads: int = 1, cache_dir: Path | None = None) -> None:
        self._detector = FaceDetector(DetectorParams(threads=threads, cache_dir=cache_dir))
        self._embedder = FaceEmbedder(EmbedderParams(threads=threads, cache_dir=cache_dir))

    async def detect(self, frame: np.ndarray) -> list[Face]:
        return await asyncio.to_thread(self._detector.run, frame)

    async def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, 128), np.float32)
        return await asyncio.to_thread(self._embedder.run, np.stack(crops))


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

    async def _faces(self, image: np.ndarray) -> list[Face]:
        try:
            return await self._inference.detect(image)
        except PoolBusy:
            raise busy() from None

    async def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        try:
            return await self._inference.embed(crops)
        except PoolBusy:
            raise busy() from None

    async def detect(self, image: np.ndarray) -> list[SeenFace]:
        faces = await self._faces(image)
        seen = []
        for f in sorted(faces, key=_area, reverse=True):
            crop = align(image, f)
            seen.append(SeenFace(f, quality(image, f, crop=crop), crop))
        return seen

    async def _largest(self, image: np.ndarray, field: str) -> tuple[SeenFace, np.ndarray]:
        seen = await self.detect(image)
        if not seen:
            raise no_face(field)
        main = seen[0]
        return main, (await self._embed([main.crop]))[0]

    async def verify(self, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        both = await asyncio.gather(
            self._largest(a, "image_a"), self._largest(b, "image_b"), return_exceptions=True
        )
        for result in both:  # image_a's refusal first, as a reader of the form expects
            if isinstance(result, BaseException):
                raise result
        (fa, ea), (fb, eb) = cast(list[tuple[SeenFace, np.ndarray]], both)
        score = float(np.dot(ea, eb))
        return {
            "same": score >= self.threshold,
            "score": round(score, 4),
            "threshold": self.threshold,
            "faces": [fa.as_dict(), fb.as_dict()],
        }

    async def enroll(self, person_id: str, image: np.ndarray, source: str) -> dict[str, Any]:
        seen, embedding = await self._largest(image, "image")
        if not seen.quality.ok:
            raise DomainError.single(
                "image",
                "poor_quality",
                "Ảnh khuôn mặt chưa đạt (quá nhỏ, mờ hoặc nghiêng): "
                + ", ".join(seen.quality.reasons),
                "The face is not good enough to enrol: " + ", ".join(seen.quality.reasons),
            )
        t = await self._gallery_client().enroll(person_id, embedding, source)
        return {
            "person_id": person_id,
            "source": t.source,
            "enrolled_at": t.enrolled_at,
            "expires_at": t.expires_at,
            "face": seen.as_dict(),
        }

    async def identify(self, image: np.ndarray, k: int) -> list[dict[str, Any]]:
        """Every face in the photo, each with its top-k enrolled candidates."""
        seen = await self.detect(image)
        if not seen:
            return []
        embeddings = await self._embed([s.crop for s in seen])
        results = await self._gallery_client().search(embeddings, k)
        out = []
        for s, matches in zip(seen, results, strict=True):
            best = matches[0] if matches and matches[0][1] >= self.threshold else None
            out.append(
                {
                    **s.as_dict(),
                    "person_id": best[0] if best else None,
                    "identified": best is not None,
                    "candidates": [{"person_id": p, "score": round(sc, 4)} for p, sc in matches],
                }
            )
        return out

    async def forget(self, person_id: str) -> bool:
        return await self._gallery_client().forget(person_id)
