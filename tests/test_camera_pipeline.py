"""A camera's pipeline in one process (real face models, real Redis): one event per
person whether they roll through or stop at the barrier, and a person who stops is
decided while still in view, not after driving off."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from dichte.domain.checkpoints import CameraConfig, CheckpointConfig
from dichte.domain.keys import load_signing_key
from dichte.domain.settings import Settings
from dichte.models.results import Frame
from dichte.models.tracking import TrackerParams
from dichte.services.camera import CameraPipeline
from dichte.services.declarations import DeclarationService
from dichte.services.vision import screening_policy
from dichte.services.wiring import screening_service
from dichte.serving.local import LocalGallery, LocalInference
from dichte.store.declarations import DeclarationStore
from tests.live import SHARED_DATA, shared

PHOTO = SHARED_DATA / "faces" / "face_recognition" / "tests" / "test_images" / "obama.jpg"
FPS = 5.0


def scene(person: bool) -> np.ndarray:
    """A grey road, with the photo's face pasted in when someone is in view."""
    frame = np.full((480, 640, 3), 110, np.uint8)
    if person:
        face = cv2.imread(str(shared(PHOTO)))
        h, w = face.shape[:2]
        scale = 300 / max(h, w)
        face = cv2.resize(face, (int(w * scale), int(h * scale)))
        frame[60 : 60 + face.shape[0], 160 : 160 + face.shape[1]] = face
    return frame


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, key_prefix: str) -> Settings:
    return Settings(redis_url=redis_url, redis_key_prefix=key_prefix, data_dir=tmp_path)


async def camera(settings: Settings) -> CameraPipeline:
    """One visible camera's pipeline with the real models, stores and gallery."""
    declarations = DeclarationService(
        DeclarationStore.of(settings),
        load_signing_key(settings),
        timedelta(hours=settings.qr_token_ttl_hours),
    )
    inference = LocalInference(settings.data_dir / "models", settings.max_image_pixels)
    screening = screening_service(
        settings,
        inference=inference,
        gallery=await LocalGallery.of(settings),
        declarations=declarations,
    )
    visible = CameraConfig(id="v1", kind="visible", lane=1, source="sim://")
    checkpoint = CheckpointConfig(
        id="pipe-test", name="Test", commune_code=19363, lanes=1, cameras=[visible]
    )
    return CameraPipeline(
        checkpoint,
        visible,
        None,
        inference=inference,
        screening=screening,
        policy=screening_policy(settings),
        tracker=TrackerParams(max_gap_s=0.5, due_after_s=3.0),
    )


def play(settings: Settings, in_view_s: float) -> tuple[list[tuple[float, int]], int]:
    """Frames at 5 fps: the person in view for `in_view_s`, then 2 s of empty road.
    Returns (moment, events made by that frame) for each frame that made events, and
    the events the camera counted."""
    start = time.time()
    made = []

    async def run() -> int:
        pipeline = await camera(settings)
        person, road = scene(True), scene(False)
        n_in, n_out = round(in_view_s * FPS), round(2.0 * FPS)
        for i in range(n_in + n_out):
            at = start + i / FPS
            events = await pipeline.process(Frame(i, at, person if i < n_in else road))
            if events:
                made.append((i / FPS, len(events)))
        await pipeline.flush()
        return pipeline.counters.events

    counted = asyncio.run(run())
    return made, counted


def test_a_vehicle_that_stops_is_decided_while_the_person_is_still_there(
    settings: Settings,
) -> None:
    made, counted = play(settings, in_view_s=6.0)
    assert [n for _, n in made] == [1], made
    assert 3.0 <= made[0][0] < 6.0  # due after 3 s in view; the person stays until 6 s
    assert counted == 1


def test_a_rolling_vehicle_is_decided_once_when_it_leaves_the_view(settings: Settings) -> None:
    made, counted = play(settings, in_view_s=1.6)
    assert [n for _, n in made] == [1], made
    assert 1.6 <= made[0][0] <= 1.6 + 0.5 + 1 / FPS  # after the tracker's gap
    assert counted == 1
