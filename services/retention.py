"""Deleting what is past its retention: the periods (domain.retention) applied to the
store (store.retention). Run by the `RetentionKeeper` actor on a schedule inside the
running system, and by `dichte prune` on demand."""

from __future__ import annotations

import time

from dichte.domain.retention import cutoffs
from dichte.domain.settings import Settings
from dichte.store.retention import Pruner


class RetentionService:
    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("retention needs a resolved redis_url")
        self._settings = settings
        self._pruner = Pruner(settings.redis_url, key_prefix=settings.redis_key_prefix)

    async def run_once(self, now: int | None = None) -> dict[str, int]:
        """Everything past its period as of `now`; how many of each kind went."""
        return await self._pruner.prune(
            cutoffs(self._settings, int(time.time()) if now is None else now)
        )

    async def close(self) -> None:
        await self._pruner.close()
