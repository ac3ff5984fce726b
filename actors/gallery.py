"""The face gallery: enrolled templates, sealed in Redis, searched 1:N in memory.

`Gallery` is plain asyncio (Redis for the record, an `EmbeddingMatrix` for search);
`GalleryShard` is its Ray actor shell, one per shard, named and restarted. A large
province splits the gallery over shards by person id; `ShardedGallery` routes an
enrolment to its shard and merges the top-k of every shard for a search.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any, cast

import numpy as np
import ray
import redis.asyncio as aioredis

from actors.keys import Keys
from domain.keys import load_template_key
from domain.settings import Settings
from domain.templates import Template, normalised, open_sealed, seal
from models.faces.search import EmbeddingMatrix

Match = tuple[str, float]  # person id, cosine similarity

SHARD_NAME = "face-gallery-{}"
NAMESPACE = "dichte"


class Gallery:
    def __init__(self, redis_url: str, key_prefix: str, key: bytes, retention_s: int) -> None:
        self._redis = aioredis.Redis.from_url(redis_url)
        self._keys = Keys(key_prefix)
        self._key = key
        self._retention_s = retention_s
        self._matrix = EmbeddingMatrix()
        self._expires: dict[str, int] = {}
        self.unreadable = 0  # sealed blobs that did not open (wrong key, tampering)

    async def load(self, owns: Any = lambda person_id: True) -> int:
        """Read every sealed template this shard owns into memory."""
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        prefix = self._keys.face_template("")
        async for raw_key in self._redis.scan_iter(self._keys.face_templates_pattern(), count=1000):
            person_id = raw_key.decode()[len(prefix) :]
            if not owns(person_id):
                continue
            blob = await self._redis.get(raw_key)
            if blob is None:  # expired between SCAN and GET
                continue
            try:
                t = open_sealed(self._key, person_id, cast(bytes, blob))
            except ValueError:
                self.unreadable += 1
                continue
            ids.append(person_id)
            vectors.append(t.embedding)
            self._expires[person_id] = t.expires_at
        if ids:
            self._matrix.add(ids, np.stack(vectors))
        return len(ids)

    async def enroll(
        self, person_id: str, embedding: np.ndarray, source: str, now: int | None = None
    ) -> Template:
        """Stored sealed first (so an acknowledged enrolment survives a restart), then
        searchable. A new enrolment replaces the person's previous template."""
        now = int(time.time()) if now is None else now
        t = Template(person_id, normalised(embedding), source, now, now + self._retention_s)
        await self._redis.set(
            self._keys.face_template(person_id), seal(self._key, t), exat=t.expires_at
        )
        self._matrix.remove([person_id])
        self._matrix.add([person_id], t.embedding[None, :])
        self._expires[person_id] = t.expires_at
        return t

    async def forget(self, person_id: str) -> bool:
        removed = bool(await self._redis.delete(self._keys.face_template(person_id)))
        self._matrix.remove([person_id])
        self._expires.pop(person_id, None)
        return removed

    def _purge_expired(self, now: int) -> None:
        gone = [p for p, exp in self._expires.items() if exp <= now]
        if gone:
            self._matrix.remove(gone)
            for p in gone:
                del self._expires[p]

    async def search(
        self, queries: np.ndarray, k: int, now: int | None = None
    ) -> list[list[Match]]:
        self._purge_expired(int(time.time()) if now is None else now)
        if len(self._expires) == 0:
            return [[] for _ in range(len(queries))]
        rows = np.stack([normalised(q) for q in np.asarray(queries).reshape(-1, 128)])
        # A 2-D query gives one list of (id, score) per row, from one matrix product.
        found = cast(list[list[tuple[str, float]]], self._matrix.search(rows, k))
        return [[(str(pid), float(score)) for pid, score in hits] for hits in found]

    async def close(self) -> None:
        await self._redis.aclose()


def shard_of(person_id: str, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(person_id.encode(), digest_size=4).digest()) % shards


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0.25)
class GalleryShard:
    """One shard of the gallery. Restarted when it dies; it reloads from Redis, and a
    retried enrolment simply writes the same person's template again."""

    def __init__(self, settings: dict[str, Any], shard: int, shards: int) -> None:
        s = Settings(**settings)
        assert s.redis_url, "GalleryShard needs a resolved redis_url"
        self._gallery = Gallery(
            s.redis_url,
            s.redis_key_prefix,
            load_template_key(s),
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
