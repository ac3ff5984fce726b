"""The biometric galleries as Ray actors: `GalleryShard` (one per shard, named,
restarted) holds a shard's face `Gallery` and `IrisGallery` (a person's face and eyes
live on the same shard); `ShardedGallery` (faces) and `ShardedIrisGallery` (irises)
are what callers hold: they route an enrolment to its shard and merge the top-k of
every shard for a search."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np
import ray

from dichte.domain.keys import load_template_keys
from dichte.domain.settings import Settings, actor_resources
from dichte.domain.templates import Eye, IrisTemplate, Template
from dichte.services.gallery import Gallery, IrisGallery, IrisSearch, Match, shard_of
from dichte.store.gallery import IrisTemplateStore, TemplateStore

if TYPE_CHECKING:
    from dichte.models.iris.code import IrisCode

SHARD_NAME = "face-gallery-{}"
NAMESPACE = "dichte"


# Its CPU share: `actors:` in the Serve config (cluster/serve_config.yaml).
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class GalleryShard:
    """One shard of the galleries. Restarted when it dies; it reloads from Redis, and a
    retried enrolment simply writes the same person's template again. Each gallery is
    read in when first used."""

    def __init__(self, settings: dict[str, Any], shard: int, shards: int) -> None:
        s = Settings(**settings)
        assert s.redis_url, "GalleryShard needs a resolved redis_url"
        key, *previous = load_template_keys(s)
        retention_s = s.biometric_retention_days * 86_400
        faces = TemplateStore(s.redis_url, s.redis_key_prefix, key, previous)
        self._faces = Gallery(faces, retention_s)
        irises = IrisTemplateStore(s.redis_url, s.redis_key_prefix, key, previous)
        self._irises = IrisGallery(irises, retention_s)
        self._shard, self._shards = shard, shards
        self._loaded: set[int] = set()  # ids of the galleries read in

    def _owns(self, person_id: str) -> bool:
        return shard_of(person_id, self._shards) == self._shard

    async def _ready(self, gallery: Gallery | IrisGallery) -> None:
        if id(gallery) not in self._loaded:
            await gallery.load(self._owns)
            self._loaded.add(id(gallery))

    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template:
        await self._ready(self._faces)
        return await self._faces.enroll(person_id, embedding, source)

    async def forget(self, person_id: str) -> bool:
        await self._ready(self._faces)
        return await self._faces.forget(person_id)

    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        await self._ready(self._faces)
        return await self._faces.search(queries, k)

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        await self._ready(self._faces)
        return self._faces.enrolled(person_ids)

    async def enroll_iris(
        self, person_id: str, eye: Eye, code: IrisCode, source: str
    ) -> IrisTemplate:
        await self._ready(self._irises)
        return await self._irises.enroll(person_id, eye, code, source)

    async def forget_iris(self, person_id: str) -> bool:
        await self._ready(self._irises)
        return await self._irises.forget(person_id)

    async def search_iris(self, code: IrisCode, k: int) -> IrisSearch:
        await self._ready(self._irises)
        return await self._irises.search(code, k)

    async def enrolled_iris(self, person_ids: list[str]) -> set[str]:
        await self._ready(self._irises)
        return self._irises.enrolled(person_ids)


def _shards(settings: dict[str, Any], shards: int) -> list[Any]:
    return [
        GalleryShard.options(  # type: ignore[attr-defined]
            name=SHARD_NAME.format(i),
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            **actor_resources(settings, "GalleryShard"),
        ).remote(settings, i, shards)
        for i in range(shards)
    ]


async def _by_shard(shards: list[Any], person_ids: list[str], ask: str) -> set[str]:
    """Which of these persons have a template in force, asked of their shards."""
    groups: dict[int, list[str]] = {}
    for p in person_ids:
        groups.setdefault(shard_of(p, len(shards)), []).append(p)
    parts = await asyncio.gather(
        *(getattr(shards[i], ask).remote(ids) for i, ids in groups.items())
    )
    return set().union(*parts) if parts else set()


class ShardedGallery:
    """Faces: what the API and the checkpoints use, the shards behind one search."""

    def __init__(self, settings: dict[str, Any], shards: int = 1) -> None:
        self._shards = _shards(settings, shards)

    def _of(self, person_id: str) -> Any:
        return self._shards[shard_of(person_id, len(self._shards))]

    async def enroll(self, person_id: str, embedding: np.ndarray, source: str) -> Template:
        t: Template = await self._of(person_id).enroll.remote(person_id, embedding, source)
        return t

    async def forget(self, person_id: str) -> bool:
        return bool(await self._of(person_id).forget.remote(person_id))

    async def search(self, queries: np.ndarray, k: int) -> list[list[Match]]:
        parts = await asyncio.gather(*(s.search.remote(queries, k) for s in self._shards))
        merged: list[list[Match]] = []
        for i in range(len(queries)):
            candidates = [m for part in parts for m in part[i]]
            merged.append(sorted(candidates, key=lambda m: -m[1])[:k])
        return merged

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        return await _by_shard(self._shards, person_ids, "enrolled")


class ShardedIrisGallery:
    """Irises, on the same shards as the faces: each shard scans its own codes, in
    parallel, and the closest k of all come back."""

    def __init__(self, settings: dict[str, Any], shards: int = 1) -> None:
        self._shards = _shards(settings, shards)

    def _of(self, person_id: str) -> Any:
        return self._shards[shard_of(person_id, len(self._shards))]

    async def enroll(self, person_id: str, eye: Eye, code: IrisCode, source: str) -> IrisTemplate:
        t: IrisTemplate = await self._of(person_id).enroll_iris.remote(person_id, eye, code, source)
        return t

    async def forget(self, person_id: str) -> bool:
        return bool(await self._of(person_id).forget_iris.remote(person_id))

    async def search(self, code: IrisCode, k: int) -> IrisSearch:
        parts = await asyncio.gather(*(s.search_iris.remote(code, k) for s in self._shards))
        closest = sorted((m for found, _ in parts for m in found), key=lambda m: m[2])[:k]
        return closest, sum(size for _, size in parts)

    async def enrolled(self, person_ids: list[str]) -> set[str]:
        return await _by_shard(self._shards, person_ids, "enrolled_iris")
