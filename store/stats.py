"""Reading the counters the reports are made of (domain.reports defines them; the
scripts that write records keep them, in the same call). Each read is one pipeline
whatever the number of communes, days or checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dichte.domain.settings import Settings
from dichte.store.connection import ScriptsInPipelines, connect
from dichte.store.keys import Keys

Counters = dict[str, int]
_READ_HASHES = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
"""
_GROUP = 1000  # hashes per script call


@dataclass(frozen=True)
class VenueCounts:
    registered: int  # active venues of the commune
    scanned_ever: int  # … with a check-in on record
    active: int  # … with a check-in since `active_since`
    inspected: int  # … whose latest inspection lies in the period
    compliant: int  # … and found the poster displayed


def _ints(raw: dict[Any, Any]) -> Counters:
    return {str(k): int(v) for k, v in raw.items()}


class StatsStore:
    def __init__(self, redis_url: str, *, key_prefix: str = "dichte") -> None:
        self._redis: Any = connect(redis_url)
        self.keys = Keys(key_prefix)
        self._scripts = ScriptsInPipelines(self._redis)
        self._read_hashes = self._scripts.register(_READ_HASHES)

    @classmethod
    def of(cls, s: Settings) -> StatsStore:
        if not s.redis_url:
            raise ValueError("StatsStore needs a resolved redis_url")
        return cls(s.redis_url, key_prefix=s.redis_key_prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    async def _hashes(self, keys: list[str]) -> list[Counters]:
        """Many small hashes, read by a script in groups: one reply per group rather
        than one per hash (the client's per-reply cost was most of a province report),
        and no group holds Redis for long."""

        async def fill(pipe: Any) -> None:
            for i in range(0, len(keys), _GROUP):
                await self._read_hashes(keys=keys[i : i + _GROUP], client=pipe)

        out: list[Counters] = []
        for group in await self._scripts.execute(fill):
            for flat in group:
                out.append({str(flat[j]): int(flat[j + 1]) for j in range(0, len(flat), 2)})
        return out

    async def commune_days(
        self, communes: Sequence[int], days: Sequence[str]
    ) -> dict[tuple[int, str], Counters]:
        pairs = [(c, d) for c in communes for d in days]
        found = await self._hashes([self.keys.commune_day(c, d) for c, d in pairs])
        return dict(zip(pairs, found, strict=True))

    async def quarantine_changes(self, communes: Sequence[int]) -> dict[int, Counters]:
        pipe = self._redis.pipeline(transaction=False)
        for c in communes:
            pipe.hgetall(self.keys.quarantine_changes(c))
        return {c: _ints(r) for c, r in zip(communes, await pipe.execute(), strict=True)}

    async def checkpoint_days(
        self, checkpoints: Sequence[str], days: Sequence[str]
    ) -> dict[tuple[str, str], Counters]:
        pairs = [(cp, d) for cp in checkpoints for d in days]
        found = await self._hashes([self.keys.checkpoint_day(cp, d) for cp, d in pairs])
        return dict(zip(pairs, found, strict=True))

    async def venue_counts(
        self, communes: Sequence[int], active_since: int, period: tuple[int, int]
    ) -> dict[int, VenueCounts]:
        """Per commune; `period` is [from, until) in unix seconds."""
        k = self.keys
        lo, hi = period
        pipe = self._redis.pipeline(transaction=False)
        for c in communes:
            pipe.scard(k.venues_of_commune(c))
            pipe.zcard(k.venues_scanned(c))
            pipe.zcount(k.venues_scanned(c), active_since, "+inf")
            pipe.zcount(k.venues_inspected(c), lo, f"({hi}")
            pipe.zcount(k.venues_compliant(c), lo, f"({hi}")
        raws = iter(await pipe.execute())
        return {c: VenueCounts(*(int(next(raws)) for _ in range(5))) for c in communes}
