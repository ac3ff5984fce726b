"""`TracingShard`: one shard of the tracing index as a Ray actor (named, restarted
without limit, spread over the cluster's nodes). On start it rebuilds its columns from
the record in Redis, then follows the record's stream of check-in changes; a call made
while it restarts waits for it and is retried (`max_task_retries`), so a trace gives the
same answer across a shard's death. The index itself is `store.tracing_index`; the fan
out is `services.tracing`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
import redis
import redis.asyncio as aioredis

from dichte.domain.settings import Settings
from dichte.domain.tracing import Query
from dichte.services.tracing import ShardedTracingIndex, TracingShardCalls
from dichte.store.epi import EpiStore
from dichte.store.keys import Keys
from dichte.store.tracing_index import Found, TracingIndexShard, load_from_redis, stream_position

# Named by key space and shard count: two deployments on one cluster, or a new shard
# count, get their own shards.
SHARD_NAME = "tracing-{prefix}-{shard}-of-{shards}"
NAMESPACE = "dichte"
FOLLOW_BATCH = 10_000
FOLLOW_BLOCK_MS = 1_000
# How long a call waits for the shard to apply the changes it must see: longer means
# the stream is not being read (Redis gone); the caller then traces from the record.
CATCH_UP_S = 5.0
log = logging.getLogger(__name__)


def _stream_id(position: str) -> tuple[int, int]:
    ms, _, seq = position.partition("-")
    return int(ms), int(seq or 0)


# Needs no CPU share of its own: a query is a few milliseconds of compiled scan.
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class TracingShard:
    def __init__(self, settings: dict[str, Any], shard: int, shards: int) -> None:
        self._started = time.time()
        s = Settings(**settings)
        assert s.redis_url, "TracingShard needs a resolved redis_url"
        self._url, self._keys = s.redis_url, Keys(s.redis_key_prefix)
        self._index = TracingIndexShard(shard, shards)
        client = redis.Redis.from_url(s.redis_url, decode_responses=True)
        # Read the position first: a change made during the rebuild is then applied
        # again by the follower, which the index ignores (it is already there).
        self._position = stream_position(client, self._keys)
        self.rebuilt = load_from_redis(self._index, client, self._keys)
        client.close()
        log.info("tracing shard %d/%d rebuilt: %s", shard, shards, self.rebuilt)
        self._applied = asyncio.Condition()
        self._follower = asyncio.get_event_loop().create_task(self._follow())

    async def _follow(self) -> None:
        client = aioredis.Redis.from_url(self._url, decode_responses=True)
        stream = self._keys.tracing_changes()
        while True:
            try:
                read: Any = await client.xread(
                    {stream: self._position}, count=FOLLOW_BATCH, block=FOLLOW_BLOCK_MS
                )
            except Exception:  # Redis restarting: try again shortly
                log.warning("tracing shard: reading changes failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for _, entries in read:
                for entry_id, fields in entries:
                    self._index.apply(fields)
                    self._position = str(entry_id)
            async with self._applied:
                self._applied.notify_all()

    async def _current(self, after: str) -> None:
        """Wait until the change `after` has been applied."""
        target = _stream_id(after)
        async with self._applied:
            await asyncio.wait_for(
                self._applied.wait_for(lambda: _stream_id(self._position) >= target), CATCH_UP_S
            )

    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found:
        await self._current(after)
        return self._index.meetings(queries, margin_s, default_stay_min)

    async def stays_at_venues(self, queries: list[Query], after: str) -> Found:
        await self._current(after)
        return self._index.stays_at_venues(queries)

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]:
        await self._current(after)
        return self._index.stays_of_persons(queries)

    async def names(self, keys: list[int]) -> list[str | None]:
        return self._index.names(keys)

    async def stats(self) -> dict[str, Any]:
        return {
            **self._index.stats(),
            "started": self._started,
            "rebuilt": self.rebuilt,
            "position": self._position,
        }


class _ActorCalls:
    """A `TracingShard` handle as `TracingShardCalls`."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found:
        found: Found = await self.handle.meetings.remote(queries, margin_s, default_stay_min, after)
        return found

    async def stays_at_venues(self, queries: list[Query], after: str) -> Found:
        found: Found = await self.handle.stays_at_venues.remote(queries, after)
        return found

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]:
        rows: list[list[tuple[str, int, int | None]]] = await self.handle.stays_of_persons.remote(
            queries, after
        )
        return rows

    async def names(self, keys: list[int]) -> list[str | None]:
        names: list[str | None] = await self.handle.names.remote(keys)
        return names


def tracing_shards(settings: dict[str, Any], shards: int) -> list[Any]:
    """The shard actors (started, or found when already running), spread over nodes."""
    prefix = Settings(**settings).redis_key_prefix
    return [
        TracingShard.options(  # type: ignore[attr-defined]
            name=SHARD_NAME.format(prefix=prefix, shard=i, shards=shards),
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            scheduling_strategy="SPREAD",
        ).remote(settings, i, shards)
        for i in range(shards)
    ]


def sharded_tracing_index(settings: dict[str, Any], shards: int) -> ShardedTracingIndex:
    """What an API replica traces with: the shards, and the record for passages."""
    calls: list[TracingShardCalls] = [_ActorCalls(h) for h in tracing_shards(settings, shards)]
    return ShardedTracingIndex(calls, EpiStore.of(Settings(**settings)))
