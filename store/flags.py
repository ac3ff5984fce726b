"""Dishonest-declaration flags in Redis, and the evidence indexes their rules read.

A flag is raised once per rule, declaration and person (its id says so): raised
again, it gains the evidence it did not have. Every write of a flag goes with its
outbox entry (so it reaches its units' feeds, work lists and the IOC) and with the
counters of flags by rule and status (domain.reports), in one transaction.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import WatchError

from dichte.domain.events import EventType, RecordEvent
from dichte.domain.flags import Flag, raised_day
from dichte.domain.reports import FLAG_PREFIX
from dichte.domain.settings import Settings
from dichte.store.connection import connect
from dichte.store.keys import Keys


def _counter(flag: Flag) -> tuple[str, str]:
    commune = "none" if flag.commune_code is None else str(flag.commune_code)
    return commune, f"{FLAG_PREFIX}{flag.rule.value}|{flag.status.value}"


class FlagStore:
    def __init__(
        self, redis_url: str, *, key_prefix: str = "dichte", retention_s: int = 365 * 86_400
    ) -> None:
        self._redis: Any = connect(redis_url)
        self.keys = Keys(key_prefix)
        self._retention_s = retention_s

    @classmethod
    def of(cls, s: Settings) -> FlagStore:
        if not s.redis_url:
            raise ValueError("FlagStore needs a resolved redis_url")
        return cls(
            s.redis_url, key_prefix=s.redis_key_prefix, retention_s=s.case_retention_days * 86_400
        )

    async def close(self) -> None:
        await self._redis.aclose()

    def _count(self, pipe: Any, flag: Flag, change: int) -> None:
        commune, field = _counter(flag)
        pipe.hincrby(self.keys.commune_day(commune, raised_day(flag)), field, change)

    def _write(self, pipe: Any, flag: Flag, event: EventType, units: tuple[str, ...]) -> None:
        pipe.set(self.keys.flag(flag.id), flag.model_dump_json(), ex=self._retention_s)
        pipe.xadd(self.keys.outbox(), RecordEvent(event, flag.id, units).fields())

    async def raise_flag(self, flag: Flag, units: tuple[str, ...]) -> tuple[Flag, bool]:
        """(the flag as stored, raised now): an existing flag gains the new evidence."""
        key = self.keys.flag(flag.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    pipe.multi()
                    if raw is None:
                        self._write(pipe, flag, EventType.FLAG_CREATED, units)
                        self._count(pipe, flag, +1)
                        await pipe.execute()
                        return flag, True
                    stored = Flag.model_validate_json(raw)
                    merged = stored.with_evidence(flag.evidence)
                    if merged is stored:
                        await pipe.reset()
                        return stored, False
                    self._write(pipe, merged, EventType.FLAG_UPDATED, units)
                    await pipe.execute()
                    return merged, False
                except WatchError:  # staff acted on it meanwhile: read it again
                    continue

    async def change(self, before: Flag, after: Flag, units: tuple[str, ...]) -> bool:
        """Store a staff decision unless the flag changed since `before` was read."""
        key = self.keys.flag(before.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if await pipe.get(key) != before.model_dump_json():
                    await pipe.reset()
                    return False
                pipe.multi()
                self._write(pipe, after, EventType.FLAG_UPDATED, units)
                self._count(pipe, before, -1)
                self._count(pipe, after, +1)
                await pipe.execute()
                return True
            except WatchError:
                return False

    async def get(self, flag_id: str) -> Flag | None:
        raw = await self._redis.get(self.keys.flag(flag_id))
        return None if raw is None else Flag.model_validate_json(raw)

    # --- the evidence the rules read -------------------------------------------------
    async def fevers(self, person_id: str, lo: int, hi: int) -> list[tuple[str, str, int]]:
        """(screening event id, checkpoint, at) of fevers measured in [lo, hi)."""
        found = await self._redis.zrangebyscore(
            self.keys.fevers_of_person(person_id), lo, f"({hi}", withscores=True
        )
        out = []
        for member, at in found:
            event_id, _, checkpoint = str(member).partition("|")
            out.append((event_id, checkpoint, int(at)))
        return out

    async def declarations_of_person(self, person_id: str, lo: int, hi: int) -> list[str]:
        """The JSON of the person's declarations made in [lo, hi)."""
        ids = await self._redis.zrangebyscore(
            self.keys.declarations_of_document(person_id), lo, f"({hi}"
        )
        if not ids:
            return []
        raws = await self._redis.mget([self.keys.declaration(str(i)) for i in ids])
        return [str(r) for r in raws if r]

    async def declaration(self, declaration_id: str) -> str | None:
        raw = await self._redis.get(self.keys.declaration(declaration_id))
        return None if raw is None else str(raw)
