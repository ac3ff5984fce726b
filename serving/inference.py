"""Inference as Ray Serve deployments, each batching or serving concurrent callers:

- `FaceDetector` (YuNet): a photo (encoded upload or decoded frame) → its faces,
  aligned and judged (`Sight`);
- `FaceEmbedder` (SFace): aligned crops → embeddings;
- `ThermalMeter`: a radiometric file → temperatures and, given the eyes, the decision;
- `QrReader`: a photo → the QR codes in it;
- `IrisEncoder`: a near-infrared eye image → its iris segmented, judged and encoded
  (the Gabor bank batched across callers).

Callers send frames and uploads as ObjectRefs (`ray.put` once; the replica reads them
from the object store) and crops as arrays; never JSON. Uploads are decoded here, with
bounded memory, so no API replica spends its CPU on pixels. Batch size and wait come
from the Serve config (`user_config`), CPUs/GPUs per replica from `ray_actor_options`;
ONNX Runtime gets as many threads as the replica has CPUs and the CUDA provider when
the node has a GPU.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.util import metrics

from dichte.domain.settings import Settings
from dichte.models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    Face,
    FaceDetector,
    FaceEmbedder,
    Sight,
    look,
)
from dichte.models.images import decode_image, stored_photo
from dichte.models.iris.encoder import GaborParams
from dichte.models.iris.pipeline import IrisParams, IrisPipeline, PreparedIris
from dichte.models.qr import QrCode, decode_qr
from dichte.models.results import EncodedIris
from dichte.models.thermal.blackbody import BlackbodyConfig, BlackbodyReference
from dichte.models.thermal.canthus import Point, to_thermal
from dichte.models.thermal.formats import read_thermal
from dichte.models.thermal.measure import measure
from dichte.models.thermal.screening import Screening, screen_face
from dichte.services.vision import ThermalRequest, screening_policy

BATCH_BOUNDARIES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def _threads() -> int:
    """ONNX Runtime threads = the CPUs Ray gave this replica (at least one)."""
    assigned = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, math.floor(assigned))


async def _resolved(value: Any) -> Any:
    # A top-level ObjectRef arrives resolved; one inside a container is fetched here.
    return await value if isinstance(value, ray.ObjectRef) else value


class _Batched:
    """What the batching deployments share: batch settings from the config, and the
    batch sizes they actually formed (a metric, and a counter tests and operators read)."""

    batched: Any  # the @serve.batch method of the subclass

    def __init__(self, name: str) -> None:
        self._sizes: Counter[int] = Counter()
        self._histogram = metrics.Histogram(
            "dichte_inference_batch_size",
            description="Requests per inference call",
            boundaries=BATCH_BOUNDARIES,
            tag_keys=("deployment",),
        )
        self._histogram.set_default_tags({"deployment": name})

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.batched.set_max_batch_size(int(config.get("max_batch_size", 8)))
        self.batched.set_batch_wait_timeout_s(float(config.get("batch_wait_timeout_s", 0.005)))

    def _seen(self, n: int) -> None:
        self._sizes[n] += 1
        self._histogram.observe(n)

    def batch_sizes(self) -> dict[int, int]:
        return dict(self._sizes)


@serve.deployment(name="FaceDetector")
class FaceDetectorDeployment(_Batched):
    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__("FaceDetector")
        self._settings = Settings(**settings)
        self._model = FaceDetector(
            DetectorParams(threads=_threads(), cache_dir=self._settings.data_dir / "models")
        )

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def batched(self, frames: list[np.ndarray]) -> list[list[Face]]:
        self._seen(len(frames))
        return self._model.run_batch(frames)

    async def detect(self, frame: np.ndarray | ray.ObjectRef) -> list[Face]:
        """Faces in a decoded BGR frame (a camera's)."""
        result: list[Face] = await self.batched(await _resolved(frame))
        return result

    async def see(self, photo: bytes | np.ndarray | ray.ObjectRef) -> Sight:
        """A photo (encoded bytes are decoded here, refused with an ImageError when
        unreadable) → every face, aligned and judged, largest first."""
        value = await _resolved(photo)
        image = (
            decode_image(value, max_pixels=self._settings.max_image_pixels)
            if isinstance(value, bytes)
            else value
        )
        return look(image, await self.batched(image))


@serve.deployment(name="FaceEmbedder")
class FaceEmbedderDeployment(_Batched):
    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__("FaceEmbedder")
        s = Settings(**settings)
        self._model = FaceEmbedder(
            EmbedderParams(threads=_threads(), cache_dir=s.data_dir / "models")
        )

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def batched(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        self._seen(len(crops))
        vectors = self._model.run(np.stack(crops))
        return list(vectors)

    async def embed(self, crop: np.ndarray) -> np.ndarray:
        """One aligned 112×112 BGR crop → its L2-normalised 128-d embedding."""
        result: np.ndarray = await self.batched(crop)
        return result


@serve.deployment(name="ThermalMeter")
class ThermalMeterDeployment:
    """Radiometric decoding and canthus screening (numpy; one frame a call). The fever
    threshold and margin come from the settings, as everywhere."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._policy = screening_policy(Settings(**settings))

    async def read_passage(
        self,
        frames: list[tuple[str, bytes]],
        homography: list[list[float]],
        faces: list[tuple[Point, Point, Point] | None],
        blackbody: tuple[tuple[int, int, int, int], float] | None,
        ats: list[float],
    ) -> list[Screening | None]:
        """One passage's radiometric frames (a device's push), in time order: for each,
        the reading at the canthus of the face given (eyes and nose in visible pixels,
        mapped by the checkpoint's homography), corrected by the blackbody."""
        reference = (
            BlackbodyReference(BlackbodyConfig(roi=blackbody[0], set_point_c=blackbody[1]))
            if blackbody
            else None
        )
        readings: list[Screening | None] = []
        for (name, data), face, at in zip(frames, faces, ats, strict=True):
            celsius = read_thermal(data, name=name).celsius
            correction = reference.update(celsius, at) if reference else None
            if face is None:
                readings.append(None)
                continue
            eye_a, eye_b, nose = to_thermal(np.asarray(homography), list(face))
            readings.append(
                screen_face(
                    celsius,
                    eye_a,
                    eye_b,
                    nose=nose,
                    ambient_c=float(np.median(celsius)),
                    reference=correction,
                    policy=self._policy,
                )
            )
        return readings

    async def measure(self, data: bytes | ray.ObjectRef, request: ThermalRequest) -> dict[str, Any]:
        return measure(
            await _resolved(data),
            name=request.name,
            eyes=request.eyes,
            face_box=request.face_box,
            nose=request.nose,
            ambient_c=request.ambient_c,
            frame=request.frame,
            policy=self._policy,
        )


@serve.deployment(name="QrReader")
class QrReaderDeployment:
    """QR codes in a photo: decoded with bounded memory, then zxing-cpp's cascade."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._max_pixels = Settings(**settings).max_image_pixels

    async def read(self, photo: bytes | np.ndarray | ray.ObjectRef) -> list[QrCode]:
        value = await _resolved(photo)
        image = (
            decode_image(value, max_pixels=self._max_pixels) if isinstance(value, bytes) else value
        )
        return decode_qr(image)

    async def photo(self, photo: bytes | ray.ObjectRef) -> bytes:
        """A photo to keep (an inspection's): bounded decode, scaled, JPEG again."""
        value = await _resolved(photo)
        return stored_photo(value, max_pixels=self._max_pixels)


@serve.deployment(name="IrisEncoder")
class IrisEncoderDeployment(_Batched):
    """Segmentation, quality and normalisation per request (OpenCV); the Gabor filter
    bank (ONNX) over a batch of eyes from every caller."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__("IrisEncoder")
        self._max_pixels = Settings(**settings).max_image_pixels
        self._pipeline = IrisPipeline(IrisParams(gabor=GaborParams(threads=_threads())))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def batched(self, prepared: list[PreparedIris]) -> list[EncodedIris]:
        self._seen(len(prepared))
        codes = self._pipeline.encode(prepared)
        return [
            EncodedIris(p.pupil, p.iris, p.quality, code)
            for p, code in zip(prepared, codes, strict=True)
        ]

    async def encode(self, photo: bytes | np.ndarray | ray.ObjectRef) -> EncodedIris:
        """An eye image (encoded bytes are decoded here, with the upload bounds) → its
        code with the quality judged; IrisError when there is no eye to encode."""
        value = await _resolved(photo)
        image = (
            decode_image(value, max_pixels=self._max_pixels) if isinstance(value, bytes) else value
        )
        result: EncodedIris = await self.batched(self._pipeline.prepare(image))
        return result
