"""`TracingShard`: one shard of the tracing index as a Ray actor (named, restarted
without limit, spread over the cluster's nodes). On start it rebuilds its columns from
the record in Redis, then follows the record's stream of check-in changes. A case is
traced in the shard that owns its person (`ShardedTracer`): one call from the API
replica, the home shard answering its own part of each step in process and asking the
other shards for theirs. A call made while a shard restarts waits for it and is retried
(`max_task_retries`), so a trace gives the same answer across a shard's death. The
index itself is `store.tracing_index`; the fan out is `services.tracing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import pickle
import time
from typing import Any

import ray

from dichte.domain.settings import Settings, actor_resources
from dichte.domain.tracing import Query, TraceResult, trace
from dichte.services.tracing import (
    INDEX_WAIT_S,
    IndexUnavailable,
    ShardedTracingIndex,
    TraceRequest,
    TracingShardCalls,
    WireTrace,
    from_wire,
    quarantine_starts,
    to_wire,
)
from dichte.store.connection import connect, connect_sync
from dichte.store.epi import EpiStore
from dichte.store.keys import Keys
from dichte.store.tracing_shards import Found, shard_of

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


def release_freed_memory() -> None:
    """Hand the heap the rebuild freed back to the system: its transient rows and
    names (several times the index's size) otherwise stay resident in glibc's free
    lists. A no-op where the C library is not glibc."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def resident_bytes() -> int:
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _stream_id(position: str) -> tuple[int, int]:
    ms, _, seq = position.partition("-")
    return int(ms), int(seq or 0)


def shard_name(prefix: str, shard: int, shards: int) -> str:
    return SHARD_NAME.format(prefix=prefix, shard=shard, shards=shards)


# Calls between processes carry their arguments and answers pickled by the standard
# library, as bytes: Ray's own serialisation of a case's thousand exposure tuples took
# ~4 ms a call on a 2-core machine, the same data as bytes ~1 ms.
PACKED_CALLS = frozenset({"meetings", "stays_of_persons", "names", "trace"})


class TracingShardBody:
    """The actor's code (`TracingShard` is this as a Ray actor)."""

    def __init__(self, settings: dict[str, Any], shard: int, shards: int) -> None:
        self._started = time.time()
        s = Settings(**settings)
        assert s.redis_url, "TracingShard needs a resolved redis_url"
        self._settings, self._shard, self._shards = settings, shard, shards
        self._url, self._keys = s.redis_url, Keys(s.redis_key_prefix)
        self._store = EpiStore.of(s)
        # Imported here: the compiled scans (numba) load in the shard's process only, not
        # in the API replicas that import this module for `ShardedTracer`.
        from dichte.store.tracing_index import TracingIndexShard

        self._index = TracingIndexShard(shard, shards)
        self._position = "0-0"
        before = resident_bytes()
        rebuilt = self._rebuild()
        release_freed_memory()
        self.rebuilt = {**rebuilt, "rss_growth": resident_bytes() - before}
        # What lives now lives for good: keep the collector from rescanning it on every
        # trace (pauses of ~100 ms otherwise).
        gc.freeze()
        self._others: ShardedTracingIndex | None = None
        self._applied = asyncio.Condition()
        self._follower = asyncio.get_event_loop().create_task(self._follow())

    def _rebuild(self) -> dict[str, float]:
        client = connect_sync(self._url)
        # Read the position first: a change made during the rebuild is then applied
        # again by the follower, which the index ignores (it is already there).
        from dichte.store.tracing_index import load_from_redis, stream_position

        self._position = stream_position(client, self._keys)
        rebuilt = load_from_redis(self._index, client, self._keys)
        client.close()
        log.info("tracing shard %d/%d rebuilt: %s", self._shard, self._shards, rebuilt)
        return rebuilt

    async def _follow(self) -> None:
        client = connect(self._url)
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

    # --- the shard's part of a step (TracingShardCalls) --------------------------------
    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found:
        await self._current(after)
        return self._index.meetings(queries, margin_s, default_stay_min)

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]:
        await self._current(after)
        return self._index.stays_of_persons(queries)

    async def names(self, keys: list[int]) -> list[str | None]:
        return self._index.names(keys)

    # --- a whole trace, for a case whose person this shard owns ------------------------
    def _everyone(self) -> ShardedTracingIndex:
        if self._others is None:
            prefix = Settings(**self._settings).redis_key_prefix
            shards: list[TracingShardCalls] = [
                self
                if i == self._shard
                else ShardActorCalls(
                    ray.get_actor(shard_name(prefix, i, self._shards), namespace=NAMESPACE)
                )
                for i in range(self._shards)
            ]
            self._others = ShardedTracingIndex(shards, self._store)
        return self._others

    async def trace(self, r: TraceRequest) -> WireTrace:
        async def quarantines(person_ids: list[str]) -> dict[str, int]:
            return await quarantine_starts(self._store, person_ids)

        index = await self._everyone().as_of_now()
        return to_wire(
            await trace(
                index, r.case_person, r.window, r.outbreak, quarantines, r.depth, r.known, r.as_of
            )
        )

    async def packed(self, call: bytes) -> bytes:
        """One of PACKED_CALLS, its arguments and its answer pickled (see there)."""
        name, args = pickle.loads(call)
        if name not in PACKED_CALLS:
            raise ValueError(f"not a tracing shard call: {name}")
        return pickle.dumps(await getattr(self, name)(*args), pickle.HIGHEST_PROTOCOL)

    async def stats(self) -> dict[str, Any]:
        return {
            **self._index.stats(),
            "started": self._started,
            "rebuilt": self.rebuilt,
            "position": self._position,
        }


# Needs no CPU share of its own: a step is a few milliseconds of compiled scan.
@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class TracingShard(TracingShardBody):
    """The shard as the cluster runs it."""


async def call_packed(handle: Any, name: str, *args: Any) -> Any:
    """`handle`'s `name`(*args), through `packed`."""
    return pickle.loads(
        await handle.packed.remote(pickle.dumps((name, args), pickle.HIGHEST_PROTOCOL))
    )


class ShardActorCalls:
    """A `TracingShard` handle as `TracingShardCalls`."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def meetings(
        self, queries: list[Query], margin_s: int, default_stay_min: int, after: str
    ) -> Found:
        found: Found = await call_packed(
            self.handle, "meetings", queries, margin_s, default_stay_min, after
        )
        return found

    async def stays_of_persons(
        self, queries: list[Query], after: str
    ) -> list[list[tuple[str, int, int | None]]]:
        rows: list[list[tuple[str, int, int | None]]] = await call_packed(
            self.handle, "stays_of_persons", queries, after
        )
        return rows

    async def names(self, keys: list[int]) -> list[str | None]:
        names: list[str | None] = await call_packed(self.handle, "names", keys)
        return names


def tracing_shards(settings: dict[str, Any], shards: int) -> list[Any]:
    """The shard actors (started, or found when already running), spread over nodes."""
    prefix = Settings(**settings).redis_key_prefix
    return [
        TracingShard.options(  # type: ignore[attr-defined]
            name=shard_name(prefix, i, shards),
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            scheduling_strategy="SPREAD",
            **actor_resources(settings, "TracingShard"),
        ).remote(settings, i, shards)
        for i in range(shards)
    ]


class ShardedTracer:
    """What an API replica traces with: each case sent to its person's shard."""

    def __init__(self, shards: list[Any]) -> None:
        self._shards = shards

    async def trace(self, request: TraceRequest) -> TraceResult:
        home = self._shards[shard_of(request.case_person, len(self._shards))]
        try:
            wire: WireTrace = await asyncio.wait_for(
                call_packed(home, "trace", request), INDEX_WAIT_S
            )
        except Exception as e:  # restarting for too long, or gone for good
            raise IndexUnavailable(str(e) or type(e).__name__) from e
        return from_wire(wire)
