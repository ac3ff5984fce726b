"""Checkpoints as staff manage them: configuration (the shipped YAML at start, changes
through the API while the system runs; the camera supervisor follows), and the
screening events of a checkpoint, as a resumable list."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from dichte.domain.checkpoints import CameraConfig, CheckpointConfig, check_checkpoint
from dichte.domain.errors import DomainError, not_found, refuse
from dichte.domain.records import covers
from dichte.domain.screening import ScreeningEvent
from dichte.domain.settings import Settings
from dichte.domain.tokens import StaffClaims
from dichte.store.checkpoints import CheckpointStore

EVENTS_PAGE = 100
log = logging.getLogger(__name__)


class EventPage(BaseModel):
    events: list[ScreeningEvent]
    next: str | None = Field(description="Give it as `since` for what comes after")


class CheckpointCommunes:
    """Each checkpoint's commune, read from the store and kept a minute: its screening
    events, and declarations made there, are routed to it, and staff rarely move one."""

    def __init__(self, store: CheckpointStore, keep_s: float = 60.0) -> None:
        self._store = store
        self._keep_s = keep_s
        self._known: dict[str, tuple[int | None, float]] = {}

    async def __call__(self, checkpoint_id: str) -> int | None:
        now = time.monotonic()
        known = self._known.get(checkpoint_id)
        if known is not None and now - known[1] < self._keep_s:
            return known[0]
        try:
            config = await self._store.get(checkpoint_id)
        except Exception:  # the store away: the declaration itself says so when written
            log.warning("checkpoint %s not read for routing", checkpoint_id, exc_info=True)
            return None
        commune = config.commune_code if config else None
        self._known[checkpoint_id] = (commune, now)
        return commune


def load_checkpoints(path: Path) -> list[CheckpointConfig]:
    """The checkpoints of a YAML file (`checkpoints:` list), each checked."""
    data = yaml.safe_load(path.read_text()) or {}
    configs = [CheckpointConfig.model_validate(c) for c in data.get("checkpoints", [])]
    for c in configs:
        errors = check_checkpoint(c)
        if errors:
            raise ValueError(f"{path}: checkpoint {c.id}: {[e.code for e in errors]}")
    return configs


SIMULATED_CHECKPOINT = "sim-demo"
VINH_LINH = 19363  # Xã Vĩnh Linh, Quảng Trị: where the demo checkpoint "stands"


def simulated_checkpoint(lanes: int = 2) -> CheckpointConfig:
    """A checkpoint of simulated camera pairs (`sim://`), one per lane, each lane its own
    traffic (seed): what `make run` shows when no camera is configured."""
    from dichte.models.thermal.simulator import SimConfig  # the scene's own geometry

    sim = SimConfig()
    cameras = []
    for lane in range(1, lanes + 1):
        source = f"sim://?seed={lane}"
        cameras += [
            CameraConfig(id=f"lane{lane}-visible", kind="visible", lane=lane, source=source),
            CameraConfig(
                id=f"lane{lane}-thermal",
                kind="thermal",
                lane=lane,
                source=source,
                pair_of=f"lane{lane}-visible",
                homography=sim.homography().tolist(),
                blackbody={"roi": sim.blackbody_roi, "set_point_c": sim.blackbody_set_point_c},
            ),
        ]
    return CheckpointConfig(
        id=SIMULATED_CHECKPOINT,
        name="Chốt mô phỏng (simulated checkpoint)",
        commune_code=VINH_LINH,
        lanes=lanes,
        cameras=cameras,
    )


class CheckpointService:
    def __init__(self, store: CheckpointStore) -> None:
        self._store = store

    def _allowed(self, staff: StaffClaims, config: CheckpointConfig) -> None:
        if not covers(staff, config.commune_code, config.province_code()):
            raise DomainError.of("request", "forbidden")

    async def config(self, checkpoint_id: str, staff: StaffClaims) -> CheckpointConfig:
        config = await self._store.get(checkpoint_id)
        if config is None:
            raise not_found("checkpoint_id", "checkpoint")
        self._allowed(staff, config)
        return config

    async def configure(
        self, body: CheckpointConfig, staff: StaffClaims
    ) -> tuple[CheckpointConfig, bool]:
        """(the configuration, created): a new checkpoint, or a whole new configuration
        of one already there; the camera supervisor applies it within seconds."""
        refuse(check_checkpoint(body))
        self._allowed(staff, body)
        existing = await self._store.get(body.id)
        if existing is not None:
            self._allowed(staff, existing)
        await self._store.save(body)
        return body, existing is None

    async def remove_camera(
        self, checkpoint_id: str, camera_id: str, staff: StaffClaims
    ) -> CheckpointConfig:
        """Take a camera away (its thermal partner goes with a visible camera)."""
        config = await self.config(checkpoint_id, staff)
        if not any(c.id == camera_id for c in config.cameras):
            raise not_found("camera_id", "camera")
        kept: list[CameraConfig] = [
            c for c in config.cameras if c.id != camera_id and c.pair_of != camera_id
        ]
        changed = config.model_copy(update={"cameras": kept})
        await self._store.save(changed)
        return changed

    async def events(
        self, checkpoint_id: str, since: str | None, staff: StaffClaims, limit: int = EVENTS_PAGE
    ) -> EventPage:
        await self.config(checkpoint_id, staff)
        found = await self._store.events(checkpoint_id, since, limit)
        return EventPage(
            events=[ScreeningEvent.model_validate(json.loads(raw)) for _, raw in found],
            next=found[-1][0] if found else since,
        )

    async def latest(self, checkpoint_id: str, staff: StaffClaims, limit: int) -> EventPage:
        await self.config(checkpoint_id, staff)
        found = await self._store.latest_events(checkpoint_id, limit)
        return EventPage(
            events=[ScreeningEvent.model_validate(json.loads(raw)) for _, raw in found],
            next=found[-1][0] if found else None,
        )

    async def follow(
        self, checkpoint_id: str, since: str | None, staff: StaffClaims, poll_s: float = 0.5
    ) -> AsyncIterator[tuple[str, ScreeningEvent] | None]:
        """Events as they are stored, from after `since` (None: from now on); yields
        None when a while passed without one (a heartbeat for the connection)."""
        await self.config(checkpoint_id, staff)
        cursor = since
        if cursor is None:
            latest = await self._store.latest_events(checkpoint_id, 1)
            cursor = latest[-1][0] if latest else "0-0"
        quiet = 0.0
        while True:
            found = await self._store.events(checkpoint_id, cursor, EVENTS_PAGE)
            for sid, raw in found:
                cursor = sid
                yield sid, ScreeningEvent.model_validate(json.loads(raw))
            if found:
                quiet = 0.0
                continue
            await asyncio.sleep(poll_s)
            quiet += poll_s
            if quiet >= 15:
                quiet = 0.0
                yield None

    async def face(self, checkpoint_id: str, event_id: str, staff: StaffClaims) -> bytes:
        """The face crop of a recent event (kept an hour, for the lane view)."""
        await self.config(checkpoint_id, staff)
        found = await self._store.face(event_id) if len(event_id) <= 64 else None
        if found is None:
            raise not_found("event_id", "event")
        return found


async def seed_checkpoints(settings: Settings) -> list[str]:
    """The shipped checkpoints (cluster/checkpoints.yaml) where the store has none of
    their id (what staff changed is kept), and, when no camera is configured anywhere,
    the simulated two-lane checkpoint. Returns the ids added."""
    store = CheckpointStore.of(settings)
    added = []
    try:
        path = settings.checkpoints_config
        for config in load_checkpoints(path) if path.exists() else []:
            if await store.add_if_absent(config):
                added.append(config.id)
        _, configs = await store.all()
        if settings.simulated_checkpoint and not any(c.cameras for c in configs):
            demo = simulated_checkpoint()
            if await store.add_if_absent(demo):
                added.append(demo.id)
    finally:
        await store.close()
    return added
