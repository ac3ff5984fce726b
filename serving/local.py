"""The models and the face gallery in this process (and iris encoding), without Ray
and without batching across callers: what the inference deployments and the gallery
shards run, for one machine's command line and for the benchmark's peer (the same
checkpoint pipeline as one plain process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dichte.models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    FaceDetector,
    FaceEmbedder,
    look,
)
from dichte.models.images import decode_image
from dichte.models.iris.pipeline import IrisPipeline
from dichte.models.qr import decode_qr
from dichte.models.results import EncodedIris, QrCode, Sight

if TYPE_CHECKING:
    from dichte.domain.settings import Settings
    from dichte.services.gallery import Gallery


class LocalInference:
    """Faces and QR codes in this process (`see`, `embed`, `read_qr`)."""

    def __init__(self, cache_dir: Path, max_pixels: int, threads: int = 1) -> None:
        self._detector = FaceDetector(DetectorParams(threads=threads, cache_dir=cache_dir))
        self._embedder = FaceEmbedder(EmbedderParams(threads=threads, cache_dir=cache_dir))
        self._max_pixels = max_pixels

    def _image(self, photo: bytes | np.ndarray) -> np.ndarray:
        if isinstance(photo, bytes):
            return decode_image(photo, max_pixels=self._max_pixels)
        return photo

    async def see(self, photo: Any) -> Sight:
        image = self._image(photo)
        return look(image, await asyncio.to_thread(self._detector.run, image))

    async def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, 128), np.float32)
        return await asyncio.to_thread(self._embedder.run, np.stack(crops))

    async def read_qr(self, photo: Any) -> list[QrCode]:
        return await asyncio.to_thread(decode_qr, self._image(photo))


class LocalIris:
    """Iris encoding in this process (`encode_iris`), what the IrisEncoder runs."""

    def __init__(self, max_pixels: int) -> None:
        self._pipeline = IrisPipeline()
        self._max_pixels = max_pixels

    async def encode_iris(self, photo: bytes | np.ndarray) -> EncodedIris:
        image = (
            decode_image(photo, max_pixels=self._max_pixels) if isinstance(photo, bytes) else photo
        )
        return await asyncio.to_thread(self._pipeline.run, image, strict=False)


class LocalGallery:
    """Every enrolled face in this process, answering as the gallery's shard actors do
    (`enroll`, `search`, `forget`, `enrolled`)."""

    def __init__(self, gallery: Gallery) -> None:
        self._gallery = gallery

    @classmethod
    async def of(cls, settings: Settings) -> LocalGallery:
        """The gallery of the configured Redis, its sealed templates read in."""
        from dichte.domain.keys import load_template_keys
        from dichte.services.gallery import Gallery
        from dichte.store.gallery import TemplateStore

        key, *previous = load_template_keys(settings)
        templates = TemplateStore(
            settings.redis_url or "", settings.redis_key_prefix, key, previous
        )
        gallery = Gallery(templates, settings.biometric_retention_days * 86_400)
        await gallery.load()
        return cls(gallery)

    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Any:
        return await self._gallery.enroll(person_id, embedding, source)

    async def search(self, queries: np.ndarray, k: int) -> Any:
        return await self._gallery.search(queries, k)

    async def forget(self, person_id: str) -> bool:
        return await self._gallery.forget(person_id)

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        return self._gallery.enrolled(person_ids)
