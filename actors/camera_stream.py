"""`CameraStream`: one Ray actor per camera pair (a lane's visible camera and its thermal
camera), a shell around `services.camera.CameraRunner` (reading, bounded queue, drops,
reconnects) and `CameraPipeline` (inference, thermal reading, tracking, screening),
with the inference deployments behind its pools and its counters as Prometheus
metrics. Restarted by Ray when it dies; a passage it had already stored is not stored
twice (events are idempotent by passage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import ray
from ray import serve
from ray.util import metrics

from dichte.actors.declaration_store import ActorDeclarationGateway, get_or_create_store_actor
from dichte.actors.gallery import ShardedGallery, ShardedIrisGallery
from dichte.domain.checkpoints import CheckpointConfig, stream_key
from dichte.domain.keys import load_signing_key
from dichte.domain.screening import ScreeningEvent
from dichte.domain.settings import Settings
from dichte.models.sources import open_frames
from dichte.services.camera import CameraPipeline, CameraRunner, RunnerHooks
from dichte.services.simulation import SimulatedTravellers
from dichte.services.vision import screening_policy
from dichte.services.wiring import declaration_service, screening_service
from dichte.serving.inference_pool import InferencePool, IrisPool, VisionPool

log = logging.getLogger(__name__)
LATENCY_BOUNDARIES_S = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0]


class _Metrics:
    def __init__(self, checkpoint_id: str, camera_id: str) -> None:
        tags = {"checkpoint": checkpoint_id, "camera": camera_id}
        keys = ("checkpoint", "camera")

        def counter(name: str, description: str, extra: tuple[str, ...] = ()) -> Any:
            c = metrics.Counter(name, description=description, tag_keys=keys + extra)
            c.set_default_tags(tags)
            return c

        self.read = counter("dichte_camera_frames_read", "Frames read from the source")
        self.dropped = counter("dichte_camera_frames_dropped", "Frames dropped (inference behind)")
        self.processed = counter("dichte_camera_frames_processed", "Frames through inference")
        self.reconnects = counter("dichte_camera_reconnects", "Times the source was reopened")
        self.tracks = counter("dichte_camera_tracks", "Passages (tracks) screened")
        self.decisions = counter(
            "dichte_screening_decisions", "Screening decisions", ("decision", "reason")
        )
        self.latency = metrics.Histogram(
            "dichte_frame_to_decision_seconds",
            description="From a passage's last frame read to its decision stored",
            boundaries=LATENCY_BOUNDARIES_S,
            tag_keys=keys,
        )
        self.latency.set_default_tags(tags)
        # The thermal camera's blackbody reference (models/thermal/blackbody.py): the
        # correction it applies, and whether readings are refused for want of it.
        self.blackbody_offset = metrics.Gauge(
            "dichte_blackbody_offset_celsius",
            description="Correction added to the thermal frame from the blackbody patch",
            tag_keys=keys,
        )
        self.blackbody_offset.set_default_tags(tags)
        self.blackbody_lost = metrics.Gauge(
            "dichte_blackbody_lost",
            description="1 while the blackbody is not seen and readings are refused",
            tag_keys=keys,
        )
        self.blackbody_lost.set_default_tags(tags)


class _MetricHooks(RunnerHooks):
    def __init__(self, m: _Metrics, pipeline: CameraPipeline) -> None:
        self._m = m
        self._pipeline = pipeline

    def read(self) -> None:
        self._m.read.inc()

    def dropped(self) -> None:
        self._m.dropped.inc()

    def processed(self) -> None:
        self._m.processed.inc()
        reference = self._pipeline.blackbody
        if reference is not None:
            self._m.blackbody_offset.set(reference.offset_c)
            self._m.blackbody_lost.set(0.0 if reference.usable else 1.0)

    def reconnected(self) -> None:
        self._m.reconnects.inc()

    def decided(self, event: ScreeningEvent, created: bool, latency_s: float | None) -> None:
        self._m.tracks.inc()
        if not created:
            return
        for reason in [r.value for r in event.reasons] or ["none"]:
            self._m.decisions.inc(tags={"decision": event.decision.value, "reason": reason})
        if latency_s is not None:
            self._m.latency.observe(latency_s)


# No CPU reserved: a stream mostly waits on the inference deployments, and a node's
# share of cameras is decided by how many streams are configured, not by Ray's count
# (on a 2-core node the deployments hold every logical CPU already).
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class CameraStream:
    def __init__(
        self,
        settings: dict[str, Any],
        checkpoint_json: str,
        visible_id: str,
        app_name: str = "dichte",
    ) -> None:
        s = Settings(**settings)
        checkpoint = CheckpointConfig.model_validate_json(checkpoint_json)
        visible = next(c for c in checkpoint.cameras if c.id == visible_id)
        thermal = checkpoint.thermal_of(visible_id)
        iris_camera = checkpoint.iris_of(visible.lane)
        handle = lambda name: serve.get_deployment_handle(name, app_name=app_name)  # noqa: E731
        self._inference = InferencePool(
            handle("FaceDetector"), handle("FaceEmbedder"), max_in_flight=s.face_requests_in_flight
        )
        self._vision = VisionPool(
            handle("ThermalMeter"), handle("QrReader"), max_in_flight=s.face_requests_in_flight
        )
        self._iris = IrisPool(handle("IrisEncoder"), max_in_flight=s.face_requests_in_flight)
        declarations = declaration_service(
            s, ActorDeclarationGateway(get_or_create_store_actor(settings)), load_signing_key(s)
        )
        screening = screening_service(
            s,
            inference=self._inference,
            gallery=ShardedGallery(settings, shards=s.face_gallery_shards),
            declarations=declarations,
            iris=self._iris,
            iris_gallery=ShardedIrisGallery(settings, shards=s.face_gallery_shards),
        )
        pipeline = CameraPipeline(
            checkpoint,
            visible,
            thermal,
            inference=self,
            screening=screening,
            policy=screening_policy(s),
            put=ray.put,  # a frame goes into the object store once, for every model
        )
        self._key = stream_key(checkpoint, visible_id)
        self._travellers = SimulatedTravellers(declarations, f"{checkpoint.id}:{visible_id}")
        self._loop = asyncio.get_event_loop()
        self._runner = CameraRunner(
            pipeline,
            lambda: open_frames(
                visible.source,
                visible.rate_fps,
                thermal_source=thermal.source if thermal else None,
                iris_source=iris_camera.source if iris_camera else None,
                faces_dir=s.sim_faces_dir,
                qr_text=self._qr_text,
                on_corrupt=self._runner.corrupt,
            ),
            paced=visible.source.startswith(("sim:", "file:")),
            finite=visible.source.startswith(("sim:", "file:")),
            queued_limit=s.camera_frames_queued,
            hooks=_MetricHooks(_Metrics(checkpoint.id, visible_id), pipeline),
        )
        # Started with the actor, so a restarted stream resumes on its own.
        self._tasks = [
            self._loop.create_task(self._runner.read_forever()),
            self._loop.create_task(self._runner.work_forever()),
        ]

    # What the pipeline asks of inference: the actor's pools to the deployments.
    async def see(self, photo: Any) -> Any:
        return await self._inference.see(photo)

    async def read_qr(self, photo: Any) -> Any:
        return await self._vision.read_qr(photo)

    async def encode_iris(self, photo: Any) -> Any:
        return await self._iris.encode_iris(photo)

    def _qr_text(self, identity: str) -> str | None:
        # Called from the simulator's thread: declare on the actor's loop, wait for it.
        future = asyncio.run_coroutine_threadsafe(self._travellers.token(identity), self._loop)
        return future.result(timeout=60)

    async def key(self) -> str:
        return self._key

    async def stats(self) -> dict[str, Any]:
        return self._runner.stats()

    async def stop(self) -> bool:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return True
