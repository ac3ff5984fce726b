"""The models in this process, without Ray and without batching across callers: what
the inference deployments run, for one machine's command line and for the benchmark's
peer (the same checkpoint pipeline as one plain process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from dichte.models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    FaceDetector,
    FaceEmbedder,
    look,
)
from dichte.models.images import decode_image
from dichte.models.qr import decode_qr
from dichte.models.results import QrCode, Sight


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
