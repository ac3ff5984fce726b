"""The client side of the inference deployments, what a camera stream or an API replica
holds: routes to `FaceDetector` / `FaceEmbedder` / `ThermalMeter` / `QrReader` /
`IrisEncoder` through
DeploymentHandles, bounds the requests it has in flight, and says "busy" at once
instead of queueing without end (a camera drops the frame and takes the next; traffic
must not wait on a backlog of stale frames). A request whose replica died is retried
on another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import ray
from ray import exceptions as ray_errors
from ray.serve.exceptions import BackPressureError

from dichte.models.results import EncodedIris, QrCode, Sight
from dichte.models.thermal.screening import Screening
from dichte.services.faces import InferenceBusy, Photo
from dichte.services.vision import Point, ThermalRequest

T = TypeVar("T")

# A replica that died or could not be reached: the request may go to another one.
RETRYABLE: tuple[type[BaseException], ...] = (
    ray_errors.RayActorError,
    ray_errors.ActorUnavailableError,
)


@dataclass
class PoolStats:
    in_flight: int = 0
    completed: int = 0
    busy: int = 0
    retried: int = 0


def by_reference(handle: Any) -> Any:
    # Frames and uploads go through the object store by reference: with Serve's
    # throughput mode handle calls otherwise travel by value over gRPC, capped at 4 MiB.
    return handle.options(_by_reference=True)


class BoundedClient:
    """At most `max_in_flight` requests at once; beyond that, InferenceBusy at once."""

    def __init__(self, max_in_flight: int = 32, retries: int = 3) -> None:
        self._max = max_in_flight
        self._retries = retries
        self.stats = PoolStats()

    @contextlib.asynccontextmanager
    async def _slot(self, n: int = 1) -> AsyncIterator[None]:
        if self.stats.in_flight + n > self._max:
            self.stats.busy += 1
            raise InferenceBusy(f"{self.stats.in_flight} requests in flight (limit {self._max})")
        self.stats.in_flight += n
        try:
            yield
        finally:
            self.stats.in_flight -= n
            self.stats.completed += n

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self._retries + 1):
            try:
                return await send()
            except BackPressureError as e:
                self.stats.busy += 1
                raise InferenceBusy(str(e)) from None
            except RETRYABLE:
                if attempt == self._retries:
                    raise
                self.stats.retried += 1
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")


def _ref(value: Any) -> Any:
    return value if isinstance(value, ray.ObjectRef) else ray.put(value)


class InferencePool(BoundedClient):
    """Faces: `see` a photo (detect, align, judge), `embed` aligned crops."""

    def __init__(
        self, detector: Any, embedder: Any, max_in_flight: int = 32, retries: int = 3
    ) -> None:
        super().__init__(max_in_flight, retries)
        self._detector = by_reference(detector)
        self._embedder = embedder

    async def see(self, photo: Photo | ray.ObjectRef) -> Sight:
        ref = _ref(photo)
        async with self._slot():
            sight: Sight = await self._call(lambda: self._detector.see.remote(ref))
            return sight

    async def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Aligned crops → (N, 128) embeddings; each crop is its own request, so the
        deployment can batch them with other cameras' crops."""
        if not crops:
            return np.zeros((0, 128), np.float32)
        async with self._slot(len(crops)):
            vectors = await asyncio.gather(*(self._embed_one(c) for c in crops))
            return np.stack(vectors).astype(np.float32)

    async def _embed_one(self, crop: np.ndarray) -> np.ndarray:
        vector: np.ndarray = await self._call(lambda: self._embedder.embed.remote(crop))
        return vector


class IrisPool(BoundedClient):
    """Irises: `encode_iris` an eye image."""

    def __init__(self, encoder: Any, max_in_flight: int = 32, retries: int = 3) -> None:
        super().__init__(max_in_flight, retries)
        self._encoder = by_reference(encoder)

    async def encode_iris(self, photo: Photo | ray.ObjectRef) -> EncodedIris:
        ref = _ref(photo)
        async with self._slot():
            encoded: EncodedIris = await self._call(lambda: self._encoder.encode.remote(ref))
            return encoded


class VisionPool(BoundedClient):
    """Thermal measurement and QR reading."""

    def __init__(self, thermal: Any, qr: Any, max_in_flight: int = 32, retries: int = 3) -> None:
        super().__init__(max_in_flight, retries)
        self._thermal = by_reference(thermal)
        self._qr = by_reference(qr)

    async def measure(self, data: bytes, request: ThermalRequest) -> dict[str, Any]:
        ref = _ref(data)
        async with self._slot():
            result: dict[str, Any] = await self._call(
                lambda: self._thermal.measure.remote(ref, request)
            )
            return result

    async def read_qr(self, photo: Photo | ray.ObjectRef) -> list[QrCode]:
        ref = _ref(photo)
        async with self._slot():
            codes: list[QrCode] = await self._call(lambda: self._qr.read.remote(ref))
            return codes

    async def stored_photo(self, photo: bytes) -> bytes:
        ref = _ref(photo)
        async with self._slot():
            kept: bytes = await self._call(lambda: self._qr.photo.remote(ref))
            return kept

    async def read_passage(
        self,
        frames: list[tuple[str, bytes]],
        homography: list[list[float]],
        faces: list[tuple[Point, Point, Point] | None],
        blackbody: tuple[tuple[int, int, int, int], float] | None,
        ats: list[float],
    ) -> list[Screening | None]:
        ref = ray.put(frames)
        async with self._slot():
            readings: list[Screening | None] = await self._call(
                lambda: self._thermal.read_passage.remote(ref, homography, faces, blackbody, ats)
            )
            return readings
