"""One camera pair's frames → screening events.

`CameraPipeline`: faces and QR codes from the inference deployments, the canthus
reading in the paired thermal frame (through the checkpoint's homography, corrected by
the blackbody), the iris camera's eye encoded for the person at the window (the largest
face), faces followed across frames, and each track that ends screened as one passage.

`CameraRunner`: the stream around it: reads frames (a recording or the simulator at its
own clock, a live stream as it comes), keeps at most a few waiting for inference
(dropping the oldest, counted, when inference falls behind: memory stays flat and what
is processed is fresh), ends tracks on time when nobody is in view, and reopens a
dropped stream with back-off. Plain asyncio: the `CameraStream` actor runs one; the
benchmark's peer runs several in one process without Ray."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dichte.domain.checkpoints import CameraConfig, CheckpointConfig
from dichte.domain.screening import ScreeningEvent
from dichte.models.errors import InputError, SourceError
from dichte.models.results import EncodedIris, Frame, QrCode, SeenFace, Sight
from dichte.models.thermal.blackbody import BlackbodyConfig, BlackbodyReference, Correction
from dichte.models.thermal.canthus import to_thermal
from dichte.models.thermal.screening import Screening, ScreeningPolicy, screen_face
from dichte.models.tracking import Track, Tracker, TrackerParams
from dichte.services.faces import InferenceBusy
from dichte.services.screening import Observation, Passage, ScreeningService

log = logging.getLogger(__name__)
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
TICK_S = 0.2  # with no frame coming, tracks are still ended on time


class FrameInference(Protocol):
    """What the camera asks of the inference deployments, for a frame it put once in the
    object store (or a plain array without Ray)."""

    async def see(self, photo: Any) -> Sight: ...
    async def read_qr(self, photo: Any) -> list[QrCode]: ...
    async def encode_iris(self, photo: Any) -> EncodedIris: ...


@dataclass
class CameraCounters:
    frames_read: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0  # inference behind or busy: the oldest frame goes
    frames_corrupt: int = 0  # did not decode: skipped
    frames_failed: int = 0  # inference or storage failed on it (logged)
    tracks: int = 0
    events: int = 0
    reconnects: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    slowest_frame_s: float = 0.0  # longest from a frame read to its faces tracked


def _qr_centre(code: QrCode) -> tuple[float, float]:
    xs, ys = zip(*code.points, strict=True)
    return sum(xs) / len(xs), sum(ys) / len(ys)


def _nearest_face(faces: list[SeenFace], point: tuple[float, float]) -> int:
    def distance(f: SeenFace) -> float:
        x, y, w, h = f.face.box
        return math.dist((x + w / 2, y + h / 2), point)

    return min(range(len(faces)), key=lambda i: distance(faces[i]))


class CameraPipeline:
    def __init__(
        self,
        checkpoint: CheckpointConfig,
        visible: CameraConfig,
        thermal: CameraConfig | None,
        *,
        inference: FrameInference,
        screening: ScreeningService,
        policy: ScreeningPolicy,
        put: Callable[[np.ndarray], Any] = lambda frame: frame,
        tracker: TrackerParams | None = None,
    ) -> None:
        self.checkpoint, self.visible, self.thermal = checkpoint, visible, thermal
        self._inference = inference
        self._screening = screening
        self._policy = policy
        self._put = put  # ray.put in the actor: one copy of the frame for every model
        self._on_event: Callable[[ScreeningEvent, bool], Awaitable[None]] | None = None
        self._tracker: Tracker[Observation] = Tracker(tracker or TrackerParams())
        self._homography = (
            np.asarray(thermal.homography, dtype=np.float64)
            if thermal is not None and thermal.homography is not None
            else None
        )
        self._blackbody = (
            BlackbodyReference(
                BlackbodyConfig(
                    roi=thermal.blackbody.roi, set_point_c=thermal.blackbody.set_point_c
                )
            )
            if thermal is not None and thermal.blackbody is not None
            else None
        )
        self.counters = CameraCounters()
        self.blackbody: Correction | None = None  # the last frame's, for operators
        self.screening_s: deque[float] = deque(maxlen=2000)  # track closed → event stored

    def on_event(self, callback: Callable[[ScreeningEvent, bool], Awaitable[None]]) -> None:
        """Told of each event stored (created) or found again (a replayed passage)."""
        self._on_event = callback

    def _thermal_reading(
        self, face: SeenFace, frame_c: np.ndarray, correction: Correction | None
    ) -> Screening:
        assert self._homography is not None
        lm = face.face.landmarks
        eye_a, eye_b, nose = to_thermal(
            self._homography,
            [tuple(map(float, lm[i])) for i in (0, 1, 2)],  # type: ignore[misc]
        )
        # The scene is mostly road and sky at the air's temperature.
        ambient = float(np.median(frame_c))
        return screen_face(
            frame_c,
            eye_a,
            eye_b,
            nose=nose,
            ambient_c=ambient,
            reference=correction,
            policy=self._policy,
        )

    async def process(self, frame: Frame) -> list[ScreeningEvent]:
        """One frame: its faces join their tracks; tracks that ended are screened."""
        ref = self._put(frame.visible)
        sight = await self._inference.see(ref)
        codes = await self._inference.read_qr(ref) if sight.faces else []
        self.counters.frames_processed += 1
        correction = None
        if frame.thermal_c is not None and self._blackbody is not None:
            correction = self.blackbody = self._blackbody.update(frame.thermal_c, frame.at)
        eye = await self._eye(frame) if sight.faces else None
        qr_of: dict[int, list[str]] = {}
        for code in codes:
            qr_of.setdefault(_nearest_face(sight.faces, _qr_centre(code)), []).append(code.text)
        detections = []
        for i, face in enumerate(sight.faces):
            reading = (
                self._thermal_reading(face, frame.thermal_c, correction)
                if frame.thermal_c is not None and self._homography is not None
                else None
            )
            observation = Observation(
                frame.index,
                frame.at,
                face,
                reading,
                tuple(qr_of.get(i, ())),
                eye if i == 0 else None,  # the person at the window: the largest face
            )
            detections.append((face.face.box, observation))
        ended = self._tracker.update(frame.at, detections)
        return await self._screen(_undecided(ended) + self._tracker.due(frame.at))

    async def _eye(self, frame: Frame) -> EncodedIris | None:
        """The iris camera's eye at this moment, encoded (None: no iris camera, or no
        eye it could read: closed, turned away, nobody at the window)."""
        if frame.iris is None:
            return None
        try:
            return await self._inference.encode_iris(self._put(frame.iris))
        except InputError:
            return None

    async def tick(self, at: float) -> list[ScreeningEvent]:
        """No frame for a while (nobody in view): screen the tracks that ended by now."""
        return await self._screen(_undecided(self._tracker.update(at, [])))

    async def flush(self) -> list[ScreeningEvent]:
        """The stream ended or the camera stops: screen every open track."""
        return await self._screen(_undecided(self._tracker.flush()))

    async def _screen(self, tracks: list[Track[Observation]]) -> list[ScreeningEvent]:
        events = []
        for track in tracks:
            self.counters.tracks += 1
            started = time.monotonic()
            event, created = await self._screening.screen(
                Passage(self.checkpoint.id, self.visible.lane, self.visible.id, tuple(track.items))
            )
            if created:
                self.screening_s.append(time.monotonic() - started)
            self.counters.events += created
            key = event.decision.value
            self.counters.decisions[key] = self.counters.decisions.get(key, 0) + 1
            if self._on_event is not None:
                await self._on_event(event, created)
            events.append(event)
        return events


def _undecided(tracks: list[Track[Observation]]) -> list[Track[Observation]]:
    """One event per track: a track decided while still in view (due) adds nothing
    when it ends."""
    return [t for t in tracks if not t.due]


class RunnerHooks:
    """What a runner reports as it goes (the actor turns these into metrics)."""

    def read(self) -> None: ...
    def dropped(self) -> None: ...
    def processed(self) -> None: ...
    def reconnected(self) -> None: ...
    def decided(self, event: ScreeningEvent, created: bool, latency_s: float | None) -> None: ...


_END: Any = object()  # marks the end of a finite source in the queue


def _quantile(values: deque[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


class CameraRunner:
    def __init__(
        self,
        pipeline: CameraPipeline,
        frames: Callable[[], Iterator[Frame]],
        *,
        paced: bool,
        finite: bool,
        queued_limit: int,
        hooks: RunnerHooks | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._frames = frames
        self._paced = paced  # a recording or the simulator: played at its own clock
        self._finite = finite  # a recording ends; a live stream is reopened
        self._limit = queued_limit
        self._hooks = hooks or RunnerHooks()
        self._queue: deque[Frame] = deque()
        self._working = False  # a frame taken from the queue is being processed
        self._ready = asyncio.Event()
        self.state = "starting"
        self._read_at: dict[int, float] = {}  # frame index → when read (monotonic)
        self._frame_latency: deque[float] = deque(maxlen=2000)  # read → tracked, seconds
        self._decision_latency: deque[float] = deque(maxlen=2000)  # last frame → stored
        self._clock: tuple[float, float] | None = None  # (source time, monotonic) at a read
        pipeline.on_event(self._decided)

    def corrupt(self, name: str) -> None:
        """A frame the source could not decode (skipped)."""
        self.pipeline.counters.frames_corrupt += 1

    def stats(self) -> dict[str, Any]:
        return {
            **vars(self.pipeline.counters),
            "state": self.state,
            # waiting for inference, and the one in work
            "queued": sum(frame is not _END for frame in self._queue) + self._working,
            "frame_latency_p50_s": _quantile(self._frame_latency, 0.5),
            "frame_latency_p95_s": _quantile(self._frame_latency, 0.95),
            "decision_latency_p50_s": _quantile(self._decision_latency, 0.5),
            "decision_latency_p95_s": _quantile(self._decision_latency, 0.95),
            "screening_p50_s": _quantile(self.pipeline.screening_s, 0.5),
            "screening_p95_s": _quantile(self.pipeline.screening_s, 0.95),
        }

    # --- reading -----------------------------------------------------------------------
    async def read_forever(self) -> None:
        attempt = 0
        while True:
            try:
                self.state = "connecting"
                frames = await asyncio.to_thread(self._frames)
                self.state = "streaming"
                attempt = 0
                await self._pump(frames)
            except SourceError as e:
                if e.code == "ended" and self._finite:
                    self.state = f"ended ({e.detail})"
                    self._queue.append(_END)  # the worker screens the open tracks
                    self._ready.set()
                    return
                self.state = f"{e.code}: {e.detail}"
            except Exception as e:  # a broken source must not stop the camera
                log.exception("camera source failed")
                self.state = f"error: {type(e).__name__}"
            wait = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            attempt += 1
            self.pipeline.counters.reconnects += 1
            self._hooks.reconnected()
            await asyncio.sleep(wait)

    async def _pump(self, frames: Iterator[Frame]) -> None:
        started, first_at = time.monotonic(), None
        while True:
            try:
                frame = await asyncio.to_thread(next, frames)
            except StopIteration:
                raise SourceError("ended") from None
            if self._paced:
                first_at = frame.at if first_at is None else first_at
                delay = (frame.at - first_at) - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            self.pipeline.counters.frames_read += 1
            self._hooks.read()
            now = time.monotonic()
            self._read_at[frame.index] = now
            if len(self._read_at) > 4096:  # only the recent ones are ever looked up
                for index in list(self._read_at)[:2048]:
                    del self._read_at[index]
            self._clock = (frame.at, now)
            if len(self._queue) >= self._limit:
                self._queue.popleft()  # the oldest waiting frame goes: keep what is fresh
                self._drop()
            self._queue.append(frame)
            self._ready.set()

    def _drop(self) -> None:
        self.pipeline.counters.frames_dropped += 1
        self._hooks.dropped()

    # --- working -----------------------------------------------------------------------
    def _source_now(self) -> float | None:
        """The source's time now, from its last frame (None before any)."""
        if self._clock is None:
            return None
        at, read = self._clock
        return at + (time.monotonic() - read)

    async def work_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=TICK_S)
            except TimeoutError:
                now = self._source_now()
                if now is not None and not self._queue:
                    try:
                        await self.pipeline.tick(now)
                    except Exception:
                        log.exception("ending tracks failed")
                continue
            self._ready.clear()
            while self._queue:
                await self._work_on(self._queue.popleft())

    async def _work_on(self, frame: Frame) -> None:
        self._working = True
        try:
            if frame is _END:
                await self.pipeline.flush()
                return
            await self.pipeline.process(frame)
            self._hooks.processed()
            read = self._read_at.get(frame.index)
            if read is not None:
                latency = time.monotonic() - read
                self._frame_latency.append(latency)
                counters = self.pipeline.counters
                counters.slowest_frame_s = max(counters.slowest_frame_s, latency)
        except InferenceBusy:
            self._drop()
        except Exception:  # one bad frame or a store hiccup: the stream goes on
            self.pipeline.counters.frames_failed += 1
            log.exception("frame %s failed", getattr(frame, "index", "?"))
        finally:
            self._working = False

    async def _decided(self, event: ScreeningEvent, created: bool) -> None:
        read = self._read_at.get(event.frames[1])
        latency = None if read is None else time.monotonic() - read
        if created and latency is not None:
            self._decision_latency.append(latency)
        self._hooks.decided(event, created, latency)
