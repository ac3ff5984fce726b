"""`CameraStream`: one Ray actor per camera pair (a lane's visible camera and its thermal
camera). It reads frames at the configured rate, keeps at most a few waiting for
inference (dropping the oldest and counting it when inference falls behind, so memory
stays flat and what is processed is fresh), runs them through `CameraPipeline`, and
reconnects to a stream that drops, with back-off. Restarted by Ray when it dies; a
passage it had already stored is not stored twice (events are idempotent by passage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import ray
from ray import serve
from ray.util import metrics

from dichte.actors.declaration_store import ActorDeclarationGateway, get_or_create_store_actor
from dichte.actors.gallery import ShardedGallery
from dichte.domain.checkpoints import CheckpointConfig, stream_key
from dichte.domain.keys import load_signing_key
from dichte.domain.screening import ScreeningEvent
from dichte.domain.settings import Settings
from dichte.models.sources import Frame, SourceError, open_frames
from dichte.services.camera import CameraPipeline
from dichte.services.faces import InferenceBusy
from dichte.services.simulation import SimulatedTravellers
from dichte.services.vision import screening_policy
from dichte.services.wiring import declaration_service, screening_service
from dichte.serving.inference_pool import InferencePool, VisionPool

log = logging.getLogger(__name__)
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
TICK_S = 0.2  # with no frame coming, tracks are still ended on time
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
        self.tracks = counter("dichte_camera_tracks", "Passages (tracks) that ended")
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
        self._settings = s
        checkpoint = CheckpointConfig.model_validate_json(checkpoint_json)
        visible = next(c for c in checkpoint.cameras if c.id == visible_id)
        thermal = checkpoint.thermal_of(visible_id)
        handle = lambda name: serve.get_deployment_handle(name, app_name=app_name)  # noqa: E731
        self._inference = InferencePool(
            handle("FaceDetector"), handle("FaceEmbedder"), max_in_flight=s.face_requests_in_flight
        )
        self._vision = VisionPool(
            handle("ThermalMeter"), handle("QrReader"), max_in_flight=s.face_requests_in_flight
        )
        declarations = declaration_service(
            s, ActorDeclarationGateway(get_or_create_store_actor(settings)), load_signing_key(s)
        )
        screening = screening_service(
            s,
            inference=self._inference,
            gallery=ShardedGallery(settings, shards=s.face_gallery_shards),
            declarations=declarations,
        )
        self._metrics = _Metrics(checkpoint.id, visible_id)
        self._pipeline = CameraPipeline(
            checkpoint,
            visible,
            thermal,
            inference=self,
            screening=screening,
            policy=screening_policy(s),
            put=ray.put,
            on_event=self._recorded,
        )
        self._visible, self._thermal = visible, thermal
        self._key = stream_key(checkpoint, visible_id)
        self._travellers = SimulatedTravellers(declarations, f"{checkpoint.id}:{visible_id}")
        self._queue: deque[Frame] = deque()
        self._working = False  # a frame taken from the queue is being processed
        self._ready = asyncio.Event()
        self._state = "starting"
        self._read_at: dict[int, float] = {}  # frame index → when read (monotonic)
        self._frame_latency: deque[float] = deque(maxlen=2000)  # read → tracked, seconds
        self._clock: tuple[float, float] | None = None  # (source time, monotonic) at a read
        self._loop = asyncio.get_event_loop()
        # Started with the actor, so a restarted stream resumes on its own.
        self._reader = self._loop.create_task(self._read_forever())
        self._worker = self._loop.create_task(self._work_forever())

    # --- what the pipeline asks of inference: the actor's pools ----------------------
    async def see(self, photo: Any) -> Any:
        return await self._inference.see(photo)

    async def read_qr(self, photo: Any) -> Any:
        return await self._vision.read_qr(photo)

    # --- reading -------------------------------------------------------------------
    def _qr_text(self, identity: str) -> str | None:
        # Called from the simulator's thread: declare on the actor's loop, wait for it.
        future = asyncio.run_coroutine_threadsafe(self._travellers.token(identity), self._loop)
        return future.result(timeout=60)

    def _frames(self) -> Iterator[Frame]:
        return open_frames(
            self._visible.source,
            self._visible.rate_fps,
            thermal_source=self._thermal.source if self._thermal else None,
            faces_dir=self._settings.sim_faces_dir,
            qr_text=self._qr_text,
            on_corrupt=self._corrupt,
        )

    def _corrupt(self, name: str) -> None:
        self._pipeline.counters.frames_corrupt += 1

    async def _read_forever(self) -> None:
        attempt = 0
        while True:
            try:
                self._state = "connecting"
                frames = await asyncio.to_thread(self._frames)
                self._state = "streaming"
                attempt = 0
                await self._pump(frames)
            except SourceError as e:
                if e.code == "ended" and self._visible.source.startswith(("file:", "sim:")):
                    self._state = f"ended ({e.detail})"
                    self._queue.append(_END)  # the worker screens the open tracks
                    self._ready.set()
                    return
                self._state = f"{e.code}: {e.detail}"
            except Exception as e:  # a broken source must not take the actor down
                log.exception("camera source failed")
                self._state = f"error: {type(e).__name__}"
            wait = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            self._pipeline.counters.reconnects += 1
            self._metrics.reconnects.inc()
            await asyncio.sleep(wait)

    async def _pump(self, frames: Iterator[Frame]) -> None:
        # A live stream comes at its own pace; a recording or the simulator is played at
        # its own clock (the configured rate for a folder of frames).
        paced = self._visible.source.startswith(("sim:", "file:"))
        started, first_at = time.monotonic(), None
        while True:
            try:
                frame = await asyncio.to_thread(next, frames)
            except StopIteration:
                raise SourceError("ended") from None
            if paced:
                first_at = frame.at if first_at is None else first_at
                delay = (frame.at - first_at) - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            self._pipeline.counters.frames_read += 1
            self._metrics.read.inc()
            now = time.monotonic()
            self._read_at[frame.index] = now
            if len(self._read_at) > 4096:  # only the recent ones are ever looked up
                for index in list(self._read_at)[:2048]:
                    del self._read_at[index]
            self._clock = (frame.at, now)
            if len(self._queue) >= self._settings.camera_frames_queued:
                self._queue.popleft()  # the oldest waiting frame goes: keep what is fresh
                self._drop()
            self._queue.append(frame)
            self._ready.set()

    def _drop(self) -> None:
        self._pipeline.counters.frames_dropped += 1
        self._metrics.dropped.inc()

    # --- working -------------------------------------------------------------------
    def _source_now(self) -> float | None:
        """The source's time now, from its last frame (None before any)."""
        if self._clock is None:
            return None
        at, read = self._clock
        return at + (time.monotonic() - read)

    async def _work_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=TICK_S)
            except TimeoutError:
                now = self._source_now()
                if now is not None and not self._queue:
                    try:
                        await self._pipeline.tick(now)
                    except Exception:
                        log.exception("ending tracks failed")
                continue
            self._ready.clear()
            while self._queue:
                frame = self._queue.popleft()
                self._working = True
                if frame is _END:
                    await self._pipeline.flush()
                    self._working = False
                    continue
                try:
                    await self._pipeline.process(frame)
                    self._metrics.processed.inc()
                    read = self._read_at.get(frame.index)
                    if read is not None:
                        latency = time.monotonic() - read
                        self._frame_latency.append(latency)
                        counters = self._pipeline.counters
                        counters.slowest_frame_s = max(counters.slowest_frame_s, latency)
                except InferenceBusy:
                    self._drop()
                except Exception:  # one bad frame or a store hiccup: the stream goes on
                    self._pipeline.counters.frames_failed += 1
                    log.exception("frame %s failed", frame.index)
                finally:
                    self._working = False

    async def _recorded(self, event: ScreeningEvent, created: bool) -> None:
        self._metrics.tracks.inc()
        if created:
            for reason in [r.value for r in event.reasons] or ["none"]:
                self._metrics.decisions.inc(
                    tags={"decision": event.decision.value, "reason": reason}
                )
            read = self._read_at.get(event.frames[1])
            if read is not None:
                self._metrics.latency.observe(time.monotonic() - read)

    async def key(self) -> str:
        return self._key

    async def stats(self) -> dict[str, Any]:
        c = self._pipeline.counters
        latencies = sorted(self._frame_latency)

        def quantile(q: float) -> float | None:
            return (
                latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
            )

        return {
            **vars(c),
            "state": self._state,
            # waiting for inference, and the one in work
            "queued": sum(frame is not _END for frame in self._queue) + self._working,
            "frame_latency_p50_s": quantile(0.5),
            "frame_latency_p95_s": quantile(0.95),
        }

    async def stop(self) -> bool:
        for task in (self._reader, self._worker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return True


_END: Any = object()  # marks the end of a finite source in the queue
