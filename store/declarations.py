"""DeclarationStore: durable, idempotent declaration writes to Redis, plain asyncio.

Writes are group-committed (store.batching): calls that arrive while a batch is in
flight are sent together in one pipeline, so many concurrent submits cost a few
round trips.
Each write is one Lua script, atomic on the server: it either finds the
idempotency key and returns the first record's id, or writes the record, its
indexes, the person's profile, a checkpoint passage (when declared at one), the daily
counter and the IOC outbox entry together. A call returns
only after Redis has executed the script (and, with appendfsync always, synced it;
with strict durability behind Sentinels, after a replica has it too).
The record, the profile and the phone index expire with the declaration retention
(refreshed by each new declaration of the person).
"""

from __future__ import annotations

import asyncio
from typing import Any

from dichte.domain.errors import DomainError
from dichte.domain.records import Stored, Write
from dichte.domain.settings import Settings
from dichte.store.batching import GroupCommit
from dichte.store.connection import (
    ScriptsInPipelines,
    connect,
    replicas_to_wait,
    replicated,
)
from dichte.store.keys import Keys

_SUBMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[10])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[6], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
redis.call('XADD', KEYS[5], '*', 'type', 'declaration.created', 'subject', ARGV[1],
  'units', ARGV[11])
redis.call('HSET', KEYS[6], unpack(ARGV, 12))
redis.call('EXPIRE', KEYS[6], ARGV[10])
redis.call('SET', KEYS[7], ARGV[7], 'EX', ARGV[10])
if ARGV[8] ~= '' then
  redis.call('ZADD', KEYS[8], ARGV[4], ARGV[8] .. '|' .. ARGV[9] .. '|' .. ARGV[4])
  redis.call('ZADD', KEYS[9], ARGV[4], ARGV[7] .. '|' .. ARGV[9] .. '|' .. ARGV[4])
end
return false
"""


class DeclarationStore:
    def __init__(
        self,
        redis_url: str,
        *,
        key_prefix: str = "dichte",
        idempotency_window_s: int = 86_400,
        retention_s: int = 28 * 86_400,
        max_batch: int = 512,
        replicas: int = 0,
    ) -> None:
        self._redis = connect(redis_url)
        self._replicas = replicas  # acknowledged once this many replicas have it
        self._keys = Keys(key_prefix)
        self._window = idempotency_window_s
        self._retention_s = retention_s
        self._scripts = ScriptsInPipelines(self._redis)
        self._script = self._scripts.register(_SUBMIT)
        self._writes: GroupCommit[Write, Stored] = GroupCommit(self._write_batch, max_batch)

    @classmethod
    def of(cls, s: Settings) -> DeclarationStore:
        """The store as the settings configure it (a resolved redis_url needed)."""
        if not s.redis_url:
            raise ValueError("DeclarationStore needs a resolved redis_url")
        return cls(
            s.redis_url,
            key_prefix=s.redis_key_prefix,
            idempotency_window_s=s.idempotency_window_hours * 3600,
            retention_s=s.declaration_retention_days * 86_400,
            replicas=replicas_to_wait(s.redis_url, s.strict_durability),
        )

    async def submit(self, write: Write) -> Stored:
        return await self._writes.submit(write)

    async def submit_many(self, writes: list[Write]) -> list[Stored | BaseException]:
        return await asyncio.gather(*(self.submit(w) for w in writes), return_exceptions=True)

    async def get(self, declaration_id: str) -> str | None:
        value = await self._redis.get(self._keys.declaration(declaration_id))
        return None if value is None else str(value)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._writes.close()
        await self._redis.aclose()

    async def _write_batch(self, batch: list[Write]) -> list[Stored | BaseException]:
        try:

            async def fill(pipe: Any) -> None:
                for w in batch:
                    await self._write_one(pipe, w)

            # Run again after a node lacked the script, the batch stores nothing twice:
            # a write the first run stored is answered as a replay (created: false).
            results = await self._scripts.execute(fill)
            if self._replicas:
                await replicated(self._redis, self._keys.replication_probe(), self._replicas)
            replays = {i: r.split(":", 1) for i, r in enumerate(results) if r}
            earlier: dict[str, str | None] = {}
            if replays:
                ids = [v[0] for v in replays.values()]
                values = await self._redis.mget([self._keys.declaration(i) for i in ids])
                earlier = {
                    i: None if v is None else str(v) for i, v in zip(ids, values, strict=True)
                }
        except Exception as exc:  # Redis down or refused: every caller in the batch hears it
            return [store_unavailable(exc)] * len(batch)
        return [self._answer(w, replays.get(i), earlier) for i, w in enumerate(batch)]

    async def _write_one(self, pipe: Any, w: Write) -> None:
        k = self._keys
        await self._script(
            keys=[
                k.idempotency(w.idempotency_key),
                k.declaration(w.declaration_id),
                k.declarations_of_document(w.document_hash),
                k.declarations_by_day(),
                k.outbox(),
                k.person(w.document_hash),
                k.person_by_phone(w.phone),
                k.passages_of_person(w.document_hash),
                k.passages_at_checkpoint(w.checkpoint or "-"),
            ],
            args=[
                w.declaration_id,
                w.record_json,
                self._window,
                w.created_at,
                w.day,
                w.content_hash,
                w.document_hash,
                w.checkpoint,
                w.plate,
                self._retention_s,
                " ".join(w.units),
                *w.person_fields,
            ],
            client=pipe,
        )

    @staticmethod
    def _answer(
        w: Write, replay: list[str] | None, earlier: dict[str, str | None]
    ) -> Stored | BaseException:
        if replay is None:
            return Stored(w.record_json, created=True)
        first_id, first_hash = replay
        if first_hash != w.content_hash:
            return DomainError.of("Idempotency-Key", "idempotency_key_reused")
        first = earlier.get(first_id)
        if first is None:
            return store_unavailable(RuntimeError("record missing"))
        return Stored(first, created=False)


def store_unavailable(exc: BaseException) -> DomainError:
    return DomainError.of("store", "store_unavailable", detail=type(exc).__name__)
