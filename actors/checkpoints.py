"""`CameraSupervisor`: one per cluster (named, restarted). It keeps one `CameraStream`
actor running per visible camera configured in the store, and follows changes made
while the system runs (a camera added, changed or taken away) within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import ray

from dichte.domain.checkpoints import stream_key
from dichte.domain.settings import Settings, actor_resources
from dichte.store.checkpoints import CheckpointStore

SUPERVISOR_NAME = "camera-supervisor"
NAMESPACE = "dichte"


def actor_name(checkpoint_id: str, camera_id: str) -> str:
    return f"camera-{checkpoint_id}-{camera_id}"


log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class CameraSupervisor:
    def __init__(
        self, settings: dict[str, Any], app_name: str = "dichte", poll_s: float = 2.0
    ) -> None:
        self._workers = settings
        self._store = CheckpointStore.of(Settings(**settings))
        self._app_name = app_name
        self._poll_s = poll_s
        self._running: dict[str, tuple[str, Any]] = {}  # actor name → (config key, handle)
        self._seen_version = -1
        self._task = asyncio.get_event_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            try:
                version = await self._store.version()
                if version != self._seen_version:
                    await self.reconcile()
                    self._seen_version = version
            except Exception:  # Redis away for a moment: look again next time
                log.exception("camera supervision failed")
            await asyncio.sleep(self._poll_s)

    async def reconcile(self) -> dict[str, str]:
        """Start, restart or stop camera streams to match the store; what runs now."""
        # Here, not at the top: API replicas import this module to create the supervisor,
        # and must not load the camera's libraries (OpenCV) they never use.
        from dichte.actors.camera_stream import CameraStream

        _, configs = await self._store.all()
        desired = {
            actor_name(cp.id, cam.id): (cp, cam.id)
            for cp in configs
            for cam in cp.visible_cameras()
        }
        for name in set(self._running) - set(desired):
            await self._stop(name)
        for name, (checkpoint, visible_id) in desired.items():
            key = stream_key(checkpoint, visible_id)
            if name not in self._running:
                await self._adopt(name)  # a stream left by a supervisor that restarted
            if name in self._running and self._running[name][0] == key:
                continue
            if name in self._running:
                await self._stop(name)
            handle = CameraStream.options(  # type: ignore[attr-defined]
                name=name,
                namespace=NAMESPACE,
                lifetime="detached",
                **actor_resources(self._workers, "CameraStream"),
            ).remote(self._workers, checkpoint.model_dump_json(), visible_id, self._app_name)
            self._running[name] = (key, handle)
        return {name: key for name, (key, _) in self._running.items()}

    async def _adopt(self, name: str) -> None:
        with contextlib.suppress(ValueError):
            handle = ray.get_actor(name, namespace=NAMESPACE)
            try:
                key: str = await asyncio.wait_for(handle.key.remote(), timeout=10)
            except Exception:
                key = ""  # unanswering: restarted below
            self._running[name] = (key, handle)

    async def _stop(self, name: str) -> None:
        _, handle = self._running.pop(name)
        with contextlib.suppress(Exception):  # already gone, or stuck: killed either way
            await asyncio.wait_for(handle.stop.remote(), timeout=10)
        ray.kill(handle, no_restart=True)
        for _ in range(100):  # the name is free again once the actor is gone
            try:
                ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                return
            await asyncio.sleep(0.1)

    async def cameras(self) -> dict[str, dict[str, Any]]:
        """Each camera stream's counters and state."""
        names = list(self._running)
        stats = await asyncio.gather(
            *(self._running[n][1].stats.remote() for n in names), return_exceptions=True
        )
        return {
            n: (s if isinstance(s, dict) else {"state": f"unreachable: {type(s).__name__}"})
            for n, s in zip(names, stats, strict=True)
        }

    async def shutdown(self) -> bool:
        for name in list(self._running):
            await self._stop(name)
        self._task.cancel()
        return True


def get_or_create_supervisor(settings: dict[str, Any], app_name: str = "dichte") -> Any:
    return CameraSupervisor.options(  # type: ignore[attr-defined]
        name=SUPERVISOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        **actor_resources(settings, "CameraSupervisor"),
    ).remote(settings, app_name)
