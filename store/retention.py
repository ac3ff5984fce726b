"""Deleting what is past its retention (periods in `domain.retention`). Everything is
walked with SCAN or read by time index, in bounded batches, so it runs while the system
serves. Declaration records, profiles and face templates expire by themselves (TTL);
their indexes, the outbox, the units' feeds and work lists, check-ins, passages, cases
and orders are pruned here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from dichte.domain.cases import Case, QuarantineOrder
from dichte.domain.retention import Cutoffs
from dichte.store.connection import connect
from dichte.store.keys import Keys

BATCH = 1000
PAUSE_S = 0.005  # between SCAN pages: ~5 s of pause per million keys, hourly


class Pruner:
    def __init__(self, redis_url: str, *, key_prefix: str = "dichte") -> None:
        self._redis = connect(redis_url)
        self.keys = Keys(key_prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    async def prune(self, cut: Cutoffs) -> dict[str, int]:
        """Everything past its cutoff; how many of each kind went."""
        return {
            "checkins": await self.checkins(cut.checkins),
            "passages": await self.passages(cut.checkins),
            "screening_events": await self.screening_events(cut.checkins),
            "declaration_index_entries": await self.declaration_index(cut.declarations),
            "outbox_entries": await self.outbox(cut.declarations),
            "feed_entries": await self.feeds(cut.declarations),
            "work_list_entries": await self.work_lists(cut),
            "cases": await self.cases(cut.cases),
            "quarantine_orders": await self.quarantine_orders(cut.quarantine_orders),
        }

    async def _keys_like(self, pattern: str) -> AsyncIterator[str]:
        """Keys matching `pattern`, a SCAN page at a time with a pause between pages: a
        round walks the whole key space, and must not take Redis or a core from the
        requests being served meanwhile."""
        # scan_iter walks every primary of a Redis Cluster, one after another.
        seen = 0
        async for key in self._redis.scan_iter(match=pattern, count=BATCH):
            yield str(key)
            seen += 1
            if seen % BATCH == 0:
                await asyncio.sleep(PAUSE_S)

    async def _trim_sorted_sets(self, patterns: tuple[str, ...], before: int) -> int:
        removed = 0
        for pattern in patterns:
            async for key in self._keys_like(pattern):
                removed += int(await self._redis.zremrangebyscore(key, "-inf", f"({before}"))
        return removed

    async def checkins(self, before: int) -> int:
        """Check-ins from before `before`; returns how many stays."""
        k = self.keys
        # A venue's past days empty out (and Redis drops an empty set).
        removed = await self._trim_sorted_sets(
            (k.stays_at_venue_pattern(), k.stays_of_person_pattern()), before
        )
        # The tracing index drops them too (store.tracing_index follows this stream).
        await self._redis.xadd(k.tracing_changes(), {"op": "cut", "t": before})
        return removed // 2  # each stay is in a venue set and a person set

    async def passages(self, before: int) -> int:
        k = self.keys
        removed = await self._trim_sorted_sets(
            (k.passages_of_person("*"), k.passages_at_checkpoint("*")), before
        )
        return removed // 2  # each passage is in a person set and a checkpoint set

    async def screening_events(self, before: int) -> int:
        """Checkpoint screening events: kept as long as the passages they recorded."""
        removed = 0
        async for key in self._keys_like(self.keys.screening_events("*")):
            removed += int(await self._redis.xtrim(key, minid=before * 1000, approximate=False))
        return removed

    async def declaration_index(self, before: int) -> int:
        """Per-document lists of declarations: the records themselves expire by TTL."""
        return await self._trim_sorted_sets((self.keys.declarations_of_document("*"),), before)

    async def outbox(self, before: int) -> int:
        # Stream ids begin with their time in milliseconds.
        return int(
            await self._redis.xtrim(self.keys.outbox(), minid=before * 1000, approximate=False)
        )

    async def feeds(self, before: int) -> int:
        """Units' feeds and the targets' dead letters: as long as the outbox."""
        k = self.keys
        removed = 0
        for pattern in (k.feeds_pattern(), k.dead_letters("*")):
            async for key in self._keys_like(pattern):
                removed += int(await self._redis.xtrim(key, minid=before * 1000, approximate=False))
        return removed

    async def work_lists(self, cut: Cutoffs) -> int:
        """Units' work lists, each kind as long as its records (venues are not personal
        records: their lists stay)."""
        k = self.keys
        return await self._trim_sorted_sets(
            (k.work_lists_pattern("declaration"),), cut.declarations
        ) + await self._trim_sorted_sets(
            (
                k.work_lists_pattern("case"),
                k.work_lists_pattern("contact"),
                k.work_lists_pattern("quarantine_order"),
                k.work_lists_pattern("flag"),
            ),
            cut.cases,
        )

    async def _due(self, index: str, before: int) -> AsyncIterator[list[str]]:
        """Batches of the ids a time index holds from before `before`; the caller
        removes each batch from the index before the next is read."""
        while True:
            ids = await self._redis.zrangebyscore(index, "-inf", f"({before}", start=0, num=BATCH)
            if not ids:
                return
            yield [str(i) for i in ids]

    async def cases(self, before: int) -> int:
        """Cases opened before `before`, with their contact records."""
        k = self.keys
        removed = 0
        async for ids in self._due(k.cases_by_time(), before):
            raws = await self._redis.mget([k.case(i) for i in ids])
            contact_sets = await self._smembers_many([k.contacts_of_case(i) for i in ids])
            pipe = self._redis.pipeline(transaction=True)
            for case_id, raw, contacts in zip(ids, raws, contact_sets, strict=True):
                if raw is not None:
                    person = Case.model_validate_json(raw).person_id
                    # only if it still names this case
                    pipe.eval(_DEL_IF, 1, k.case_of_person(person), case_id)
                pipe.delete(k.case(case_id), k.contacts_of_case(case_id))
                for contact_id in contacts:
                    pipe.delete(k.contact(contact_id))
                pipe.zrem(k.cases_by_time(), case_id)
            await pipe.execute()
            removed += len(ids)
        return removed

    async def _smembers_many(self, keys: list[str]) -> list[set[str]]:
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        return [{str(m) for m in members} for members in await pipe.execute()]

    async def quarantine_orders(self, before: int) -> int:
        """Orders that ended before `before`."""
        k = self.keys
        removed = 0
        async for ids in self._due(k.quarantines_by_end(), before):
            raws = await self._redis.mget([k.quarantine(i) for i in ids])
            pipe = self._redis.pipeline(transaction=True)
            for order_id, raw in zip(ids, raws, strict=True):
                if raw is not None:
                    person = QuarantineOrder.model_validate_json(raw).person_id
                    pipe.zrem(k.quarantines_of_person(person), order_id)
                pipe.delete(k.quarantine(order_id))
                pipe.zrem(k.quarantines_by_end(), order_id)
            await pipe.execute()
            removed += len(ids)
        return removed


_DEL_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
