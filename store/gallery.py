"""Enrolled face templates in Redis: sealed (AES-256-GCM, the person id as associated
data) and expiring with the biometric retention. Only sealed bytes reach Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis

from dichte.domain.templates import Template, open_sealed, seal
from dichte.store.keys import Keys

LOAD_BATCH = 1000  # templates read per MGET when a shard loads


class TemplateStore:
    def __init__(self, redis_url: str, key_prefix: str, key: bytes) -> None:
        self._redis = aioredis.Redis.from_url(redis_url)
        self._keys = Keys(key_prefix)
        self._key = key
        self.unreadable = 0  # sealed blobs that did not open (wrong key, tampering)

    async def save(self, t: Template) -> None:
        await self._redis.set(
            self._keys.face_template(t.person_id), seal(self._key, t), exat=t.expires_at
        )

    async def delete(self, person_id: str) -> bool:
        return bool(await self._redis.delete(self._keys.face_template(person_id)))

    async def load(self, owns: Callable[[str], bool] = lambda person_id: True) -> list[Template]:
        """Every template `owns` accepts, read in batches (SCAN, then one MGET a batch)."""
        prefix = self._keys.face_template("")
        found: list[Template] = []
        batch: list[str] = []
        async for raw_key in self._redis.scan_iter(
            self._keys.face_templates_pattern(), count=LOAD_BATCH
        ):
            person_id = raw_key.decode()[len(prefix) :]
            if owns(person_id):
                batch.append(person_id)
            if len(batch) >= LOAD_BATCH:
                found += await self._open(batch)
                batch = []
        if batch:
            found += await self._open(batch)
        return found

    async def _open(self, person_ids: list[str]) -> list[Template]:
        blobs = await self._redis.mget([self._keys.face_template(p) for p in person_ids])
        opened = []
        for person_id, blob in zip(person_ids, blobs, strict=True):
            if blob is None:  # expired between SCAN and MGET
                continue
            try:
                opened.append(open_sealed(self._key, person_id, cast(bytes, blob)))
            except ValueError:
                self.unreadable += 1
        return opened

    async def close(self) -> None:
        await self._redis.aclose()
