"""`RetentionKeeper`: one per cluster, named and restarted, deleting on a schedule
(5 minutes after it starts, then every DICHTE_RETENTION_INTERVAL_MINUTES) what is past
its retention."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
from ray.util import metrics

from dichte.domain.settings import Settings, actor_resources
from dichte.services.retention import RetentionService

ACTOR_NAME = "retention-keeper"
NAMESPACE = "dichte"
log = logging.getLogger(__name__)


# Restarted without limit: a missed round is made up by the next one. Needs no CPU share:
# it sleeps between rounds and Redis does the work.
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class RetentionKeeper:
    def __init__(self, settings: dict[str, Any], first_round_after_s: float = 300) -> None:
        s = Settings(**settings)
        self._first_round_after_s = first_round_after_s
        self._service = RetentionService(s)
        self._interval_s = s.retention_interval_minutes * 60
        self._removed = metrics.Counter(
            "dichte_retention_removed",
            description="Records deleted past their retention, by kind",
            tag_keys=("kind",),
        )
        self._last: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        # The schedule starts with the actor, so a restarted keeper resumes on its own.
        self._task = asyncio.get_event_loop().create_task(self._loop())

    async def _loop(self) -> None:
        # Not at once: the system is starting (and a restarted keeper should not pile a
        # full round onto whatever made it crash).
        await asyncio.sleep(self._first_round_after_s)
        while True:
            try:
                await self.run_now()
            except Exception:  # Redis away for a moment: the next round tries again
                log.exception("retention round failed")
            await asyncio.sleep(self._interval_s)

    async def run_now(self, now: int | None = None) -> dict[str, Any]:
        """One round now (also what the schedule runs); returns what it removed."""
        async with self._lock:
            removed = await self._service.run_once(now)
        for kind, n in removed.items():
            if n:
                self._removed.inc(n, tags={"kind": kind})
        self._last = {"at": int(time.time()), "removed": removed}
        return self._last

    async def last_round(self) -> dict[str, Any]:
        return self._last


def get_or_create_retention_keeper(
    settings: dict[str, Any], first_round_after_s: float = 300
) -> Any:
    """The cluster's one keeper, created (and so started) by whichever caller comes
    first; its first round comes `first_round_after_s` after it starts."""
    return RetentionKeeper.options(  # type: ignore[attr-defined]
        name=ACTOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        **actor_resources(settings, "RetentionKeeper"),
    ).remote(settings, first_round_after_s)
