"""One camera pair's frames → screening events: faces and QR codes from the inference
deployments, the canthus reading in the paired thermal frame (through the checkpoint's
homography, corrected by the blackbody), faces followed across frames, and each track
that ends screened as one passage. Plain asyncio: the `CameraStream` actor runs it,
tests and the benchmark's peer run it without Ray."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dichte.domain.checkpoints import CameraConfig, CheckpointConfig
from dichte.domain.screening import ScreeningEvent
from dichte.models.results import Frame, QrCode, SeenFace, Sight
from dichte.models.thermal.blackbody import BlackbodyConfig, BlackbodyReference, Correction
from dichte.models.thermal.canthus import to_thermal
from dichte.models.thermal.screening import Screening, ScreeningPolicy, screen_face
from dichte.models.tracking import Track, Tracker, TrackerParams
from dichte.services.screening import Observation, Passage, ScreeningService


class FrameInference(Protocol):
    """What the camera asks of the inference deployments, for a frame it put once in the
    object store (or a plain array without Ray)."""

    async def see(self, photo: Any) -> Sight: ...
    async def read_qr(self, photo: Any) -> list[QrCode]: ...


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
        on_event: Callable[[ScreeningEvent, bool], Awaitable[None]] | None = None,
        tracker: TrackerParams | None = None,
    ) -> None:
        self.checkpoint, self.visible, self.thermal = checkpoint, visible, thermal
        self._inference = inference
        self._screening = screening
        self._policy = policy
        self._put = put  # ray.put in the actor: one copy of the frame for every model
        self._on_event = on_event
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
            correction = self._blackbody.update(frame.thermal_c, frame.at)
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
            observation = Observation(frame.index, frame.at, face, reading, tuple(qr_of.get(i, ())))
            detections.append((face.face.box, observation))
        return await self._screen(self._tracker.update(frame.at, detections))

    async def tick(self, at: float) -> list[ScreeningEvent]:
        """No frame for a while (nobody in view): screen the tracks that ended by now."""
        return await self._screen(self._tracker.update(at, []))

    async def flush(self) -> list[ScreeningEvent]:
        """The stream ended or the camera stops: screen every open track."""
        return await self._screen(self._tracker.flush())

    async def _screen(self, tracks: list[Track[Observation]]) -> list[ScreeningEvent]:
        events = []
        for track in tracks:
            self.counters.tracks += 1
            event, created = await self._screening.screen(
                Passage(self.checkpoint.id, self.visible.lane, self.visible.id, tuple(track.items))
            )
            self.counters.events += created
            key = event.decision.value
            self.counters.decisions[key] = self.counters.decisions.get(key, 0) + 1
            if self._on_event is not None:
                await self._on_event(event, created)
            events.append(event)
        return events
