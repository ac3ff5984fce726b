"""Face inference as Ray Serve deployments: `FaceDetector` (YuNet) and `FaceEmbedder`
(SFace), each batching concurrent callers into one ONNX Runtime call.

Callers send frames as ObjectRefs (`ray.put` once; the replica reads it from the
object store without a copy through the caller) and crops as arrays; never JSON.
Batch size and wait come from the Serve config (`user_config`), CPUs/GPUs per replica
from `ray_actor_options`; ONNX Runtime gets as many threads as the replica has CPUs
and the CUDA provider when the node has a GPU.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.util import metrics

from domain.settings import Settings
from models.faces.pipeline import (
    DetectorParams,
    EmbedderParams,
    Face,
    FaceDetector,
    FaceEmbedder,
)

BATCH_BOUNDARIES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]


def _threads() -> int:
    """ONNX Runtime threads = the CPUs Ray gave this replica (at least one)."""
    assigned = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, math.floor(assigned))


class _Batched:
    """What both deployments share: batch settings from the config, and the batch sizes
    they actually formed (a metric, and a counter tests and operators can read)."""

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
        s = Settings(**settings)
        self._model = FaceDetector(
            DetectorParams(threads=_threads(), cache_dir=s.data_dir / "models")
        )

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def batched(self, frames: list[np.ndarray]) -> list[list[Face]]:
        self._seen(len(frames))
        return self._model.run_batch(frames)

    async def detect(self, frame: np.ndarray | ray.ObjectRef) -> list[Face]:
        # A top-level ObjectRef arrives resolved; one inside a container is fetched here.
        pixels: np.ndarray = await frame if isinstance(frame, ray.ObjectRef) else frame
        result: list[Face] = await self.batched(pixels)
        return result


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
