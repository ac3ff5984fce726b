"""The sharded tracing index as it runs: `TracingShard` actors on a started Ray, built
from check-ins written through the store into a real Redis, kept current from its
stream, surviving a shard's death, following the retention. Every trace is compared
with the same trace read from Redis directly (the record)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from dichte.actors.tracing import ShardedTracer, tracing_shards
from dichte.domain.settings import Settings
from dichte.domain.tracing import DAY, HOUR, MINUTE, OutbreakSettings, Stay, TraceResult, trace
from dichte.services.tracing import TraceRequest
from dichte.serving.embedded_redis import EmbeddedRedis
from dichte.store.epi import EpiStore
from dichte.store.retention import Pruner
from dichte.store.tracing_shards import shard_of
from tests.redis_cluster import keys_per_primary

T0 = 1_790_000_000 - 1_790_000_000 % DAY
S = OutbreakSettings()
WINDOW = (T0, T0 + 3 * DAY)
SHARDS = 3


def population(seed: int, stays: int, persons: int = 150, venues: int = 12) -> list[Stay]:
    """Check-ins over three days, mostly in the daytime; 60 % check out."""
    rng = random.Random(seed)
    out = []
    for _ in range(stays):
        start = T0 + rng.randrange(3) * DAY + rng.randrange(7 * HOUR, 21 * HOUR, MINUTE)
        end = start + rng.randrange(5, 180) * MINUTE if rng.random() < 0.6 else None
        out.append(Stay(f"p{rng.randrange(persons)}", f"v{rng.randrange(venues)}", start, end))
    return out


async def record(store: EpiStore, stays: list[Stay]) -> None:
    """Through the store, as the API writes them: check-in, then check-out."""
    for x in stays:
        await store.check_in(x.venue, x.person, x.start, "2026-09-22")
        if x.end is not None:
            await store.check_out(x.venue, x.person, x.end)


def exposures(result: TraceResult) -> dict[str, set[Any]]:
    return {p: set(c.exposures) for p, c in (result.f1 | result.f2).items()}


async def same_traces(
    tracer: ShardedTracer, store: EpiStore, persons: list[str]
) -> list[dict[str, set[Any]]]:
    """Each person traced as a case by the shards and from the record: equal."""
    out = []
    for person in persons:
        expected = await trace(store, person, WINDOW, S, {})
        got = await tracer.trace(TraceRequest(person, WINDOW, S))
        assert exposures(got) == exposures(expected), person
        out.append(exposures(got))
    return out


@pytest.fixture(scope="module")
def cluster(embedded_redis: EmbeddedRedis) -> Iterator[dict[str, Any]]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    settings = {"redis_url": embedded_redis.url, "redis_key_prefix": "tracing-index-test"}
    store = EpiStore(embedded_redis.url, key_prefix="tracing-index-test")
    asyncio.run(record(store, population(1, 1500)))
    yield settings
    for handle in tracing_shards(settings, SHARDS):
        ray.kill(handle)
    ray.shutdown()


def shard_stats(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return ray.get([h.stats.remote() for h in tracing_shards(settings, SHARDS)])


def test_shards_rebuilt_from_redis_trace_as_the_record_does(cluster: dict[str, Any]) -> None:
    async def scenario() -> None:
        tracer = ShardedTracer(tracing_shards(cluster, SHARDS))
        store = EpiStore.of(Settings(**cluster))
        found = await same_traces(tracer, store, [f"p{i}" for i in range(0, 150, 7)])
        assert sum(len(f) for f in found) > 50  # the cases do meet people
        # Every check-in is on one venue shard and one person shard.
        stats = shard_stats(cluster)
        assert sum(s["venue_rows"] for s in stats) == 1500
        assert sum(s["person_rows"] for s in stats) == 1500
        assert all(s["venue_rows"] > 0 for s in stats)

    asyncio.run(scenario())


def test_new_check_ins_and_check_outs_are_traced_at_once(cluster: dict[str, Any]) -> None:
    async def scenario() -> None:
        tracer = ShardedTracer(tracing_shards(cluster, SHARDS))
        store = EpiStore.of(Settings(**cluster))
        newcomers = [
            Stay(f"new{i % 20}", x.venue, x.start, x.end) for i, x in enumerate(population(2, 200))
        ]
        await record(store, newcomers)
        # No wait: a trace sees every check-in acknowledged before it began.
        found = await same_traces(tracer, store, [f"new{i}" for i in range(20)])
        assert sum(len(f) for f in found) > 20

    asyncio.run(scenario())


def test_a_shard_killed_mid_trace_is_restarted_and_the_answer_is_unchanged(
    cluster: dict[str, Any],
) -> None:
    async def scenario() -> None:
        tracer = ShardedTracer(tracing_shards(cluster, SHARDS))
        store = EpiStore.of(Settings(**cluster))
        persons = [f"p{i}" for i in range(3, 150, 11)]
        before = await same_traces(tracer, store, persons)
        handles = tracing_shards(cluster, SHARDS)
        home = shard_of(persons[0], SHARDS)
        # Another shard dies while the case's own shard is asking it for its part...
        sibling = handles[(home + 1) % SHARDS]
        started_before = (await sibling.stats.remote())["started"]

        async def kill_soon() -> None:
            await asyncio.sleep(0.005)
            ray.kill(sibling, no_restart=False)

        request = TraceRequest(persons[0], WINDOW, S)
        during, _ = await asyncio.gather(tracer.trace(request), kill_soon())
        assert exposures(during) == before[0]
        assert (await sibling.stats.remote())["started"] > started_before
        # ... and the case's own shard dies as the trace is sent to it.
        ray.kill(handles[home], no_restart=False)
        assert exposures(await tracer.trace(request)) == before[0]
        # The restarted shard read the record again and answers as before.
        after = await same_traces(tracer, store, persons)
        assert after == before

    asyncio.run(scenario())


def test_check_ins_past_their_retention_leave_the_index(cluster: dict[str, Any]) -> None:
    async def scenario() -> None:
        tracer = ShardedTracer(tracing_shards(cluster, SHARDS))
        store = EpiStore.of(Settings(**cluster))
        rows_before = sum(s["venue_rows"] for s in shard_stats(cluster))
        pruner = Pruner(cluster["redis_url"], key_prefix=cluster["redis_key_prefix"])
        removed = await pruner.checkins(T0 + DAY)
        await pruner.close()
        assert removed > 0
        await same_traces(tracer, store, [f"p{i}" for i in range(0, 150, 13)])
        assert sum(s["venue_rows"] for s in shard_stats(cluster)) == rows_before - removed

    asyncio.run(scenario())


def test_on_a_redis_cluster_the_shards_trace_as_the_record_does(
    cluster: dict[str, Any], redis_cluster_url: str
) -> None:
    """The same index over a three-primary Redis Cluster: check-ins written slot by
    slot, spread over every primary, the shards rebuilt from all of them and kept
    current from the change stream."""
    settings = {"redis_url": redis_cluster_url, "redis_key_prefix": "tracing-index-cluster"}
    store = EpiStore.of(Settings(**settings))
    asyncio.run(record(store, population(3, 600)))
    assert all(n > 0 for n in keys_per_primary(redis_cluster_url, "tracing-index-cluster:ci:*"))

    async def scenario() -> None:
        tracer = ShardedTracer(tracing_shards(settings, 2))
        store = EpiStore.of(Settings(**settings))
        found = await same_traces(tracer, store, [f"p{i}" for i in range(0, 150, 9)])
        assert sum(len(f) for f in found) > 20
        newcomers = [
            Stay(f"new{i % 10}", x.venue, x.start, x.end) for i, x in enumerate(population(4, 100))
        ]
        await record(store, newcomers)
        found = await same_traces(tracer, store, [f"new{i}" for i in range(10)])
        assert sum(len(f) for f in found) > 10

    try:
        asyncio.run(scenario())
    finally:
        for handle in tracing_shards(settings, 2):
            ray.kill(handle)
