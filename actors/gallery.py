"""The face gallery as Ray actors: `GalleryShard` (one per shard, named, restarted)
holds a `services.gallery.Gallery`; `ShardedGallery` is what callers hold: it routes an
enrolment to its shard and merges the top-k of every shard for a search."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import ray

from dichte.domain.keys import load_template_key
from dichte.domain.settings import Settings
from dichte.domain.templates import Template
from dichte.services.gallery import Gallery, Match, shard_of
from dichte.store.gallery import TemplateStore

SHARD_NAME = "face-gallery-{}"
NAMESPACE = "dichte"


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0.1)
class GalleryShard:
    """One shard of the gallery. Restarted when it dies; it reloads from Redis, and a
    retried enrolment simply writes the same person's template again."""

    def __init__(self, settings: dict[str, Any], shard: int, shards: int) -> None:
        s = Settings(**settings)
        assert s.redis_url, "GalleryShard needs a resolved redis_url"
        self._gallery = Gallery(
            TemplateStore(s.redis_url, s.redis_key_prefix, load_template_key(s)),
            s.biometric_retention_days * 86_400,
        )
        self._shard, self._shards = shard, shards
        self._loaded = asyncio.Event()

    async def _ensure_loaded(self) -> None:
        if not self._loaded.is_set():
            await self._gallery.load(lambda p: shard_of(p, self._shards) == self._shard)
            self._loaded.set()

    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template:
        await self._ensure_loaded()
        return await self._gallery.enroll(person_id, embedding, source)

    async def forget(self, person_id: str) -> bool:
        await self._ensure_loaded()
        return await self._gallery.forget(person_id)

    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        await self._ensure_loaded()
        return await self._gallery.search(queries, k)

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        await self._ensure_loaded()
        return self._gallery.enrolled(person_ids)


class ShardedGallery:
    """What the API and the checkpoints use: the shards behind one search."""

    def __init__(self, settings: dict[str, Any], shards: int = 1) -> None:
        self._shards = [
            GalleryShard.options(  # type: ignore[attr-defined]
                name=SHARD_NAME.format(i),
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
            ).remote(settings, i, shards)
            for i in range(shards)
        ]

    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template:
        shard = self._shards[shard_of(person_id, len(self._shards))]
        t: Template = await shard.enroll.remote(person_id, embedding, source)
        return t

    async def forget(self, person_id: str) -> bool:
        return bool(
            await self._shards[shard_of(person_id, len(self._shards))].forget.remote(person_id)
        )

    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        parts = await asyncio.gather(*(s.search.remote(queries, k) for s in self._shards))
        merged: list[list[Match]] = []
        for i in range(len(queries)):
            candidates = [m for part in parts for m in part[i]]
            merged.append(sorted(candidates, key=lambda m: -m[1])[:k])
        return merged

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        """Which of these persons have a template in force (asked of their shards)."""
        by_shard: dict[int, list[str]] = {}
        for p in person_ids:
            by_shard.setdefault(shard_of(p, len(self._shards)), []).append(p)
        parts = await asyncio.gather(
            *(self._shards[i].enrolled.remote(ids) for i, ids in by_shard.items())
        )
        return set().union(*parts) if parts else set()
