"""The declaration store on real Redis: durable, idempotent, batched writes."""

from __future__ import annotations

import asyncio
import json

import pytest

from dichte.domain.declaration import DeclarationCreate
from dichte.domain.errors import DomainError
from dichte.domain.records import DeclarationRecord, Write
from dichte.store.connection import connect_sync
from dichte.store.declarations import DeclarationStore
from dichte.store.keys import Keys
from tests.factories import declaration, distinct_declaration

# The store's scripts and transactions also run on a three-primary Redis Cluster.
ON_REDIS_CLUSTER = True


def new_write(body: dict | None = None, key: str | None = None) -> Write:  # type: ignore[type-arg]
    record = DeclarationRecord.new(DeclarationCreate(**(body or distinct_declaration())))
    return record.to_write(record.idempotency_key(key))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_written_record_reads_back(redis_url: str, key_prefix: str) -> None:
    async def scenario() -> tuple[bool, str | None, Write]:
        store = DeclarationStore(redis_url, key_prefix=key_prefix)
        w = new_write()
        stored = await store.submit(w)
        back = await store.get(w.declaration_id)
        await store.close()
        return stored.created, back, w

    created, back, w = run(scenario())
    assert created
    assert back is not None
    assert (
        json.loads(back)["declaration"]["document_number"]
        == json.loads(w.record_json)["declaration"]["document_number"]
    )


def test_same_body_twice_returns_the_first_record(redis_url: str, key_prefix: str) -> None:
    body = declaration()

    async def scenario() -> tuple[list[bool], set[str]]:
        store = DeclarationStore(redis_url, key_prefix=key_prefix)
        # Concurrent retries land in the same batch: still one record.
        results = await asyncio.gather(*(store.submit(new_write(body)) for _ in range(5)))
        await store.close()
        return [r.created for r in results], {json.loads(r.record_json)["id"] for r in results}

    created, ids = run(scenario())
    assert created.count(True) == 1
    assert len(ids) == 1
    client = connect_sync(redis_url)
    assert len(list(client.scan_iter(Keys(key_prefix).declaration("?" * 32)))) == 1


def test_idempotency_key_reused_for_other_content_is_a_conflict(
    redis_url: str, key_prefix: str
) -> None:
    async def scenario() -> DomainError:
        store = DeclarationStore(redis_url, key_prefix=key_prefix)
        await store.submit(new_write(key="phone-retry-1"))
        with pytest.raises(DomainError) as exc:
            await store.submit(new_write(key="phone-retry-1"))
        await store.close()
        return exc.value

    err = run(scenario())
    assert err.status == 409
    assert err.errors[0].code == "idempotency_key_reused"


def test_many_concurrent_writes_all_land_once(redis_url: str, key_prefix: str) -> None:
    n = 400

    async def scenario() -> list[str]:
        store = DeclarationStore(redis_url, key_prefix=key_prefix, max_batch=64)
        results = await asyncio.gather(*(store.submit(new_write()) for _ in range(n)))
        await store.close()
        return [json.loads(r.record_json)["id"] for r in results]

    ids = run(scenario())
    assert len(set(ids)) == n
    client = connect_sync(redis_url, decode=True)
    assert all(client.exists(Keys(key_prefix).declaration(i)) for i in ids)
    assert client.xlen(Keys(key_prefix).outbox()) == n
    assert sum(int(v) for v in client.hgetall(Keys(key_prefix).declarations_by_day()).values()) == n


def test_unreachable_redis_is_a_503_not_a_hang() -> None:
    async def scenario() -> DomainError:
        store = DeclarationStore("redis://127.0.0.1:1/0")
        with pytest.raises(DomainError) as exc:
            await store.submit(new_write())
        await store.close()
        return exc.value

    err = run(scenario())
    assert err.status == 503
    assert err.errors[0].code == "store_unavailable"
