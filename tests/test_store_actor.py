"""The DeclarationStore actor on a started Ray: a crash mid-stream loses no
acknowledged declaration and doubles none."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from dichte.actors.declaration_store import get_or_create_store_actor
from dichte.actors.retention import get_or_create_retention_keeper
from dichte.domain.declaration import DeclarationCreate
from dichte.domain.errors import DomainError
from dichte.domain.records import DeclarationRecord, Write
from dichte.domain.settings import Settings
from dichte.serving.embedded_redis import EmbeddedRedis
from dichte.store.connection import connect_sync
from dichte.store.epi import EpiStore
from dichte.store.keys import Keys
from tests.factories import distinct_declaration


@pytest.fixture(scope="module")
def ray_started() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def writes(n: int) -> list[Write]:
    records = [DeclarationRecord.new(DeclarationCreate(**distinct_declaration())) for _ in range(n)]
    return [r.to_write(r.idempotency_key(None)) for r in records]


@pytest.fixture
def store_actor(
    ray_started: None, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[Any]:
    settings = Settings(redis_url=redis_url, redis_key_prefix=key_prefix, data_dir=tmp_path)
    actor = get_or_create_store_actor(settings.for_workers())
    yield actor
    ray.kill(actor, no_restart=True)


def test_killing_the_actor_mid_stream_loses_and_doubles_nothing(
    store_actor: Any, redis_url: str, key_prefix: str
) -> None:
    actor = store_actor
    batch = writes(600)
    refs = [actor.submit.remote(w) for w in batch]
    acked_before_kill, _ = ray.wait(refs, num_returns=150, timeout=60)
    assert len(acked_before_kill) == 150
    ray.kill(actor, no_restart=False)  # a crash: Ray restarts it, calls are retried

    acknowledged = {}
    for w, ref in zip(batch, refs, strict=True):
        stored = ray.get(ref, timeout=120)
        acknowledged[w.document_hash] = json.loads(stored.record_json)["id"]
    assert len(acknowledged) == 600

    client = connect_sync(redis_url, decode=True)
    for doc, declaration_id in acknowledged.items():
        # every acknowledged declaration is there ...
        assert client.exists(Keys(key_prefix).declaration(declaration_id))
        # ... exactly once for its person
        assert client.zcard(Keys(key_prefix).declarations_of_document(doc)) == 1
    assert client.xlen(Keys(key_prefix).outbox()) == 600


def test_the_actor_answers_reads_after_a_restart(store_actor: Any) -> None:
    actor = store_actor
    (w,) = writes(1)
    ray.get(actor.submit.remote(w))
    ray.kill(actor, no_restart=False)
    assert (
        json.loads(ray.get(actor.get.remote(w.declaration_id), timeout=60))["id"]
        == w.declaration_id
    )


def test_retention_runs_inside_the_system_and_survives_a_crash(
    ray_started: None, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """The keeper every API replica starts deletes what is past its period on its own
    schedule (here from its start); killed, it is restarted and goes on."""
    now = int(time.time())

    async def check_in(person: str, at: int) -> None:
        store = EpiStore(redis_url, key_prefix=key_prefix)
        await store.check_in("cafe", person, at, "d")
        await store.close()

    asyncio.run(check_in("old", now - 30 * 86_400))
    asyncio.run(check_in("new", now - 86_400))
    settings = Settings(redis_url=redis_url, redis_key_prefix=key_prefix, data_dir=tmp_path)
    keeper = get_or_create_retention_keeper(settings.for_workers(), first_round_after_s=0)
    try:
        first = wait_for_round(keeper)
        assert first["removed"]["checkins"] == 1

        async def left_at_cafe() -> list[str]:
            store = EpiStore(redis_url, key_prefix=key_prefix)
            (stays,) = await store.stays_at_venues([("cafe", now - 50 * 86_400, now)])
            await store.close()
            return [x.person for x in stays]

        assert asyncio.run(left_at_cafe()) == ["new"]
        # A crash: restarted by Ray, it runs a round again on its own.
        asyncio.run(check_in("older", now - 40 * 86_400))
        ray.kill(keeper, no_restart=False)
        again = wait_for_round(keeper)
        assert again["removed"]["checkins"] == 1
    finally:
        ray.kill(keeper, no_restart=True)


def wait_for_round(keeper: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last: dict[str, Any] = ray.get(keeper.last_round.remote(), timeout=60)
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("no retention round ran")


def test_an_external_redis_killed_and_restarted_replays_and_the_actor_reconnects(
    ray_started: None, tmp_path: Path
) -> None:
    # An operator's Redis: its own process and append-only file, restarted by them
    # (systemd) after a crash; dichte's store actor is not restarted.
    external = EmbeddedRedis(tmp_path)
    url = external.start()
    settings = Settings(redis_url=url, redis_key_prefix="ext", data_dir=tmp_path)
    actor = get_or_create_store_actor(settings.for_workers())
    try:
        acknowledged = [ray.get(actor.submit.remote(w), timeout=30) for w in writes(100)]
        pid = external.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        refused = ray.get(actor.submit_many.remote(writes(5)), timeout=60)
        assert all(isinstance(r, DomainError) and r.status == 503 for r in refused), refused

        restarted = EmbeddedRedis(tmp_path)  # the same folder: the same append-only file
        assert restarted.start() == url
        try:
            # The same actor, without a restart, writes again on its next call.
            acknowledged += [ray.get(actor.submit.remote(w), timeout=30) for w in writes(100)]
            client = connect_sync(url, decode=True)
            ids = [json.loads(s.record_json)["id"] for s in acknowledged]
            kept = sum(client.exists(Keys("ext").declaration(i)) for i in ids)
            assert kept == len(ids) == 200
        finally:
            restarted.stop()
    finally:
        ray.kill(actor, no_restart=True)
